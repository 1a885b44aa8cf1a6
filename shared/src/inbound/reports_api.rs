//! HTTP adapter of the reports (served by the `children-api` function and the local host):
//! `POST /reports`, `GET /reports`, `GET /reports/{id}`, `GET /reports/{id}/files/{name}`.

use crate::domain::ReportId;
use crate::inbound::http::parse_json;
use crate::inbound::problem::Problem;
use crate::inbound::routes::{Api, Ctx, Route, idempotency};
use crate::ports::{BlobStore, Queue, RecordStore};
use crate::services::Reply;
use crate::services::reports::Reports;

/// Serves `/reports`.
pub struct ReportsApi<R, Q, B>(pub Reports<R, Q, B>);

/// The routes this adapter serves.
pub const REPORTS_ROUTES: &[Route] = &[
    Route::RequestReport,
    Route::ListReports,
    Route::GetReport,
    Route::GetReportFile,
];

impl<R: RecordStore, Q: Queue, B: BlobStore> Api for ReportsApi<R, Q, B> {
    fn serves(&self, route: Route) -> bool {
        REPORTS_ROUTES.contains(&route)
    }

    async fn call(&self, route: Route, ctx: &Ctx) -> Result<Reply, Problem> {
        let p = &ctx.principal;
        Ok(match route {
            Route::RequestReport => {
                let idem = idempotency(ctx, "POST /reports")?;
                let body: serde_json::Value = parse_json(&ctx.req)?;
                self.0.request(p, idem, &body).await?
            }
            Route::ListReports => self.0.list(p, &ctx.req.query).await?,
            Route::GetReport => self.0.get(p, ctx.id::<ReportId>()?).await?,
            Route::GetReportFile => {
                let id = ctx.id::<ReportId>()?;
                let name = ctx.params.get(1).map(String::as_str).unwrap_or("");
                let (bytes, media_type) = self.0.file(p, id, name).await?;
                let mut reply = Reply::ok(serde_json::Value::Null);
                reply.file = Some((bytes, media_type));
                reply
            }
            _ => return Err(Problem::not_found("not a reports route")),
        })
    }
}
