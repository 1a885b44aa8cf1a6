//! The route table of the whole API and the single HTTP entry point every host uses:
//! route → authenticate → call the use case → render the reply or a problem.
//!
//! Each Lambda serves a subset of the routes (its API Gateway integration); the local
//! host serves all of them with the same code.

use crate::domain::Principal;
use crate::inbound::auth::Authenticator;
use crate::inbound::http::{ApiRequest, ApiResponse, match_path};
use crate::inbound::problem::Problem;
use crate::ports::StoreError;
use crate::services::audit::{AuditAction, AuditEntity};
use crate::services::{Reply, ServiceError};
use http::{Method, StatusCode};
use std::future::Future;
use tracing::Instrument;

/// Every operation of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `POST /children`
    CreateChild,
    /// `GET /children/{id}`
    GetChild,
    /// `POST /children/search`
    SearchChildren,
    /// `PUT /children/{id}`
    UpdateChild,
    /// `POST /screenings`
    CreateScreening,
    /// `GET /screenings/{id}`
    GetScreening,
    /// `GET /children/{id}/risk-profile`
    ChildRiskProfile,
    /// `POST /screenings/{id}/rescore`
    RescoreScreening,
    /// `GET /catalogue/programmes`
    ListProgrammes,
    /// `GET /catalogue/programmes/{id}`
    GetProgramme,
    /// `GET /catalogue/instruments`
    ListInstruments,
    /// `GET /catalogue/instruments/{id}/wording/{lang}` (the licensed item wording pack)
    GetWording,
    /// `GET /catalogue/entries` (filters, cursor pagination)
    ListCatalogueEntries,
    /// `POST /catalogue/entries` (registry administrator)
    CreateCatalogueEntry,
    /// `GET /catalogue/entries/{id}`
    GetCatalogueEntry,
    /// `PUT /catalogue/entries/{id}` (registry administrator, `If-Match`)
    UpdateCatalogueEntry,
    /// `POST /catalogue/entries/{id}/retire` (registry administrator, `If-Match`)
    RetireCatalogueEntry,
    /// `GET /audit?child=…` (data protection officer)
    AuditEntries,
    /// `GET /audit/report?child=…` (data protection officer: who has seen the child's data)
    AuditReport,
    /// `POST /organisations`
    CreateOrganisation,
    /// `GET /organisations`
    ListOrganisations,
    /// `GET /organisations/{id}`
    GetOrganisation,
    /// `PUT /organisations/{id}`
    UpdateOrganisation,
    /// `POST /specialists`
    CreateSpecialist,
    /// `GET /specialists`
    ListSpecialists,
    /// `GET /specialists/{id}`
    GetSpecialist,
    /// `PUT /specialists/{id}`
    UpdateSpecialist,
    /// `POST /specialists/{id}/certifications`
    AddCertification,
    /// `GET /specialists/{id}/certifications`
    ListCertifications,
    /// `POST /support-episodes`
    CreateEpisode,
    /// `GET /support-episodes`
    ListEpisodes,
    /// `GET /support-episodes/{id}`
    GetEpisode,
    /// `PUT /support-episodes/{id}`
    UpdateEpisode,
    /// `POST /representatives`
    CreateRepresentative,
    /// `GET /representatives/{id}`
    GetRepresentative,
    /// `PUT /representatives/{id}`
    UpdateRepresentative,
    /// `GET /children/{id}/representatives`
    ChildRepresentatives,
    /// `POST /children/{id}/break-the-glass` (specialist without a care link, with a reason)
    BreakGlass,
    /// `GET /audit/break-the-glass?from=…&to=…` (data protection officer: every grant)
    AuditBreakGlass,
    /// `POST /children/{id}/merge` (registry administrator, `If-Match`, with a reason)
    MergeChild,
    /// `POST /children/{id}/unmerge` (registry administrator, with a reason)
    UnmergeChild,
    /// `GET /children/duplicates` (registry administrator: open possible-duplicate flags)
    ListDuplicates,
    /// `GET /children/merges` (registry administrator: the merges in effect, newest first)
    ListMerges,
    /// `GET /intake/jobs` (registry administrator: partner-file imports, newest first)
    ListIntakeJobs,
    /// `GET /intake/jobs/{id}` (registry administrator: one import's summary)
    GetIntakeJob,
    /// `GET /intake/jobs/{id}/errors` (registry administrator: its row report, paged)
    ListIntakeJobErrors,
    /// `POST /referrals`
    CreateReferral,
    /// `GET /referrals`
    ListReferrals,
    /// `GET /referrals/{id}`
    GetReferral,
    /// `POST /referrals/{id}/transitions` (`If-Match`)
    TransitionReferral,
    /// `PUT /referrals/{id}/family-agreement` (`If-Match`)
    SetFamilyAgreement,
    /// `GET /worklist`
    Worklist,
    /// `GET /children` (the children in an organisation's care, with filters)
    ListChildren,
    /// `GET /exports` (integration operator)
    ListExports,
    /// `GET /exports/{id}` (integration operator)
    GetExport,
    /// `POST /exports/{id}/retry` (integration operator, `If-Match`)
    RetryExport,
    /// `POST /reports` (ministry analyst, municipality social service)
    RequestReport,
    /// `GET /reports`
    ListReports,
    /// `GET /reports/{id}`
    GetReport,
    /// `GET /reports/{id}/files/{name}`
    GetReportFile,
}

