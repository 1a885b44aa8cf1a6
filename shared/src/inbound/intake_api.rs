//! HTTP adapter of the intake jobs (served by the `children-api` function and the local
//! host): `GET /intake/jobs`, `GET /intake/jobs/{id}`, `GET /intake/jobs/{id}/errors`.

use crate::inbound::problem::Problem;
use crate::inbound::routes::{Api, Ctx, Route};
use crate::intake::jobs::IntakeJobs;
use crate::ports::{BlobStore, RecordStore};
use crate::services::Reply;

/// Serves `/intake/jobs`; `B` is the partner bucket.
pub struct IntakeApi<R, B>(pub IntakeJobs<R, B>);

/// The routes this adapter serves.
pub const INTAKE_ROUTES: &[Route] = &[
    Route::ListIntakeJobs,
    Route::GetIntakeJob,
    Route::ListIntakeJobErrors,
];

impl<R: RecordStore, B: BlobStore> Api for IntakeApi<R, B> {
    fn serves(&self, route: Route) -> bool {
        INTAKE_ROUTES.contains(&route)
    }

    async fn call(&self, route: Route, ctx: &Ctx) -> Result<Reply, Problem> {
        let p = &ctx.principal;
        let id = ctx.params.first().map(String::as_str).unwrap_or("");
        Ok(match route {
            Route::ListIntakeJobs => self.0.list(p, &ctx.req.query).await?,
            Route::GetIntakeJob => self.0.get(p, id).await?,
            Route::ListIntakeJobErrors => self.0.errors(p, id, &ctx.req.query).await?,
            _ => return Err(Problem::not_found("not an intake route")),
        })
    }
}
