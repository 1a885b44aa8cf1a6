//! HTTP adapter of the children use cases (the `children-api` function).

use crate::domain::{ChildId, FieldError};
use crate::inbound::http::parse_json;
use crate::inbound::problem::Problem;
use crate::inbound::routes::{Api, Ctx, Route, idempotency};
use crate::ports::RecordStore;
use crate::services::Reply;
use crate::services::break_glass;
use crate::services::children::ChildrenService;

/// Serves `POST /children`, `GET /children/{id}`, `PUT /children/{id}`, `POST
/// /children/search`, `POST /children/{id}/break-the-glass` and the data protection
/// officer's `GET /audit`, `GET /audit/report` and `GET /audit/break-the-glass`.
pub struct ChildrenApi<R>(pub ChildrenService<R>);

impl<R: RecordStore> ChildrenApi<R> {
    /// Calls a children route (also used by the local host's combined API).
    pub async fn dispatch(&self, route: Route, ctx: &Ctx) -> Result<Reply, Problem> {
        match route {
            Route::CreateChild => {
                let input = parse_json(&ctx.req)?;
                let idem = idempotency(ctx, "POST /children")?;
                Ok(self
                    .0
                    .register(&ctx.principal, &ctx.req.request_id, input, idem)
                    .await?)
            }
            Route::GetChild => Ok(self
                .0
                .get(&ctx.principal, &ctx.req.request_id, ctx.id()?)
                .await?),
            Route::UpdateChild => {
                let expected = crate::inbound::http::parse_if_match(ctx.req.header("if-match"))?;
                let input = parse_json(&ctx.req)?;
                Ok(self
                    .0
                    .update(
                        &ctx.principal,
                        &ctx.req.request_id,
                        ctx.id()?,
                        expected,
                        input,
                    )
                    .await?)
            }
            Route::SearchChildren => Ok(self
                .0
                .find_by_personal_code(&ctx.principal, &ctx.req.request_id, parse_json(&ctx.req)?)
                .await?),
            Route::AuditEntries => {
                let limit = match ctx.req.query_param("limit") {
                    None => None,
                    Some(raw) => Some(raw.parse::<usize>().map_err(|_| {
                        Problem::validation(vec![FieldError::new(
                            "limit",
                            "must be a whole number",
                        )])
                    })?),
                };
                Ok(self
                    .0
                    .audit()
                    .dpo_entries(
                        &ctx.principal,
                        &ctx.req.request_id,
                        child_param(ctx)?,
                        limit,
                        ctx.req.query_param("cursor"),
                    )
                    .await?)
            }
            Route::AuditReport => Ok(self
                .0
                .audit()
                .dpo_report(&ctx.principal, &ctx.req.request_id, child_param(ctx)?)
                .await?),
            Route::BreakGlass => Ok(self
                .0
                .break_glass(
                    &ctx.principal,
                    &ctx.req.request_id,
                    ctx.id()?,
                    parse_json(&ctx.req)?,
                )
                .await?),
            Route::AuditBreakGlass => {
                let from = break_glass::parse_bound("from", ctx.req.query_param("from"))?;
                let to = break_glass::parse_bound("to", ctx.req.query_param("to"))?;
                let report =
                    break_glass::report(self.0.records(), &ctx.principal, from, to).await?;
                // The DPO's read of the report is recorded like their reads of a trail.
                self.0
                    .audit()
                    .record_dpo_view(
                        &ctx.principal,
                        &ctx.req.request_id,
                        format!("break-the-glass {}..{}", from.to_rfc3339(), to.to_rfc3339()),
                        "break_glass_report",
                    )
                    .await?;
                Ok(report)
            }
            Route::MergeChild => {
                let expected = crate::inbound::http::parse_if_match(ctx.req.header("if-match"))?;
                Ok(self
                    .0
                    .merge(
                        &ctx.principal,
                        &ctx.req.request_id,
                        ctx.id()?,
                        expected,
                        parse_json(&ctx.req)?,
                    )
                    .await?)
            }
            Route::ListDuplicates => Ok(self
                .0
                .list_duplicates(&ctx.principal, &ctx.req.request_id, &ctx.req.query)
                .await?),
            Route::ListMerges => Ok(self
                .0
                .list_merges(&ctx.principal, &ctx.req.request_id, &ctx.req.query)
                .await?),
            Route::UnmergeChild => Ok(self
                .0
                .unmerge(
                    &ctx.principal,
                    &ctx.req.request_id,
                    ctx.id()?,
                    parse_json(&ctx.req)?,
                )
                .await?),
            other => Err(Problem::not_found(format!("{other:?} is not served here"))),
        }
    }
}

impl<R: RecordStore> Api for ChildrenApi<R> {
    fn serves(&self, route: Route) -> bool {
        matches!(
            route,
            Route::CreateChild
                | Route::GetChild
                | Route::SearchChildren
                | Route::UpdateChild
                | Route::AuditEntries
                | Route::AuditReport
                | Route::BreakGlass
                | Route::AuditBreakGlass
                | Route::MergeChild
                | Route::UnmergeChild
                | Route::ListDuplicates
                | Route::ListMerges
        )
    }

    async fn call(&self, route: Route, ctx: &Ctx) -> Result<Reply, Problem> {
        self.dispatch(route, ctx).await
    }
}

/// The required `child` query parameter of the audit routes.
fn child_param(ctx: &Ctx) -> Result<ChildId, Problem> {
    let raw = ctx.req.query_param("child").ok_or_else(|| {
        Problem::validation(vec![FieldError::new("child", "is required (a child id)")])
    })?;
    raw.parse().map_err(|e: crate::domain::InvalidId| {
        Problem::validation(vec![FieldError::new("child", e.to_string())])
    })
}