impl Route {
    /// The kind of personal data the route reads or writes, i.e. what its use case records
    /// in the audit trail (exactly one entry per call); `None` for routes that touch no
    /// child's personal data. Exhaustive on purpose: a new route must be classified here,
    /// and the end-to-end audit test then checks it records what it says.
    pub fn audited(self) -> Option<(AuditEntity, AuditAction)> {
        match self {
            Route::CreateChild => Some((AuditEntity::Child, AuditAction::Create)),
            Route::GetChild => Some((AuditEntity::Child, AuditAction::Read)),
            Route::CreateScreening => Some((AuditEntity::Screening, AuditAction::Create)),
            Route::GetScreening => Some((AuditEntity::Screening, AuditAction::Read)),
            Route::ChildRiskProfile => Some((AuditEntity::RiskProfile, AuditAction::Read)),
            Route::SearchChildren => Some((AuditEntity::Child, AuditAction::Read)),
            Route::UpdateChild => Some((AuditEntity::Child, AuditAction::Update)),
            Route::RescoreScreening => Some((AuditEntity::Screening, AuditAction::Update)),
            Route::BreakGlass => Some((AuditEntity::BreakGlass, AuditAction::Create)),
            // Recorded in both children's chains (the path's child is the one checked here).
            Route::MergeChild | Route::UnmergeChild => {
                Some((AuditEntity::Child, AuditAction::Update))
            }
            // One read entry per listed child.
            Route::ListDuplicates => Some((AuditEntity::Child, AuditAction::Read)),
            // One read entry in both children's chains per listed merge.
            Route::ListMerges => Some((AuditEntity::Child, AuditAction::Read)),
            // Partner files' import results: counts, and the refused rows by number, column
            // and reason. A refused row was never stored, so it is no registered child's
            // record; a reason may quote the refused cell, so only registry administrators
            // read them (docs/INTAKE.md, "Results in the API").
            Route::ListIntakeJobs | Route::GetIntakeJob | Route::ListIntakeJobErrors => None,
            // The catalogue holds no personal data.
            Route::ListProgrammes
            | Route::GetProgramme
            | Route::ListInstruments
            | Route::GetWording
            | Route::ListCatalogueEntries
            | Route::CreateCatalogueEntry
            | Route::GetCatalogueEntry
            | Route::UpdateCatalogueEntry
            | Route::RetireCatalogueEntry => None,
            // The audit views show pseudonyms and staff, not the child's data.
            Route::AuditEntries | Route::AuditReport | Route::AuditBreakGlass => None,
            Route::CreateEpisode => Some((AuditEntity::SupportEpisode, AuditAction::Create)),
            Route::GetEpisode | Route::ListEpisodes => {
                Some((AuditEntity::SupportEpisode, AuditAction::Read))
            }
            Route::UpdateEpisode => Some((AuditEntity::SupportEpisode, AuditAction::Update)),
            Route::CreateRepresentative => {
                Some((AuditEntity::LegalRepresentative, AuditAction::Create))
            }
            Route::GetRepresentative | Route::ChildRepresentatives => {
                Some((AuditEntity::LegalRepresentative, AuditAction::Read))
            }
            Route::UpdateRepresentative => {
                Some((AuditEntity::LegalRepresentative, AuditAction::Update))
            }
            Route::CreateReferral => Some((AuditEntity::Referral, AuditAction::Create)),
            Route::GetReferral | Route::ListReferrals => {
                Some((AuditEntity::Referral, AuditAction::Read))
            }
            Route::TransitionReferral | Route::SetFamilyAgreement => {
                Some((AuditEntity::Referral, AuditAction::Update))
            }
            // One read entry per child named on the page.
            Route::Worklist => Some((AuditEntity::Worklist, AuditAction::Read)),
            // One read entry per child listed.
            Route::ListChildren => Some((AuditEntity::Child, AuditAction::Read)),
            // One read entry per child whose jobs are on the page.
            Route::ListExports | Route::GetExport => Some((AuditEntity::Export, AuditAction::Read)),
            Route::RetryExport => Some((AuditEntity::Export, AuditAction::Update)),
            // Organisations and specialists are staff-directory data, not a child's.
            Route::CreateOrganisation
            | Route::ListOrganisations
            | Route::GetOrganisation
            | Route::UpdateOrganisation
            | Route::CreateSpecialist
            | Route::ListSpecialists
            | Route::GetSpecialist
            | Route::UpdateSpecialist
            | Route::AddCertification
            | Route::ListCertifications => None,
            // Aggregates after disclosure control, never a child's data.
            Route::RequestReport | Route::ListReports | Route::GetReport | Route::GetReportFile => {
                None
            }
        }
    }
}

