//! HTTP adapter of the children use cases (the `children-api` function).

use crate::inbound::http::parse_json;
use crate::inbound::problem::Problem;
use crate::inbound::routes::{Api, Ctx, Route, idempotency};
use crate::ports::RecordStore;
use crate::services::Reply;
use crate::services::children::ChildrenService;

/// Serves `POST /children` and `GET /children/{id}`.
pub struct ChildrenApi<R>(pub ChildrenService<R>);

impl<R: RecordStore> ChildrenApi<R> {
    /// Calls a children route (also used by the local host's combined API).
    pub async fn dispatch(&self, route: Route, ctx: &Ctx) -> Result<Reply, Problem> {
        match route {
            Route::CreateChild => {
                let input = parse_json(&ctx.req)?;
                let idem = idempotency(ctx, "POST /children")?;
                Ok(self.0.register(&ctx.principal, input, idem).await?)
            }
            Route::GetChild => Ok(self.0.get(&ctx.principal, ctx.id()?).await?),
            Route::UpdateChild => {
                let expected =
                    crate::services::children::parse_if_match(ctx.req.header("if-match"))?;
                let input = parse_json(&ctx.req)?;
                Ok(self
                    .0
                    .update(&ctx.principal, ctx.id()?, expected, input)
                    .await?)
            }
            Route::SearchChildren => Ok(self
                .0
                .find_by_personal_code(&ctx.principal, parse_json(&ctx.req)?)
                .await?),
            other => Err(Problem::not_found(format!("{other:?} is not served here"))),
        }
    }
}

impl<R: RecordStore> Api for ChildrenApi<R> {
    fn serves(&self, route: Route) -> bool {
        matches!(
            route,
            Route::CreateChild | Route::GetChild | Route::SearchChildren | Route::UpdateChild
        )
    }

    async fn call(&self, route: Route, ctx: &Ctx) -> Result<Reply, Problem> {
        self.dispatch(route, ctx).await
    }
}
