//! Every route in one API: what the local host serves on its single port (each Lambda
//! serves its own subset through the same adapters).

use crate::inbound::children_api::ChildrenApi;
use crate::inbound::exports_api::ExportsApi;
use crate::inbound::intake_api::IntakeApi;
use crate::inbound::pathway_api::PathwayApi;
use crate::inbound::problem::Problem;
use crate::inbound::registry_api::RegistryApi;
use crate::inbound::reports_api::ReportsApi;
use crate::inbound::routes::{Api, Ctx, Route};
use crate::inbound::screenings_api::ScreeningsApi;
use crate::ports::{BlobStore, Queue, RecordStore};
use crate::services::Reply;

/// The children, screenings and registry adapters behind one [`Api`]; `B` is the blob store
/// of the reports bucket and of the partner bucket.
pub struct AllRoutes<R, Q, B> {
    /// Children, search and the audit views.
    pub children: ChildrenApi<R>,
    /// Screenings, risk profiles and the catalogue.
    pub screenings: ScreeningsApi<R, Q>,
    /// Organisations, specialists and support episodes.
    pub registry: RegistryApi<R>,
    /// Referrals and worklists.
    pub pathway: PathwayApi<R>,
    /// The exports' operator views.
    pub exports: ExportsApi<R>,
    /// Reports (their queue is the report queue, of the same kind as the scoring queue).
    pub reports: ReportsApi<R, Q, B>,
    /// Partner-file import results (the partner bucket's row reports).
    pub intake: IntakeApi<R, B>,
}

impl<R: RecordStore + Clone, Q: Queue, B: BlobStore> Api for AllRoutes<R, Q, B> {
    fn serves(&self, route: Route) -> bool {
        self.children.serves(route)
            || self.screenings.serves(route)
            || self.registry.serves(route)
            || self.pathway.serves(route)
            || self.exports.serves(route)
            || self.reports.serves(route)
            || self.intake.serves(route)
    }

    async fn call(&self, route: Route, ctx: &Ctx) -> Result<Reply, Problem> {
        // Each adapter's future is boxed: together they are larger than a test thread's
        // (or a runtime worker's) stack in a debug build.
        if self.children.serves(route) {
            Box::pin(self.children.dispatch(route, ctx)).await
        } else if self.registry.serves(route) {
            Box::pin(self.registry.dispatch(route, ctx)).await
        } else if self.pathway.serves(route) {
            Box::pin(self.pathway.call(route, ctx)).await
        } else if self.exports.serves(route) {
            Box::pin(self.exports.call(route, ctx)).await
        } else if self.reports.serves(route) {
            Box::pin(self.reports.call(route, ctx)).await
        } else if self.intake.serves(route) {
            Box::pin(self.intake.call(route, ctx)).await
        } else {
            Box::pin(self.screenings.dispatch(route, ctx)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::inbound::routes::ROUTES;

    /// Every route is served by exactly one of the adapters (so by one Lambda).
    #[test]
    fn each_route_belongs_to_exactly_one_adapter() {
        let children = [
            "CreateChild",
            "GetChild",
            "SearchChildren",
            "UpdateChild",
            "AuditEntries",
            "AuditReport",
            "BreakGlass",
            "AuditBreakGlass",
            "MergeChild",
            "UnmergeChild",
            "ListDuplicates",
            "ListMerges",
        ];
        for spec in ROUTES {
            let name = format!("{:?}", spec.route);
            let by_children = children.contains(&name.as_str());
            let screenings = [
                "CreateScreening",
                "GetScreening",
                "ChildRiskProfile",
                "RescoreScreening",
                "ListProgrammes",
                "GetProgramme",
                "ListInstruments",
                "GetWording",
                "ListCatalogueEntries",
                "CreateCatalogueEntry",
                "GetCatalogueEntry",
                "UpdateCatalogueEntry",
                "RetireCatalogueEntry",
            ];
            let by_registry = crate::inbound::registry_api::REGISTRY_ROUTES.contains(&spec.route)
                || crate::inbound::pathway_api::PATHWAY_ROUTES.contains(&spec.route)
                || crate::inbound::exports_api::EXPORTS_ROUTES.contains(&spec.route)
                || crate::inbound::reports_api::REPORTS_ROUTES.contains(&spec.route)
                || crate::inbound::intake_api::INTAKE_ROUTES.contains(&spec.route);
            let by_screenings = screenings.contains(&name.as_str());
            assert_eq!(
                [by_children, by_screenings, by_registry]
                    .iter()
                    .filter(|b| **b)
                    .count(),
                1,
                "{name}"
            );
        }
    }
}