/// A route's method and path pattern.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// The route.
    pub route: Route,
    /// HTTP method.
    pub method: Method,
    /// Path pattern with `{param}` segments, as in the SAM template.
    pub path: &'static str,
}

/// The route table (the SAM template declares the same method/path pairs).
pub const ROUTES: &[RouteSpec] = &[
    RouteSpec {
        route: Route::CreateChild,
        method: Method::POST,
        path: "/children",
    },
    RouteSpec {
        route: Route::UpdateChild,
        method: Method::PUT,
        path: "/children/{id}",
    },
    RouteSpec {
        route: Route::SearchChildren,
        method: Method::POST,
        path: "/children/search",
    },
    RouteSpec {
        route: Route::ListDuplicates,
        method: Method::GET,
        path: "/children/duplicates",
    },
    RouteSpec {
        route: Route::ListMerges,
        method: Method::GET,
        path: "/children/merges",
    },
    RouteSpec {
        route: Route::GetChild,
        method: Method::GET,
        path: "/children/{id}",
    },
    RouteSpec {
        route: Route::CreateScreening,
        method: Method::POST,
        path: "/screenings",
    },
    RouteSpec {
        route: Route::GetScreening,
        method: Method::GET,
        path: "/screenings/{id}",
    },
    RouteSpec {
        route: Route::ChildRiskProfile,
        method: Method::GET,
        path: "/children/{id}/risk-profile",
    },
    RouteSpec {
        route: Route::RescoreScreening,
        method: Method::POST,
        path: "/screenings/{id}/rescore",
    },
    RouteSpec {
        route: Route::ListProgrammes,
        method: Method::GET,
        path: "/catalogue/programmes",
    },
    RouteSpec {
        route: Route::GetProgramme,
        method: Method::GET,
        path: "/catalogue/programmes/{id}",
    },
    RouteSpec {
        route: Route::ListInstruments,
        method: Method::GET,
        path: "/catalogue/instruments",
    },
    RouteSpec {
        route: Route::GetWording,
        method: Method::GET,
        path: "/catalogue/instruments/{id}/wording/{lang}",
    },
    RouteSpec {
        route: Route::ListCatalogueEntries,
        method: Method::GET,
        path: "/catalogue/entries",
    },
    RouteSpec {
        route: Route::CreateCatalogueEntry,
        method: Method::POST,
        path: "/catalogue/entries",
    },
    RouteSpec {
        route: Route::GetCatalogueEntry,
        method: Method::GET,
        path: "/catalogue/entries/{id}",
    },
    RouteSpec {
        route: Route::UpdateCatalogueEntry,
        method: Method::PUT,
        path: "/catalogue/entries/{id}",
    },
    RouteSpec {
        route: Route::RetireCatalogueEntry,
        method: Method::POST,
        path: "/catalogue/entries/{id}/retire",
    },
    RouteSpec {
        route: Route::AuditEntries,
        method: Method::GET,
        path: "/audit",
    },
    RouteSpec {
        route: Route::AuditReport,
        method: Method::GET,
        path: "/audit/report",
    },
    RouteSpec {
        route: Route::CreateOrganisation,
        method: Method::POST,
        path: "/organisations",
    },
    RouteSpec {
        route: Route::ListOrganisations,
        method: Method::GET,
        path: "/organisations",
    },
    RouteSpec {
        route: Route::GetOrganisation,
        method: Method::GET,
        path: "/organisations/{id}",
    },
    RouteSpec {
        route: Route::UpdateOrganisation,
        method: Method::PUT,
        path: "/organisations/{id}",
    },
    RouteSpec {
        route: Route::CreateSpecialist,
        method: Method::POST,
        path: "/specialists",
    },
    RouteSpec {
        route: Route::ListSpecialists,
        method: Method::GET,
        path: "/specialists",
    },
    RouteSpec {
        route: Route::GetSpecialist,
        method: Method::GET,
        path: "/specialists/{id}",
    },
    RouteSpec {
        route: Route::UpdateSpecialist,
        method: Method::PUT,
        path: "/specialists/{id}",
    },
    RouteSpec {
        route: Route::AddCertification,
        method: Method::POST,
        path: "/specialists/{id}/certifications",
    },
    RouteSpec {
        route: Route::ListCertifications,
        method: Method::GET,
        path: "/specialists/{id}/certifications",
    },
    RouteSpec {
        route: Route::CreateEpisode,
        method: Method::POST,
        path: "/support-episodes",
    },
    RouteSpec {
        route: Route::ListEpisodes,
        method: Method::GET,
        path: "/support-episodes",
    },
    RouteSpec {
        route: Route::GetEpisode,
        method: Method::GET,
        path: "/support-episodes/{id}",
    },
    RouteSpec {
        route: Route::UpdateEpisode,
        method: Method::PUT,
        path: "/support-episodes/{id}",
    },
    RouteSpec {
        route: Route::CreateRepresentative,
        method: Method::POST,
        path: "/representatives",
    },
    RouteSpec {
        route: Route::GetRepresentative,
        method: Method::GET,
        path: "/representatives/{id}",
    },
    RouteSpec {
        route: Route::UpdateRepresentative,
        method: Method::PUT,
        path: "/representatives/{id}",
    },
    RouteSpec {
        route: Route::ChildRepresentatives,
        method: Method::GET,
        path: "/children/{id}/representatives",
    },
    RouteSpec {
        route: Route::BreakGlass,
        method: Method::POST,
        path: "/children/{id}/break-the-glass",
    },
    RouteSpec {
        route: Route::AuditBreakGlass,
        method: Method::GET,
        path: "/audit/break-the-glass",
    },
    RouteSpec {
        route: Route::MergeChild,
        method: Method::POST,
        path: "/children/{id}/merge",
    },
    RouteSpec {
        route: Route::UnmergeChild,
        method: Method::POST,
        path: "/children/{id}/unmerge",
    },
    RouteSpec {
        route: Route::CreateReferral,
        method: Method::POST,
        path: "/referrals",
    },
    RouteSpec {
        route: Route::ListReferrals,
        method: Method::GET,
        path: "/referrals",
    },
    RouteSpec {
        route: Route::GetReferral,
        method: Method::GET,
        path: "/referrals/{id}",
    },
    RouteSpec {
        route: Route::TransitionReferral,
        method: Method::POST,
        path: "/referrals/{id}/transitions",
    },
    RouteSpec {
        route: Route::SetFamilyAgreement,
        method: Method::PUT,
        path: "/referrals/{id}/family-agreement",
    },
    RouteSpec {
        route: Route::Worklist,
        method: Method::GET,
        path: "/worklist",
    },
    RouteSpec {
        route: Route::ListChildren,
        method: Method::GET,
        path: "/children",
    },
    RouteSpec {
        route: Route::ListExports,
        method: Method::GET,
        path: "/exports",
    },
    RouteSpec {
        route: Route::GetExport,
        method: Method::GET,
        path: "/exports/{id}",
    },
    RouteSpec {
        route: Route::RetryExport,
        method: Method::POST,
        path: "/exports/{id}/retry",
    },
    RouteSpec {
        route: Route::RequestReport,
        method: Method::POST,
        path: "/reports",
    },
    RouteSpec {
        route: Route::ListReports,
        method: Method::GET,
        path: "/reports",
    },
    RouteSpec {
        route: Route::GetReport,
        method: Method::GET,
        path: "/reports/{id}",
    },
    RouteSpec {
        route: Route::GetReportFile,
        method: Method::GET,
        path: "/reports/{id}/files/{name}",
    },
    RouteSpec {
        route: Route::ListIntakeJobs,
        method: Method::GET,
        path: "/intake/jobs",
    },
    RouteSpec {
        route: Route::GetIntakeJob,
        method: Method::GET,
        path: "/intake/jobs/{id}",
    },
    RouteSpec {
        route: Route::ListIntakeJobErrors,
        method: Method::GET,
        path: "/intake/jobs/{id}/errors",
    },
];

