//! HTTP adapter of the registry use cases: organisations, specialists with certifications,
//! support episodes, legal representatives (served by the `children-api` function and the local host).

use crate::inbound::http::parse_if_match;
use crate::inbound::http::parse_json;
use crate::inbound::problem::Problem;
use crate::inbound::routes::{Api, Ctx, Route, idempotency};
use crate::ports::RecordStore;
use crate::services::Reply;
use crate::services::registry::RegistryService;

/// Serves `/organisations`, `/specialists` (with `/certifications`), `/support-episodes`,
/// `/representatives` and `/children/{id}/representatives`.
pub struct RegistryApi<R>(pub RegistryService<R>);

/// The routes this adapter serves.
pub const REGISTRY_ROUTES: &[Route] = &[
    Route::CreateOrganisation,
    Route::ListOrganisations,
    Route::GetOrganisation,
    Route::UpdateOrganisation,
    Route::CreateSpecialist,
    Route::ListSpecialists,
    Route::GetSpecialist,
    Route::UpdateSpecialist,
    Route::AddCertification,
    Route::ListCertifications,
    Route::CreateEpisode,
    Route::ListEpisodes,
    Route::GetEpisode,
    Route::UpdateEpisode,
    Route::CreateRepresentative,
    Route::GetRepresentative,
    Route::UpdateRepresentative,
    Route::ChildRepresentatives,
];

impl<R: RecordStore> RegistryApi<R> {
    /// Calls a registry route (also used by the local host's combined API).
    pub async fn dispatch(&self, route: Route, ctx: &Ctx) -> Result<Reply, Problem> {
        let s = &self.0;
        let p = &ctx.principal;
        let rid = &ctx.req.request_id;
        let raw_id = || ctx.params.first().map(String::as_str).unwrap_or("");
        let if_match = || parse_if_match(ctx.req.header("if-match"));
        Ok(match route {
            Route::CreateOrganisation => s.create_organisation(p, parse_json(&ctx.req)?).await?,
            Route::ListOrganisations => s.list_organisations(p, &ctx.req.query).await?,
            Route::GetOrganisation => s.get_organisation(p, raw_id()).await?,
            Route::UpdateOrganisation => {
                let expected = if_match()?;
                s.update_organisation(p, raw_id(), expected, parse_json(&ctx.req)?)
                    .await?
            }
            Route::CreateSpecialist => s.create_specialist(p, parse_json(&ctx.req)?).await?,
            Route::ListSpecialists => s.list_specialists(p, &ctx.req.query).await?,
            Route::GetSpecialist => s.get_specialist(p, ctx.id()?).await?,
            Route::UpdateSpecialist => {
                let expected = if_match()?;
                s.update_specialist(p, ctx.id()?, expected, parse_json(&ctx.req)?)
                    .await?
            }
            Route::AddCertification => {
                s.add_certification(p, ctx.id()?, parse_json(&ctx.req)?)
                    .await?
            }
            Route::ListCertifications => s.list_certifications(p, ctx.id()?).await?,
            Route::CreateEpisode => {
                let input = parse_json(&ctx.req)?;
                let idem = idempotency(ctx, "POST /support-episodes")?;
                s.create_episode(p, rid, input, idem).await?
            }
            Route::ListEpisodes => s.list_episodes(p, rid, &ctx.req.query).await?,
            Route::GetEpisode => s.get_episode(p, rid, ctx.id()?).await?,
            Route::UpdateEpisode => {
                let expected = if_match()?;
                s.update_episode(p, rid, ctx.id()?, expected, parse_json(&ctx.req)?)
                    .await?
            }
            Route::CreateRepresentative => {
                let input = parse_json(&ctx.req)?;
                let idem = idempotency(ctx, "POST /representatives")?;
                s.create_representative(p, rid, input, idem).await?
            }
            Route::GetRepresentative => s.get_representative(p, rid, ctx.id()?).await?,
            Route::UpdateRepresentative => {
                let expected = if_match()?;
                s.update_representative(p, rid, ctx.id()?, expected, parse_json(&ctx.req)?)
                    .await?
            }
            Route::ChildRepresentatives => {
                s.child_representatives(p, rid, ctx.id()?, &ctx.req.query)
                    .await?
            }
            other => return Err(Problem::not_found(format!("{other:?} is not served here"))),
        })
    }
}

impl<R: RecordStore> Api for RegistryApi<R> {
    fn serves(&self, route: Route) -> bool {
        REGISTRY_ROUTES.contains(&route)
    }

    async fn call(&self, route: Route, ctx: &Ctx) -> Result<Reply, Problem> {
        self.dispatch(route, ctx).await
    }
}

/// Two adapters behind one [`Api`]: the first serves its routes, the second the rest
/// (the `children-api` function serves children and the registry this way).
pub struct Both<A, B>(pub A, pub B);

impl<A: Api, B: Api> Api for Both<A, B> {
    fn serves(&self, route: Route) -> bool {
        self.0.serves(route) || self.1.serves(route)
    }

    async fn call(&self, route: Route, ctx: &Ctx) -> Result<Reply, Problem> {
        // Boxed: the two adapters' futures together are large (see `AllRoutes`).
        if self.0.serves(route) {
            Box::pin(self.0.call(route, ctx)).await
        } else {
            Box::pin(self.1.call(route, ctx)).await
        }
    }
}
