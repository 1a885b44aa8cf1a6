//! HTTP adapter of the care pathway: referrals and worklists (served by the `children-api`
//! function and the local host).

use crate::inbound::http::{parse_if_match, parse_json};
use crate::inbound::problem::Problem;
use crate::inbound::routes::{Api, Ctx, Route, idempotency};
use crate::ports::RecordStore;
use crate::services::Reply;
use crate::services::audit::AuditTrail;
use crate::services::referrals::ReferralService;
use crate::services::worklist::Worklist;

/// Serves `/referrals`, `/worklist` and the children list `GET /children`.
pub struct PathwayApi<R> {
    /// The referral use cases.
    pub referrals: ReferralService<R>,
    /// The worklists.
    pub worklist: Worklist<R>,
    /// The audit trail worklist reads are recorded in.
    pub audit: AuditTrail<R>,
}

/// The routes this adapter serves.
pub const PATHWAY_ROUTES: &[Route] = &[
    Route::CreateReferral,
    Route::ListReferrals,
    Route::GetReferral,
    Route::TransitionReferral,
    Route::SetFamilyAgreement,
    Route::Worklist,
    Route::ListChildren,
];

impl<R: RecordStore> Api for PathwayApi<R> {
    fn serves(&self, route: Route) -> bool {
        PATHWAY_ROUTES.contains(&route)
    }

    async fn call(&self, route: Route, ctx: &Ctx) -> Result<Reply, Problem> {
        let s = &self.referrals;
        let p = &ctx.principal;
        let rid = &ctx.req.request_id;
        let if_match = || parse_if_match(ctx.req.header("if-match"));
        Ok(match route {
            Route::CreateReferral => {
                let input = parse_json(&ctx.req)?;
                let idem = idempotency(ctx, "POST /referrals")?;
                s.create(p, rid, input, idem).await?
            }
            Route::ListReferrals => s.list(p, rid, &ctx.req.query).await?,
            Route::GetReferral => s.get(p, rid, ctx.id()?).await?,
            Route::TransitionReferral => {
                let id = ctx.id()?;
                let expected = if_match()?;
                s.transition(p, rid, id, expected, parse_json(&ctx.req)?)
                    .await?
            }
            Route::SetFamilyAgreement => {
                let id = ctx.id()?;
                let expected = if_match()?;
                s.set_agreement(p, rid, id, expected, parse_json(&ctx.req)?)
                    .await?
            }
            Route::Worklist => {
                self.worklist
                    .list(p, rid, &self.audit, &ctx.req.query)
                    .await?
            }
            Route::ListChildren => {
                self.worklist
                    .children(p, rid, &self.audit, &ctx.req.query)
                    .await?
            }
            _ => return Err(Problem::not_found("not a care-pathway route")),
        })
    }
}