/// A routed, authenticated request.
#[derive(Debug)]
pub struct Ctx {
    /// The request.
    pub req: ApiRequest,
    /// The caller.
    pub principal: Principal,
    /// Path parameters in pattern order.
    pub params: Vec<String>,
}

impl Ctx {
    /// The first path parameter parsed as `T`, or a 404 naming the bad id.
    pub fn id<T: std::str::FromStr>(&self) -> Result<T, Problem>
    where
        T::Err: std::fmt::Display,
    {
        let raw = self.params.first().map(String::as_str).unwrap_or("");
        raw.parse()
            .map_err(|e: T::Err| Problem::not_found(e.to_string()))
    }
}

/// A set of route handlers (one per Lambda, or all of them locally).
pub trait Api: Send + Sync + 'static {
    /// Whether this API serves the route.
    fn serves(&self, route: Route) -> bool;
    /// Calls the route's use case.
    fn call(&self, route: Route, ctx: &Ctx) -> impl Future<Output = Result<Reply, Problem>> + Send;
}

/// Handles one HTTP request end to end. Never fails: every error becomes a problem response.
pub async fn handle<A: Api>(auth: &Authenticator, api: &A, req: ApiRequest) -> ApiResponse {
    let span = tracing::info_span!("request", request_id = %req.request_id, method = %req.method, path = %req.path);
    async move {
        let instance = req.path.clone();
        let request_id = req.request_id.clone();
        let response = match dispatch(auth, api, req).await {
            // Licensed wording: the user's browser may keep it, shared caches may not.
            Ok((Route::GetWording, reply)) => {
                render(reply).with_header("cache-control", "private, max-age=300")
            }
            Ok((_, reply)) => render(reply),
            Err(problem) => {
                if problem.status >= 500 {
                    tracing::error!(status = problem.status, detail = %problem.detail, "request failed");
                } else {
                    tracing::warn!(status = problem.status, kind = problem.slug, detail = %problem.detail, "request refused");
                }
                ApiResponse::problem(&problem, &instance, &request_id)
            }
        };
        tracing::info!(status = response.status.as_u16(), "request done");
        response.with_header("x-request-id", &request_id)
    }
    .instrument(span)
    .await
}

