//! HTTP adapter of the screening use cases (the `screenings-api` function).

use crate::inbound::http::parse_json;
use crate::inbound::problem::Problem;
use crate::inbound::routes::{Api, Ctx, Route, idempotency};
use crate::ports::{Queue, RecordStore};
use crate::services::Reply;
use crate::services::screenings::ScreeningsService;

/// Serves `POST /screenings`, `GET /screenings/{id}` and `GET /children/{id}/risk-profile`.
pub struct ScreeningsApi<R, Q>(pub ScreeningsService<R, Q>);

impl<R: RecordStore, Q: Queue> ScreeningsApi<R, Q> {
    /// Calls a screenings route (also used by the local host's combined API).
    pub async fn dispatch(&self, route: Route, ctx: &Ctx) -> Result<Reply, Problem> {
        match route {
            Route::CreateScreening => {
                let input = parse_json(&ctx.req)?;
                let idem = idempotency(ctx, "POST /screenings")?;
                Ok(self
                    .0
                    .submit(&ctx.principal, &ctx.req.request_id, input, idem)
                    .await?)
            }
            Route::GetScreening => Ok(self
                .0
                .get(&ctx.principal, &ctx.req.request_id, ctx.id()?)
                .await?),
            Route::ChildRiskProfile => Ok(self
                .0
                .risk_profile(&ctx.principal, &ctx.req.request_id, ctx.id()?)
                .await?),
            other => Err(Problem::not_found(format!("{other:?} is not served here"))),
        }
    }
}

impl<R: RecordStore, Q: Queue> Api for ScreeningsApi<R, Q> {
    fn serves(&self, route: Route) -> bool {
        matches!(
            route,
            Route::CreateScreening | Route::GetScreening | Route::ChildRiskProfile
        )
    }

    async fn call(&self, route: Route, ctx: &Ctx) -> Result<Reply, Problem> {
        self.dispatch(route, ctx).await
    }
}
