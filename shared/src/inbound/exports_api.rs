//! HTTP adapter of the exports' operator views (served by the `children-api` function and
//! the local host): `GET /exports`, `GET /exports/{id}`, `POST /exports/{id}/retry`.

use crate::inbound::http::parse_if_match;
use crate::inbound::problem::Problem;
use crate::inbound::routes::{Api, Ctx, Route};
use crate::ports::RecordStore;
use crate::services::Reply;
use crate::services::exports::operator::ExportsAdmin;

/// Serves `/exports`.
pub struct ExportsApi<R>(pub ExportsAdmin<R>);

/// The routes this adapter serves.
pub const EXPORTS_ROUTES: &[Route] = &[Route::ListExports, Route::GetExport, Route::RetryExport];

impl<R: RecordStore + Clone> Api for ExportsApi<R> {
    fn serves(&self, route: Route) -> bool {
        EXPORTS_ROUTES.contains(&route)
    }

    async fn call(&self, route: Route, ctx: &Ctx) -> Result<Reply, Problem> {
        let p = &ctx.principal;
        let rid = &ctx.req.request_id;
        Ok(match route {
            Route::ListExports => self.0.list(p, rid, &ctx.req.query).await?,
            Route::GetExport => self.0.get(p, rid, ctx.id()?).await?,
            Route::RetryExport => {
                let id = ctx.id()?;
                let expected = parse_if_match(ctx.req.header("if-match"))?;
                self.0.retry(p, rid, id, expected).await?
            }
            _ => return Err(Problem::not_found("not an exports route")),
        })
    }
}