async fn dispatch<A: Api>(
    auth: &Authenticator,
    api: &A,
    req: ApiRequest,
) -> Result<(Route, Reply), Problem> {
    let (route, params) = route_for(&req.method, &req.path, |route| api.serves(route))?;
    let principal = auth.authenticate(req.header("authorization")).await?;
    tracing::info!(subject = %principal.subject, org = %principal.organisation, ?route, "authenticated");
    let ctx = Ctx {
        req,
        principal,
        params,
    };
    Ok((route, api.call(route, &ctx).await?))
}

/// Finds the route of a request among the served ones, with its path parameters.
///
/// A literal path segment beats a parameter: `/children/search` is never taken for
/// `/children/{id}`, whatever the method. When the most specific pattern matching the path
/// has no route for the method, the answer is 405 with `Allow` listing the methods it has
/// (so `PUT /children/search` is 405 `Allow: POST`, not an update of a child called
/// "search"); a path no pattern matches is 404.
pub fn route_for(
    method: &Method,
    path: &str,
    serves: impl Fn(Route) -> bool,
) -> Result<(Route, Vec<String>), Problem> {
    // Specificity of a pattern: per segment, literal (true) before parameter (false).
    let specificity = |pattern: &str| -> Vec<bool> {
        pattern
            .trim_end_matches('/')
            .split('/')
            .map(|seg| !(seg.starts_with('{') && seg.ends_with('}')))
            .collect()
    };
    let matching: Vec<(&RouteSpec, Vec<&str>)> = ROUTES
        .iter()
        .filter(|spec| serves(spec.route))
        .filter_map(|spec| match_path(spec.path, path).map(|params| (spec, params)))
        .collect();
    let Some(best) = matching
        .iter()
        .map(|(spec, _)| specificity(spec.path))
        .max()
    else {
        return Err(Problem::not_found(format!(
            "no route for {}",
            path.chars().take(200).collect::<String>()
        )));
    };
    let mut allowed = Vec::new();
    for (spec, params) in matching {
        if specificity(spec.path) != best {
            continue;
        }
        if spec.method == *method {
            return Ok((spec.route, params.into_iter().map(str::to_owned).collect()));
        }
        allowed.push(spec.method.as_str());
    }
    Err(Problem::method_not_allowed(&allowed))
}

