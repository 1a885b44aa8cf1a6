//! HTTP adapter of the screening use cases and the catalogue (the `screenings-api` function).

use crate::inbound::http::parse_if_match;
use crate::inbound::http::parse_json;
use crate::inbound::problem::Problem;
use crate::inbound::routes::{Api, Ctx, Route, idempotency};
use crate::ports::{Queue, RecordStore};
use crate::services::Reply;
use crate::services::catalogue::{CatalogueService, ListQuery};
use crate::services::screenings::ScreeningsService;
use crate::services::wording::WordingService;

/// Serves the screening routes, the risk profile and the catalogue.
pub struct ScreeningsApi<R, Q> {
    screenings: ScreeningsService<R, Q>,
    catalogue: CatalogueService<R>,
    wording: WordingService,
}

impl<R: RecordStore, Q: Queue> ScreeningsApi<R, Q> {
    /// Builds the adapter.
    pub fn new(
        screenings: ScreeningsService<R, Q>,
        catalogue: CatalogueService<R>,
        wording: WordingService,
    ) -> Self {
        Self {
            screenings,
            catalogue,
            wording,
        }
    }

    /// Calls a screenings route (also used by the local host's combined API).
    pub async fn dispatch(&self, route: Route, ctx: &Ctx) -> Result<Reply, Problem> {
        match route {
            Route::CreateScreening => {
                let input = parse_json(&ctx.req)?;
                let idem = idempotency(ctx, "POST /screenings")?;
                Ok(self
                    .screenings
                    .submit(&ctx.principal, &ctx.req.request_id, input, idem)
                    .await?)
            }
            Route::GetScreening => Ok(self
                .screenings
                .get(&ctx.principal, &ctx.req.request_id, ctx.id()?)
                .await?),
            Route::ChildRiskProfile => Ok(self
                .screenings
                .risk_profile(&ctx.principal, &ctx.req.request_id, ctx.id()?)
                .await?),
            Route::RescoreScreening => Ok(self
                .screenings
                .rescore(&ctx.principal, &ctx.req.request_id, ctx.id()?)
                .await?),
            Route::ListProgrammes => Ok(self.catalogue.programmes().await?),
            Route::GetProgramme => Ok(self.catalogue.programme(path_id(ctx)).await?),
            Route::ListInstruments => Ok(self.catalogue.instruments()),
            Route::GetWording => {
                let lang = ctx.params.get(1).map(String::as_str).unwrap_or("");
                Ok(self.wording.get(&ctx.principal, path_id(ctx), lang).await?)
            }
            Route::ListCatalogueEntries => {
                let query = ListQuery::from_params(
                    ctx.req.query.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                )?;
                Ok(self.catalogue.list(&query).await?)
            }
            Route::GetCatalogueEntry => Ok(self.catalogue.get(path_id(ctx)).await?),
            Route::CreateCatalogueEntry => {
                let input = parse_json(&ctx.req)?;
                Ok(self.catalogue.create(&ctx.principal, input).await?)
            }
            Route::UpdateCatalogueEntry => {
                let expected = parse_if_match(ctx.req.header("if-match"))?;
                let input = parse_json(&ctx.req)?;
                Ok(self
                    .catalogue
                    .update(&ctx.principal, path_id(ctx), expected, input)
                    .await?)
            }
            Route::RetireCatalogueEntry => {
                let expected = parse_if_match(ctx.req.header("if-match"))?;
                Ok(self
                    .catalogue
                    .retire(&ctx.principal, path_id(ctx), expected)
                    .await?)
            }
            other => Err(Problem::not_found(format!("{other:?} is not served here"))),
        }
    }
}

impl<R: RecordStore, Q: Queue> Api for ScreeningsApi<R, Q> {
    fn serves(&self, route: Route) -> bool {
        matches!(
            route,
            Route::CreateScreening
                | Route::GetScreening
                | Route::ChildRiskProfile
                | Route::RescoreScreening
                | Route::ListProgrammes
                | Route::GetProgramme
                | Route::ListInstruments
                | Route::GetWording
                | Route::ListCatalogueEntries
                | Route::CreateCatalogueEntry
                | Route::GetCatalogueEntry
                | Route::UpdateCatalogueEntry
                | Route::RetireCatalogueEntry
        )
    }

    async fn call(&self, route: Route, ctx: &Ctx) -> Result<Reply, Problem> {
        self.dispatch(route, ctx).await
    }
}

/// The `{id}` path parameter.
fn path_id(ctx: &Ctx) -> &str {
    ctx.params.first().map(String::as_str).unwrap_or("")
}