impl From<ServiceError> for Problem {
    fn from(error: ServiceError) -> Self {
        problem_of(error)
    }
}

/// The one mapping from use-case errors to problems.
pub fn problem_of(error: ServiceError) -> Problem {
    match error {
        ServiceError::Validation(errors) => Problem::validation(errors),
        ServiceError::NotFound(detail) => Problem::not_found(detail),
        ServiceError::PreconditionFailed(detail) => Problem::precondition_failed(detail),
        ServiceError::PreconditionRequired(detail) => Problem::precondition_required(detail),
        ServiceError::Forbidden(detail) => Problem::forbidden(detail),
        ServiceError::Conflict {
            slug,
            detail,
            existing_id,
        } => {
            let p = Problem::conflict(slug, detail);
            match existing_id {
                Some(id) => p.with("existing_id", id),
                None => p,
            }
        }
        ServiceError::Merged { detail, into } => {
            let mut p = Problem::gone("child-merged", detail);
            p.headers.push(("location", format!("/children/{into}")));
            p.with("merged_into", into)
        }
        ServiceError::Store(StoreError::Unavailable(source)) => {
            tracing::error!(error = %source, "record store unavailable");
            Problem::unavailable("storage is temporarily unavailable; retry the request")
        }
        ServiceError::Store(
            StoreError::Conflict { .. } | StoreError::TransactionCancelled { .. },
        ) => Problem::conflict(
            "concurrent-update",
            "the record was changed concurrently; retry the request",
        ),
        ServiceError::Queue(e) => {
            tracing::error!(error = %e, "queue unavailable");
            Problem::unavailable(
                "the processing queue is temporarily unavailable; retry the request",
            )
        }
        ServiceError::Blobs(e) => {
            tracing::error!(error = %e, "blob store error");
            Problem::unavailable("file storage is temporarily unavailable; retry the request")
        }
        ServiceError::Store(e) => {
            tracing::error!(error = %e, "record store error");
            Problem::internal()
        }
    }
}

fn render(reply: Reply) -> ApiResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let mut response = match reply.file {
        Some((bytes, media_type)) => ApiResponse::file(status, bytes, media_type),
        None => ApiResponse::json(status, &reply.body),
    };
    if let Some(location) = &reply.location {
        response = response.with_header("location", location);
    }
    if let Some(etag) = &reply.etag {
        response = response.with_header("etag", etag);
    }
    if reply.replayed {
        response = response.with_header("idempotent-replayed", "true");
    }
    response
}

/// The `Idempotency-Key` of a request bound to its caller, operation and body.
pub fn idempotency(
    ctx: &Ctx,
    operation: &str,
) -> Result<Option<crate::services::idempotency::IdempotencyRequest>, Problem> {
    // A key that is not even text (bytes outside visible ASCII) is refused like any other
    // bad key, not taken for no key.
    let raw = ctx.req.headers.get("idempotency-key");
    let key = match raw.map(|v| v.to_str()) {
        None => None,
        Some(Ok(text)) => Some(text),
        Some(Err(_)) => Some("\u{fffd}"),
    };
    key.map(|key| {
        crate::services::idempotency::IdempotencyRequest::new(
            &ctx.principal,
            operation,
            key,
            &ctx.req.body,
        )
    })
    .transpose()
    .map_err(Problem::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SAM template must route every method/path pair of [`ROUTES`] to a function, and
    /// declare no HTTP route that the code does not serve.
    #[test]
    fn the_template_declares_exactly_these_routes() {
        let template = include_str!("../../../infra/template.yaml");
        let lines: Vec<&str> = template.lines().map(str::trim).collect();
        let mut declared = Vec::new();
        for pair in lines.windows(2) {
            if let (Some(method), Some(path)) = (
                pair[0].strip_prefix("Method: "),
                pair[1].strip_prefix("Path: "),
            ) {
                declared.push((method.to_owned(), path.to_owned()));
            }
        }
        let mut expected: Vec<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_string(), r.path.to_owned()))
            .collect();
        declared.sort();
        expected.sort();
        assert_eq!(declared, expected);
    }

    #[test]
    fn literal_segments_win_and_other_methods_are_405_with_allow() {
        let all = |_: Route| true;
        let route = |method: Method, path: &str| route_for(&method, path, all);
        assert_eq!(
            route(Method::POST, "/children/search").unwrap().0,
            Route::SearchChildren
        );
        assert_eq!(
            route(Method::GET, "/children/duplicates").unwrap().0,
            Route::ListDuplicates
        );
        let (found, params) = route(Method::PUT, "/children/abc").unwrap();
        assert_eq!(
            (found, params),
            (Route::UpdateChild, vec!["abc".to_owned()])
        );
        let allow = |method: Method, path: &str| {
            let problem = route(method, path).unwrap_err();
            assert_eq!(problem.status, 405, "{path}");
            problem
                .headers
                .iter()
                .find(|(name, _)| *name == "allow")
                .map(|(_, value)| value.clone())
                .unwrap()
        };
        assert_eq!(allow(Method::PUT, "/children/search"), "POST");
        assert_eq!(allow(Method::GET, "/children/search"), "POST");
        assert_eq!(allow(Method::DELETE, "/children/duplicates"), "GET");
        assert_eq!(allow(Method::DELETE, "/children/abc"), "PUT, GET");
        assert_eq!(allow(Method::PATCH, "/children"), "POST, GET");
        assert_eq!(allow(Method::DELETE, "/catalogue/entries"), "GET, POST");
        assert_eq!(route(Method::GET, "/nowhere").unwrap_err().status, 404);
        // A host serving a subset of the routes knows only its own.
        let only_screenings = |r: Route| r == Route::GetScreening;
        assert_eq!(
            route_for(&Method::GET, "/children/abc", only_screenings)
                .unwrap_err()
                .status,
            404
        );
    }

    #[test]
    fn every_route_variant_is_in_the_table_once() {
        let all = [
            Route::CreateChild,
            Route::GetChild,
            Route::SearchChildren,
            Route::UpdateChild,
            Route::CreateScreening,
            Route::GetScreening,
            Route::ChildRiskProfile,
            Route::RescoreScreening,
            Route::ListProgrammes,
            Route::GetProgramme,
            Route::ListInstruments,
            Route::GetWording,
            Route::ListCatalogueEntries,
            Route::CreateCatalogueEntry,
            Route::GetCatalogueEntry,
            Route::UpdateCatalogueEntry,
            Route::RetireCatalogueEntry,
            Route::AuditEntries,
            Route::AuditReport,
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
            Route::BreakGlass,
            Route::AuditBreakGlass,
            Route::MergeChild,
            Route::UnmergeChild,
            Route::ListDuplicates,
            Route::ListMerges,
            Route::ListIntakeJobs,
            Route::GetIntakeJob,
            Route::ListIntakeJobErrors,
            Route::CreateReferral,
            Route::ListReferrals,
            Route::GetReferral,
            Route::TransitionReferral,
            Route::SetFamilyAgreement,
            Route::Worklist,
            Route::ListChildren,
            Route::ListExports,
            Route::GetExport,
            Route::RetryExport,
            Route::RequestReport,
            Route::ListReports,
            Route::GetReport,
            Route::GetReportFile,
        ];
        for route in all {
            assert_eq!(
                ROUTES.iter().filter(|r| r.route == route).count(),
                1,
                "{route:?}"
            );
        }
        assert_eq!(ROUTES.len(), all.len());
    }
}
