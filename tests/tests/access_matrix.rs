//! Every route × every role × every territory scope × own or foreign organisation × with or
//! without break-the-glass, with the exact status and which fields come back. A route
//! missing from the matrix fails the test (issue #5, "Done when").

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use ravis::adapters::embedded::{EmbeddedBackend, QueueOptions};
use ravis::app::App;
use ravis::domain::{Atvk, Principal, Role};
use ravis::inbound::http::ApiRequest;
use ravis::inbound::routes::{ROUTES, Route, handle};
use ravis::inbound::sqs::handle_event;
use ravis::ports::{Queue, RandomIds, SystemClock};
use ravis::services::audit::AuditTrail;
use ravis::services::children::{ChildrenService, NewChildInput};
use ravis::services::merge::MergeInput;
use ravis::services::registry::RegistryService;
use ravis::services::scoring_worker::ScoringWorker;
use ravis::services::screenings::{NewScreeningInput, ScreeningsService};
use ravis_tests::auth::verifier_and_scoped_token;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// The child lives in Rīga (0001000); scopes: none, Rīga, another municipality.
const HOME: &str = "0001000";
const ELSEWHERE: &str = "0056000";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scope {
    National,
    Home,
    Elsewhere,
}

/// The organisation that registered and screened the child (so has a care link to it).
const OWN_ORG: &str = "org";

/// The caller's organisation: the one with the care link, or another one.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Org {
    Own,
    Foreign,
}

/// Whether the caller broke the glass for the child before the request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Glass {
    Without,
    With,
}

/// What a caller gets: status, and for successful reads the exact top-level fields.
#[derive(Debug, PartialEq)]
struct Outcome {
    status: u16,
    fields: Option<BTreeSet<String>>,
}

const CHILD_FIELDS: &[&str] = &[
    "id",
    "personal_code",
    "given_name",
    "family_name",
    "birth_date",
    "sex",
    "gestational_age_weeks",
    "atvk",
    "status",
    "created_at",
    "registered_by_org",
    "version",
];
/// The child record without health data (municipality social service).
const CHILD_SOCIAL: &[&str] = &[
    "id",
    "personal_code",
    "given_name",
    "family_name",
    "birth_date",
    "sex",
    "atvk",
    "status",
    "created_at",
    "registered_by_org",
    "version",
];
/// The child record without personal code and health data (education, programmes).
const CHILD_EDUCATION: &[&str] = &[
    "id",
    "given_name",
    "family_name",
    "birth_date",
    "sex",
    "atvk",
    "status",
    "created_at",
    "registered_by_org",
    "version",
];
const GRANT_FIELDS: &[&str] = &["grant_id", "child_id", "reason", "granted_at", "expires_at"];
const SCREENING_CLINICAL: &[&str] = &[
    "id",
    "child_id",
    "instrument",
    "administered_on",
    "answers",
    "initial_screening_id",
    "status",
    "submitted_at",
    "submitted_by",
    "result_key",
    "scored_at",
    "result",
    "results",
];
const SCREENING_SUMMARY: &[&str] = &[
    "id",
    "child_id",
    "instrument",
    "administered_on",
    "status",
    "submitted_at",
    "result",
];
const PROFILE_CLINICAL: &[&str] = &[
    "child_id",
    "as_of",
    "overall_risk",
    "instruments",
    "open_recommendations",
    "rescreens_due",
    "programme_outcomes",
];
const ENTRY_FIELDS: &[&str] = &[
    "id",
    "kind",
    "name",
    "status",
    "target_age_months",
    "source",
    "origin",
    "scoring_definition",
    "administered_by",
    "participants",
    "target_needs",
    "education_relevant",
    "evidence_level",
    "capacity_per_year",
    "annual_target",
    "provider_kind",
    "territory",
    "created_at",
    "updated_at",
    "version",
];
const PROFILE_SUMMARY: &[&str] = &["child_id", "as_of", "needs_support", "open_recommendations"];

const ORG_FIELDS: &[&str] = &[
    "id",
    "kind",
    "name",
    "atvk",
    "registration_number",
    "status",
    "created_at",
    "version",
];
const SPECIALIST_FIELDS: &[&str] = &[
    "id",
    "given_name",
    "family_name",
    "profession",
    "organisations",
    "status",
    "certifications",
    "created_at",
    "version",
];
const REFERRAL_FIELDS: &[&str] = &[
    "id",
    "child_id",
    "programme",
    "provider_org",
    "referring_org",
    "referring_subject",
    "referring_specialist_id",
    "basis",
    "urgency",
    "due_on",
    "state",
    "family_agreement",
    "decline_reason",
    "end_reason",
    "outcome",
    "episode_id",
    "care_until",
    "history",
    "created_at",
    "version",
];
const WORKLIST_FIELDS: &[&str] = &[
    "items",
    "next",
    "organisation",
    "as_of",
    "counts",
    "counts_complete",
];
const EPISODE_FULL: &[&str] = &[
    "id",
    "child_id",
    "programme",
    "provider_org",
    "specialist_id",
    "referring_org",
    "referral_date",
    "referral_source",
    "start_date",
    "end_date",
    "outcome",
    "end_reason",
    "created_at",
    "open",
    "version",
];
const EPISODE_SUMMARY: &[&str] = &[
    "id",
    "child_id",
    "programme",
    "provider_org",
    "referral_date",
    "start_date",
    "end_date",
    "open",
    "version",
];

/// Fields of a representative; the first (the personal code) only for some roles.
const REPRESENTATIVE_FIELDS: &[&str] = &[
    "personal_code",
    "id",
    "given_name",
    "family_name",
    "phone",
    "email",
    "children",
    "created_at",
    "version",
];

/// An export id no job has.
const INTAKE_JOB_FIELDS: &[&str] = &[
    "id",
    "file",
    "kind",
    "format",
    "strict",
    "status",
    "reason",
    "rows_read",
    "inserted",
    "updated",
    "unchanged",
    "rejected",
    "possible_duplicates",
    "started_at",
    "finished_at",
    "errors",
];
const UNKNOWN_EXPORT: &str = "0190f3c4-6d1e-7a3b-8c2d-123456789abc";

/// The registry records the matrix reads and changes, with their current versions.
struct Registry {
    specialist: String,
    episode: String,
    representative: String,
    /// A referral of the child by the own organisation to another provider, still proposed.
    referral: String,
    versions: [u64; 5],
    /// A second, code-less child in Rīga: the duplicate the merge routes merge and split.
    duplicate: String,
    /// A finished partner-file import with one row error.
    intake_job: String,
}

fn fields(list: &[&str]) -> Option<BTreeSet<String>> {
    Some(list.iter().map(|s| (*s).to_owned()).collect())
}

/// Whether the role sees children only through a care link or break-the-glass.
fn specialist(role: Role) -> bool {
    matches!(
        role,
        Role::HealthSpecialist | Role::EducationSpecialist | Role::ProgrammeProvider
    )
}

/// The expected answer to breaking the glass.
fn expected_grant(role: Role, scope: Scope) -> u16 {
    match (specialist(role), scope) {
        (false, _) => 403,
        (true, Scope::Elsewhere) => 404,
        (true, _) => 201,
    }
}

/// The policy, written out: the expected outcome of each route for a role, scope,
/// organisation and break-the-glass state.
fn expected(route: Route, role: Role, scope: Scope, org: Org, glass: Glass) -> Outcome {
    use Role::*;
    let reader = !matches!(
        role,
        MinistryAnalyst | DataProtectionOfficer | IntegrationOperator
    );
    let clinical = matches!(
        role,
        HealthSpecialist | RegistryAdministrator | PartnerSystem
    );
    let child_fields = fields(match role {
        HealthSpecialist | RegistryAdministrator | PartnerSystem => CHILD_FIELDS,
        MunicipalitySocialService => CHILD_SOCIAL,
        _ => CHILD_EDUCATION,
    });
    let in_territory = scope != Scope::Elsewhere;
    // Territory always; specialists also need a care link or a grant.
    let visible = in_territory && (!specialist(role) || org == Org::Own || glass == Glass::With);
    let registry_writer = matches!(role, RegistryAdministrator | PartnerSystem);
    let episode_writer = matches!(
        role,
        RegistryAdministrator
            | PartnerSystem
            | ProgrammeProvider
            | MunicipalitySocialService
            | HealthSpecialist
    );
    let referrer = matches!(
        role,
        HealthSpecialist | EducationSpecialist | ProgrammeProvider | MunicipalitySocialService
    );
    // A programme provider of another organisation than the episode's provider.
    let foreign_provider = role == ProgrammeProvider && org == Org::Foreign;
    let status = |s: u16| Outcome {
        status: s,
        fields: None,
    };
    match route {
        Route::CreateChild => match role {
            RegistryAdministrator
            | HealthSpecialist
            | EducationSpecialist
            | MunicipalitySocialService
            | PartnerSystem => {
                // A scoped caller may only register children inside its territory.
                if in_territory {
                    Outcome {
                        status: 201,
                        fields: child_fields,
                    }
                } else {
                    status(422)
                }
            }
            _ => status(403),
        },
        Route::UpdateChild => match role {
            RegistryAdministrator
            | HealthSpecialist
            | EducationSpecialist
            | MunicipalitySocialService
            | PartnerSystem => {
                if visible {
                    Outcome {
                        status: 200,
                        fields: child_fields,
                    }
                } else {
                    status(404)
                }
            }
            _ => status(403),
        },
        Route::SearchChildren if !reader => status(403),
        Route::SearchChildren if !visible => status(404),
        Route::SearchChildren => Outcome {
            status: 200,
            fields: child_fields.clone(),
        },
        Route::GetChild if !reader => status(403),
        Route::GetChild if !visible => status(404),
        Route::GetChild => Outcome {
            status: 200,
            fields: child_fields.clone(),
        },
        Route::CreateScreening => match role {
            HealthSpecialist | EducationSpecialist | PartnerSystem => {
                status(if visible { 202 } else { 422 })
            }
            _ => status(403),
        },
        Route::GetScreening if !reader => status(403),
        Route::GetScreening if !visible => status(404),
        Route::GetScreening => Outcome {
            status: 200,
            fields: fields(if clinical {
                SCREENING_CLINICAL
            } else {
                SCREENING_SUMMARY
            }),
        },
        Route::ChildRiskProfile if !reader => status(403),
        Route::ChildRiskProfile if !visible => status(404),
        Route::ChildRiskProfile => Outcome {
            status: 200,
            fields: fields(if clinical {
                PROFILE_CLINICAL
            } else {
                PROFILE_SUMMARY
            }),
        },
        Route::RescoreScreening => status(if role == RegistryAdministrator {
            202
        } else {
            403
        }),
        Route::ListProgrammes => Outcome {
            status: 200,
            fields: fields(&["version", "source", "programmes"]),
        },
        Route::GetProgramme | Route::GetCatalogueEntry => Outcome {
            status: 200,
            fields: fields(ENTRY_FIELDS),
        },
        Route::ListCatalogueEntries => Outcome {
            status: 200,
            fields: fields(&["entries", "next_cursor"]),
        },
        // Only the registry administrator edits the catalogue (it is national: no territory rule).
        Route::CreateCatalogueEntry if role == RegistryAdministrator => Outcome {
            status: 201,
            fields: fields(ENTRY_FIELDS),
        },
        Route::UpdateCatalogueEntry | Route::RetireCatalogueEntry
            if role == RegistryAdministrator =>
        {
            Outcome {
                status: 200,
                fields: fields(ENTRY_FIELDS),
            }
        }
        Route::CreateCatalogueEntry | Route::UpdateCatalogueEntry | Route::RetireCatalogueEntry => {
            status(403)
        }
        Route::ListInstruments => Outcome {
            status: 200,
            fields: fields(&["instruments"]),
        },
        // Licensed item wording: the roles that administer screenings only.
        Route::GetWording
            if matches!(role, HealthSpecialist | EducationSpecialist | PartnerSystem) =>
        {
            Outcome {
                status: 200,
                fields: fields(&[
                    "instrument",
                    "versions",
                    "language",
                    "source",
                    "licence",
                    "items",
                    "options",
                ]),
            }
        }
        Route::GetWording => status(403),
        // The data protection officer, and only they, see who accessed the child's data.
        Route::AuditEntries if role == DataProtectionOfficer => Outcome {
            status: 200,
            fields: fields(&["child", "entries", "next_cursor", "verification"]),
        },
        Route::AuditReport if role == DataProtectionOfficer => Outcome {
            status: 200,
            fields: fields(&["child", "accesses", "verification"]),
        },
        Route::AuditBreakGlass if role == DataProtectionOfficer => Outcome {
            status: 200,
            fields: fields(&["from", "to", "grants"]),
        },
        Route::AuditEntries | Route::AuditReport | Route::AuditBreakGlass => status(403),
        // Only specialists break the glass, and only for a child in their territory.
        // Registry administrators only; the survivor must be visible (territory).
        Route::ListDuplicates if role != RegistryAdministrator => status(403),
        Route::ListDuplicates => Outcome {
            status: 200,
            fields: fields(&["items", "next"]),
        },
        Route::ListMerges if role != RegistryAdministrator => status(403),
        Route::ListMerges => Outcome {
            status: 200,
            fields: fields(&["items", "next"]),
        },
        // Registry administrators without a territory scope: a partner file spans territories.
        Route::ListIntakeJobs | Route::GetIntakeJob | Route::ListIntakeJobErrors
            if role != RegistryAdministrator || scope != Scope::National =>
        {
            status(403)
        }
        Route::ListIntakeJobs | Route::ListIntakeJobErrors => Outcome {
            status: 200,
            fields: fields(&["items", "next"]),
        },
        Route::GetIntakeJob => Outcome {
            status: 200,
            fields: fields(INTAKE_JOB_FIELDS),
        },
        Route::MergeChild | Route::UnmergeChild if role != RegistryAdministrator => status(403),
        Route::MergeChild | Route::UnmergeChild if !visible => status(404),
        Route::MergeChild => Outcome {
            status: 200,
            fields: fields(&[CHILD_FIELDS, &["merged_from"]].concat()),
        },
        Route::UnmergeChild => Outcome {
            status: 200,
            fields: child_fields,
        },
        Route::BreakGlass => match expected_grant(role, scope) {
            201 => Outcome {
                status: 201,
                fields: fields(GRANT_FIELDS),
            },
            other => status(other),
        },
        // Organisations and specialists: everyone reads, registry writers write; no child
        // data, so the territory scope plays no part.
        Route::CreateOrganisation | Route::CreateSpecialist | Route::AddCertification
            if !registry_writer =>
        {
            status(403)
        }
        Route::CreateOrganisation => Outcome {
            status: 201,
            fields: fields(ORG_FIELDS),
        },
        // A certification answers with the specialist and all their certifications.
        Route::CreateSpecialist | Route::AddCertification => Outcome {
            status: 201,
            fields: fields(SPECIALIST_FIELDS),
        },
        Route::UpdateOrganisation if registry_writer => Outcome {
            status: 200,
            fields: fields(ORG_FIELDS),
        },
        Route::UpdateSpecialist if registry_writer => Outcome {
            status: 200,
            fields: fields(SPECIALIST_FIELDS),
        },
        Route::UpdateOrganisation | Route::UpdateSpecialist => status(403),
        Route::GetOrganisation => Outcome {
            status: 200,
            fields: fields(ORG_FIELDS),
        },
        Route::GetSpecialist => Outcome {
            status: 200,
            fields: fields(SPECIALIST_FIELDS),
        },
        Route::ListOrganisations | Route::ListSpecialists | Route::ListCertifications => Outcome {
            status: 200,
            fields: fields(&["items", "next"]),
        },
        // Support episodes: a child's personal data. The matrix's episode is provided by the
        // own organisation, so its programme provider sees and writes it in full, one of
        // another organisation sees the summary; education staff see the summary.
        Route::CreateEpisode if !episode_writer => status(403),
        Route::CreateEpisode if !visible => status(422),
        // The episode's provider is the own organisation: a programme provider of another
        // organisation (seeing the child through break-the-glass) may not record it.
        Route::CreateEpisode if foreign_provider => status(422),
        Route::CreateEpisode => Outcome {
            status: 201,
            fields: fields(EPISODE_FULL),
        },
        Route::UpdateEpisode if !episode_writer => status(403),
        Route::UpdateEpisode if !visible => status(404),
        Route::UpdateEpisode if foreign_provider => status(403),
        Route::UpdateEpisode => Outcome {
            status: 200,
            fields: fields(EPISODE_FULL),
        },
        Route::GetEpisode | Route::ListEpisodes if !reader => status(403),
        Route::GetEpisode | Route::ListEpisodes if !visible => status(404),
        Route::ListEpisodes => Outcome {
            status: 200,
            fields: fields(&["items", "next"]),
        },
        Route::GetEpisode => Outcome {
            status: 200,
            fields: fields(if role == EducationSpecialist || foreign_provider {
                EPISODE_SUMMARY
            } else {
                EPISODE_FULL
            }),
        },
        // Legal representatives: written by the roles that register children, read by the
        // person readers; the personal code only for health, social, registry and partners.
        Route::CreateRepresentative => match role {
            RegistryAdministrator
            | HealthSpecialist
            | EducationSpecialist
            | MunicipalitySocialService
            | PartnerSystem => {
                if visible {
                    Outcome {
                        status: 201,
                        fields: fields(if role == EducationSpecialist {
                            &REPRESENTATIVE_FIELDS[1..]
                        } else {
                            REPRESENTATIVE_FIELDS
                        }),
                    }
                } else {
                    status(422)
                }
            }
            _ => status(403),
        },
        Route::UpdateRepresentative
            if !matches!(
                role,
                RegistryAdministrator
                    | HealthSpecialist
                    | EducationSpecialist
                    | MunicipalitySocialService
                    | PartnerSystem
            ) =>
        {
            status(403)
        }
        Route::GetRepresentative | Route::ChildRepresentatives if !reader => status(403),
        Route::GetRepresentative | Route::UpdateRepresentative | Route::ChildRepresentatives
            if !visible =>
        {
            status(404)
        }
        Route::ChildRepresentatives => Outcome {
            status: 200,
            fields: fields(&["items", "next"]),
        },
        Route::GetRepresentative | Route::UpdateRepresentative => Outcome {
            status: 200,
            fields: fields(if matches!(role, EducationSpecialist | ProgrammeProvider) {
                &REPRESENTATIVE_FIELDS[1..]
            } else {
                REPRESENTATIVE_FIELDS
            }),
        },
        // Referrals: who sees the child sees its referrals; the referring organisation (the
        // own one here) acts on its side. The matrix's referral stays `proposed` without the
        // family's agreement, so sending it is refused with 409 after every access check
        // passed (the life cycle has its own suite, `tests/tests/referrals.rs`).
        Route::CreateReferral if !referrer => status(403),
        Route::CreateReferral if !visible => status(422),
        // The matrix's foreign organisations are not in the registry: they may not refer.
        Route::CreateReferral if org == Org::Foreign => status(403),
        Route::CreateReferral => Outcome {
            status: 201,
            fields: fields(REFERRAL_FIELDS),
        },
        Route::GetReferral | Route::ListReferrals | Route::TransitionReferral if !reader => {
            status(403)
        }
        Route::GetReferral | Route::ListReferrals | Route::TransitionReferral if !visible => {
            status(404)
        }
        Route::GetReferral => Outcome {
            status: 200,
            fields: fields(REFERRAL_FIELDS),
        },
        Route::ListReferrals => Outcome {
            status: 200,
            fields: fields(&["items", "next"]),
        },
        Route::TransitionReferral if org == Org::Foreign => status(403),
        Route::TransitionReferral => status(409),
        Route::SetFamilyAgreement if !referrer => status(403),
        Route::SetFamilyAgreement if !visible => status(404),
        Route::SetFamilyAgreement if org == Org::Foreign => status(403),
        Route::SetFamilyAgreement => Outcome {
            status: 200,
            fields: fields(REFERRAL_FIELDS),
        },
        // Every staff member lists the children in their own organisation's care.
        Route::ListChildren if !reader => status(403),
        Route::ListChildren => Outcome {
            status: 200,
            fields: fields(&["items", "next", "organisation"]),
        },
        // Every staff member reads their own organisation's worklist.
        Route::Worklist if !reader => status(403),
        Route::Worklist => Outcome {
            status: 200,
            fields: fields(WORKLIST_FIELDS),
        },
        // Only integration operators see and retry exports (the matrix's export id is
        // unknown: they get 404 after the role check; the exports suites cover the rest).
        Route::ListExports if role == IntegrationOperator => Outcome {
            status: 200,
            fields: fields(&["items", "next"]),
        },
        Route::GetExport | Route::RetryExport if role == IntegrationOperator => status(404),
        Route::ListExports | Route::GetExport | Route::RetryExport => status(403),
        // Reports: the ministry any; a municipality only its own territory's, so it needs
        // a territory scope (its scope is the report's territory).
        Route::RequestReport
            if role == MinistryAnalyst
                || (role == MunicipalitySocialService && scope != Scope::National) =>
        {
            status(202)
        }
        Route::RequestReport if role == MunicipalitySocialService => status(403),
        Route::ListReports if matches!(role, MinistryAnalyst | MunicipalitySocialService) => {
            Outcome {
                status: 200,
                fields: fields(&["items", "next"]),
            }
        }
        Route::GetReport | Route::GetReportFile
            if matches!(role, MinistryAnalyst | MunicipalitySocialService) =>
        {
            status(404)
        }
        Route::RequestReport | Route::ListReports | Route::GetReport | Route::GetReportFile => {
            status(403)
        }
    }
}

fn request(
    route: Route,
    token: &str,
    child: &str,
    screening: &str,
    version: u64,
    n: usize,
    registry: &Registry,
) -> ApiRequest {
    let episode_body = json!({"programme": "cool-kids", "provider_org": "org",
        "referral_date": "2026-11-01", "referral_source": {"text": "parent request"},
        "start_date": "2026-11-02"});
    let mut version = version;
    let mchat: serde_json::Map<String, Value> =
        (1..=20).map(|i| (i.to_string(), json!(1))).collect();
    let (method, path, body) = match route {
        Route::CreateChild => (
            "POST",
            "/children".to_owned(),
            Some(
                json!({"given_name": format!("Child{n}"), "family_name": "M", "birth_date": "2024-10-01", "sex": "male", "atvk": HOME}),
            ),
        ),
        Route::GetChild => ("GET", format!("/children/{child}"), None),
        Route::UpdateChild => (
            "PUT",
            format!("/children/{child}"),
            Some(
                json!({"given_name": format!("A{n}"), "family_name": "B", "birth_date": "2024-10-01", "sex": "female", "atvk": HOME}),
            ),
        ),
        Route::SearchChildren => (
            "POST",
            "/children/search".to_owned(),
            Some(json!({"personal_code": "325794-61005"})),
        ),
        Route::CreateScreening => (
            "POST",
            "/screenings".to_owned(),
            Some(
                json!({"child_id": child, "instrument": "mchat-r", "administered_on": "2026-11-20", "answers": mchat}),
            ),
        ),
        Route::GetScreening => ("GET", format!("/screenings/{screening}"), None),
        Route::ChildRiskProfile => ("GET", format!("/children/{child}/risk-profile"), None),
        Route::RescoreScreening => ("POST", format!("/screenings/{screening}/rescore"), None),
        Route::ListProgrammes => ("GET", "/catalogue/programmes".to_owned(), None),
        Route::GetProgramme => ("GET", "/catalogue/programmes/cool-kids".to_owned(), None),
        Route::ListInstruments => ("GET", "/catalogue/instruments".to_owned(), None),
        Route::GetWording => (
            "GET",
            "/catalogue/instruments/mchat-r/wording/lv".to_owned(),
            None,
        ),
        Route::ListCatalogueEntries => ("GET", "/catalogue/entries".to_owned(), None),
        Route::GetCatalogueEntry => ("GET", "/catalogue/entries/kiva".to_owned(), None),
        Route::CreateCatalogueEntry => (
            "POST",
            "/catalogue/entries".to_owned(),
            Some(
                json!({"id": format!("matrix-{n}"), "kind": "therapy", "name": "Play therapy", "participants": "children"}),
            ),
        ),
        Route::UpdateCatalogueEntry => (
            "PUT",
            "/catalogue/entries/kiva".to_owned(),
            Some(
                json!({"kind": "programme", "name": format!("KiVa {n}"), "participants": "schools", "target_needs": ["bullying"], "evidence_level": "promising"}),
            ),
        ),
        Route::RetireCatalogueEntry => (
            "POST",
            "/catalogue/entries/preschool-psychologists/retire".to_owned(),
            None,
        ),
        Route::AuditEntries => ("GET", "/audit".to_owned(), None),
        Route::AuditReport => ("GET", "/audit/report".to_owned(), None),
        Route::AuditBreakGlass => ("GET", "/audit/break-the-glass".to_owned(), None),
        Route::ListDuplicates => ("GET", "/children/duplicates".to_owned(), None),
        Route::ListMerges => ("GET", "/children/merges".to_owned(), None),
        Route::ListIntakeJobs => ("GET", "/intake/jobs".to_owned(), None),
        Route::GetIntakeJob => ("GET", format!("/intake/jobs/{}", registry.intake_job), None),
        Route::ListIntakeJobErrors => (
            "GET",
            format!("/intake/jobs/{}/errors", registry.intake_job),
            None,
        ),
        Route::MergeChild => (
            "POST",
            format!("/children/{child}/merge"),
            Some(json!({"duplicate": registry.duplicate, "reason": format!("matrix case {n}")})),
        ),
        Route::UnmergeChild => (
            "POST",
            format!("/children/{child}/unmerge"),
            Some(json!({"duplicate": registry.duplicate, "reason": format!("matrix case {n}")})),
        ),
        Route::BreakGlass => (
            "POST",
            format!("/children/{child}/break-the-glass"),
            Some(json!({"reason": "urgent: the child is in the emergency room"})),
        ),
        Route::CreateOrganisation => (
            "POST",
            "/organisations".to_owned(),
            Some(
                json!({"id": format!("org-{n}"), "kind": "school", "name": "School", "atvk": HOME, "registration_number": "90000012345"}),
            ),
        ),
        Route::ListOrganisations => ("GET", "/organisations".to_owned(), None),
        Route::GetOrganisation => ("GET", "/organisations/org".to_owned(), None),
        Route::UpdateOrganisation => {
            version = registry.versions[0];
            (
                "PUT",
                "/organisations/org".to_owned(),
                Some(
                    json!({"kind": "programme_provider", "name": format!("Provider {n}"), "atvk": HOME, "status": "active"}),
                ),
            )
        }
        Route::CreateSpecialist => (
            "POST",
            "/specialists".to_owned(),
            Some(
                json!({"given_name": "S", "family_name": format!("T{n}"), "profession": "nurse", "organisations": ["org"]}),
            ),
        ),
        Route::ListSpecialists => ("GET", "/specialists".to_owned(), None),
        Route::GetSpecialist => ("GET", format!("/specialists/{}", registry.specialist), None),
        Route::UpdateSpecialist => {
            version = registry.versions[1];
            (
                "PUT",
                format!("/specialists/{}", registry.specialist),
                Some(
                    json!({"given_name": "S", "family_name": format!("T{n}"), "profession": "nurse", "organisations": ["org"]}),
                ),
            )
        }
        Route::AddCertification => (
            "POST",
            format!("/specialists/{}/certifications", registry.specialist),
            Some(json!({"instrument": "mchat-r", "issued_by": "RSU", "valid_from": "2025-01-01"})),
        ),
        Route::ListCertifications => (
            "GET",
            format!("/specialists/{}/certifications", registry.specialist),
            None,
        ),
        Route::CreateEpisode => {
            let mut body = episode_body.clone();
            body["child_id"] = json!(child);
            ("POST", "/support-episodes".to_owned(), Some(body))
        }
        Route::ListEpisodes => ("GET", "/support-episodes".to_owned(), None),
        Route::GetEpisode => (
            "GET",
            format!("/support-episodes/{}", registry.episode),
            None,
        ),
        Route::CreateRepresentative => (
            "POST",
            "/representatives".to_owned(),
            Some(
                json!({"given_name": "Mother", "family_name": format!("M{n}"), "children": [{"child_id": child, "relation": "mother"}]}),
            ),
        ),
        Route::GetRepresentative => (
            "GET",
            format!("/representatives/{}", registry.representative),
            None,
        ),
        Route::UpdateRepresentative => {
            version = registry.versions[3];
            (
                "PUT",
                format!("/representatives/{}", registry.representative),
                Some(
                    json!({"given_name": "Mother", "family_name": format!("M{n}"), "phone": "+371 2612 3456", "children": [{"child_id": child, "relation": "mother"}]}),
                ),
            )
        }
        Route::ChildRepresentatives => ("GET", format!("/children/{child}/representatives"), None),
        Route::CreateReferral => (
            "POST",
            "/referrals".to_owned(),
            Some(
                json!({"child_id": child, "basis": {"reason": {"text": format!("matrix case {n}")}},
                       "programme": "early-intervention-psychomotor", "provider_org": "provider"}),
            ),
        ),
        Route::ListReferrals => ("GET", "/referrals".to_owned(), None),
        Route::GetReferral => ("GET", format!("/referrals/{}", registry.referral), None),
        Route::TransitionReferral => {
            version = registry.versions[4];
            (
                "POST",
                format!("/referrals/{}/transitions", registry.referral),
                Some(json!({"to": "sent"})),
            )
        }
        Route::SetFamilyAgreement => {
            version = registry.versions[4];
            (
                "PUT",
                format!("/referrals/{}/family-agreement", registry.referral),
                Some(json!({"status": "not_asked"})),
            )
        }
        Route::Worklist => ("GET", "/worklist".to_owned(), None),
        Route::ListChildren => ("GET", "/children".to_owned(), None),
        Route::ListExports => ("GET", "/exports".to_owned(), None),
        Route::GetExport => ("GET", format!("/exports/{UNKNOWN_EXPORT}"), None),
        Route::RetryExport => ("POST", format!("/exports/{UNKNOWN_EXPORT}/retry"), None),
        Route::RequestReport => (
            "POST",
            "/reports".to_owned(),
            Some(json!({"period": "2026"})),
        ),
        Route::ListReports => ("GET", "/reports".to_owned(), None),
        Route::GetReport => ("GET", format!("/reports/{UNKNOWN_EXPORT}"), None),
        Route::GetReportFile => (
            "GET",
            format!("/reports/{UNKNOWN_EXPORT}/files/report.html"),
            None,
        ),
        Route::UpdateEpisode => {
            version = registry.versions[2];
            (
                "PUT",
                format!("/support-episodes/{}", registry.episode),
                Some(episode_body),
            )
        }
    };
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("if-match", format!("\"{version}\"").parse().unwrap());
    ApiRequest {
        method: method.parse().unwrap(),
        query: if path.starts_with("/audit") {
            let today = chrono::Utc::now().date_naive();
            vec![
                ("child".to_owned(), child.to_owned()),
                (
                    "from".to_owned(),
                    (today - chrono::Days::new(1)).to_string(),
                ),
                ("to".to_owned(), (today + chrono::Days::new(2)).to_string()),
            ]
        } else if route == Route::ListEpisodes || route == Route::ListReferrals {
            vec![("child".to_owned(), child.to_owned())]
        } else {
            vec![]
        },
        path,
        headers,
        body: body.map(|b| b.to_string().into()).unwrap_or_default(),
        request_id: format!("matrix-{n}"),
    }
}

#[tokio::test]
async fn every_route_role_and_scope_gets_exactly_the_expected_answer() {
    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(dir.path()).unwrap();
    let records = backend.records();
    let queue = backend.queue("scoring", QueueOptions::default()).unwrap();
    // One wording pack loaded (mchat-r in Latvian), read as `ravis serve` reads them.
    let wording_dir = dir.path().join("wording");
    std::fs::create_dir_all(&wording_dir).unwrap();
    std::fs::write(
        wording_dir.join("mchat-r.lv.json"),
        ravis_tests::wording::test_pack("mchat-r", "lv").to_string(),
    )
    .unwrap();
    let app = App::new(records.clone(), &[4; 32], &[6; 32])
        .unwrap()
        .with_wording_packs(Arc::new(ravis::adapters::wording::DirWordingPacks::new(
            wording_dir,
        )));
    let (clock, ids, engine) = (app.clock.clone(), app.ids.clone(), app.engine.clone());
    // The catalogue is seeded on first use; seed it now so its versions can be read.
    ravis::services::catalogue::seed_catalogue(&records, clock.as_ref())
        .await
        .unwrap();
    let reports = backend.blobs("reports").unwrap();
    let partner = backend.blobs("partner").unwrap();
    let api = app
        .all_routes(queue.clone(), queue.clone(), reports, partner.clone())
        .unwrap();
    // A finished partner-file import with one refused row, as the intake worker leaves it.
    let intake_job = "ab".repeat(32);
    let now = chrono::Utc::now();
    ravis::ports::BlobStore::put(
        &partner,
        "results/children/kids.csv.report.jsonl",
        bytes::Bytes::from_static(
            b"{\"row\":2,\"field\":\"birth_date\",\"reason\":\"not a date\"}\n",
        ),
        None,
    )
    .await
    .unwrap();
    let summary = ravis::intake::Summary {
        status: ravis::intake::summary::Status::CompletedWithRejections,
        reason: None,
        rows_read: 2,
        inserted: 1,
        rejected: 1,
        ..ravis::intake::Summary::rejected_file(
            "inbox/children/kids.csv",
            "children",
            Some(ravis::intake::Format::Csv),
            false,
            String::new(),
            now,
            now,
        )
    };
    ravis::intake::jobs::record_job(
        &records,
        &intake_job,
        &summary,
        "results/children/kids.csv.report.jsonl",
    )
    .await
    .unwrap();
    // One scored screening of one child in Rīga, made by a national health specialist.
    let nurse = Principal {
        subject: "n".into(),
        roles: vec![Role::HealthSpecialist],
        organisation: OWN_ORG.into(),
        territory: None,
        purpose: None,
    };
    let children = ChildrenService::new(
        records.clone(),
        clock.clone(),
        ids.clone(),
        &[4; 32],
        AuditTrail::new(records.clone(), &[6; 32], clock.clone(), None),
    );
    let child: NewChildInput = serde_json::from_value(json!({"given_name": "A", "family_name": "B", "birth_date": "2024-10-01", "sex": "female", "atvk": HOME, "personal_code": "32579461005"})).unwrap();
    let child_id = children
        .register(&nurse, "test-request", child, None)
        .await
        .unwrap()
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let screenings = ScreeningsService::new(
        records.clone(),
        queue.clone(),
        clock.clone(),
        ids.clone(),
        engine.clone(),
        AuditTrail::new(records.clone(), &[6; 32], clock.clone(), None),
    );
    let answers: serde_json::Map<String, Value> =
        (1..=20).map(|i| (i.to_string(), json!(1))).collect();
    let input: NewScreeningInput = serde_json::from_value(json!({"child_id": child_id, "instrument": "mchat-r", "administered_on": "2026-11-20", "answers": answers})).unwrap();
    let screening_id = screenings
        .submit(&nurse, "test-request", input, None)
        .await
        .unwrap()
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let worker = ScoringWorker::new(records.clone(), clock, ids, engine.clone());
    let received = queue
        .receive(10, Duration::from_secs(60), Duration::from_millis(200))
        .await
        .unwrap();
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    event.records = received
        .iter()
        .map(|m| {
            let mut r = aws_lambda_events::event::sqs::SqsMessage::default();
            r.message_id = Some(m.id.clone());
            r.body = Some(m.body.clone());
            r
        })
        .collect();
    assert!(
        handle_event(&worker, event)
            .await
            .batch_item_failures
            .is_empty()
    );

    // The registry records: organisation "org" (the matrix callers' own), a specialist
    // working there, and one episode of the child provided by it.
    let admin = Principal {
        subject: "a".into(),
        roles: vec![Role::RegistryAdministrator],
        organisation: "org".into(),
        territory: None,
        purpose: None,
    };
    let registry_service = RegistryService::new(
        records.clone(),
        Arc::new(SystemClock),
        Arc::new(RandomIds),
        AuditTrail::new(records.clone(), &[6; 32], Arc::new(SystemClock), None),
        &[4; 32],
    );
    registry_service
        .create_organisation(
            &admin,
            serde_json::from_value(json!({"id": "org", "kind": "programme_provider", "name": "Provider", "atvk": HOME})).unwrap(),
        )
        .await
        .unwrap();
    let specialist = registry_service
        .create_specialist(
            &admin,
            serde_json::from_value(json!({"given_name": "S", "family_name": "T", "profession": "nurse", "organisations": ["org"]})).unwrap(),
        )
        .await
        .unwrap()
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let episode = registry_service
        .create_episode(
            &admin,
            "test-request",
            serde_json::from_value(
                json!({"child_id": child_id, "programme": "cool-kids", "provider_org": "org",
                "referral_date": "2026-11-01", "referral_source": {"text": "parent request"}}),
            )
            .unwrap(),
            None,
        )
        .await
        .unwrap()
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let representative = registry_service
        .create_representative(
            &admin,
            "test-request",
            serde_json::from_value(json!({"given_name": "Mother", "family_name": "M",
                "personal_code": "120394-12343",
                "children": [{"child_id": child_id, "relation": "mother"}]}))
            .unwrap(),
            None,
        )
        .await
        .unwrap()
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let duplicate: ravis::domain::ChildId = children
        .register(
            &admin,
            "test-request",
            serde_json::from_value(json!({"given_name": "D", "family_name": "B", "birth_date": "2024-10-01", "sex": "female", "atvk": HOME})).unwrap(),
            None,
        )
        .await
        .unwrap()
        .body["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    registry_service
        .create_organisation(
            &admin,
            serde_json::from_value(json!({"id": "provider", "kind": "programme_provider", "name": "Another provider", "atvk": HOME})).unwrap(),
        )
        .await
        .unwrap();
    let referral = app
        .referrals()
        .create(
            &nurse,
            "test-request",
            serde_json::from_value(json!({"child_id": child_id,
                "basis": {"reason": {"text": "parent asks for help"}},
                "programme": "early-intervention-psychomotor", "provider_org": "provider"}))
            .unwrap(),
            None,
        )
        .await
        .unwrap()
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let registry_keys = [
        ravis::store::keys::organisation("org"),
        ravis::store::keys::specialist(specialist.parse().unwrap()),
        ravis::store::keys::episode(episode.parse().unwrap()),
        ravis::store::keys::representative(representative.parse().unwrap()),
        ravis::store::keys::referral(referral.parse().unwrap()),
    ];

    let mut failures = Vec::new();
    let mut n = 0;
    let mut covered = BTreeSet::new();
    let mut cases = Vec::new();
    for spec in ROUTES {
        for role in Role::ALL {
            for scope in [Scope::National, Scope::Home, Scope::Elsewhere] {
                for org in [Org::Own, Org::Foreign] {
                    for glass in [Glass::Without, Glass::With] {
                        cases.push((spec, role, scope, org, glass));
                    }
                }
            }
        }
    }
    for (spec, role, scope, org, glass) in cases {
        n += 1;
        let territory = match scope {
            Scope::National => None,
            Scope::Home => Some(Atvk::parse(HOME).unwrap()),
            Scope::Elsewhere => Some(Atvk::parse(ELSEWHERE).unwrap()),
        };
        // A foreign organisation of its own per case, so that a link or grant made
        // by one case (a screening, a break-the-glass) never leaks into another.
        let organisation = match org {
            Org::Own => OWN_ORG.to_owned(),
            Org::Foreign => format!("foreign-{n}"),
        };
        let (auth, token) = verifier_and_scoped_token(role, &organisation, territory.as_ref());
        let mut versions = [0; 5];
        for (v, key) in versions.iter_mut().zip(&registry_keys) {
            *v = ravis::ports::RecordStore::get(&records, key)
                .await
                .unwrap()
                .unwrap()
                .version;
        }
        let registry = Registry {
            specialist: specialist.clone(),
            episode: episode.clone(),
            representative: representative.clone(),
            referral: referral.clone(),
            versions,
            duplicate: duplicate.to_string(),
            intake_job: intake_job.clone(),
        };
        if glass == Glass::With {
            let granted = handle(
                &auth,
                &api,
                request(
                    Route::BreakGlass,
                    &token,
                    &child_id,
                    &screening_id,
                    0,
                    n,
                    &registry,
                ),
            )
            .await;
            if granted.status.as_u16() != expected_grant(role, scope) {
                failures.push(format!(
                    "{role} {scope:?} {org:?}: breaking the glass answered {}",
                    granted.status
                ));
            }
        }
        // The merge routes start from a known state: the duplicate split off (merge) or
        // merged into the child (un-merge), whatever the previous case did.
        if matches!(spec.route, Route::MergeChild | Route::UnmergeChild) {
            let merged =
                ravis::ports::RecordStore::get(&records, &ravis::store::keys::merge(duplicate))
                    .await
                    .unwrap()
                    .is_some();
            let body = MergeInput {
                duplicate: duplicate.to_string(),
                reason: "matrix set-up".into(),
            };
            let survivor = child_id.parse().unwrap();
            if spec.route == Route::MergeChild && merged {
                children
                    .unmerge(&admin, "set-up", survivor, body)
                    .await
                    .unwrap();
            } else if spec.route == Route::UnmergeChild && !merged {
                let version =
                    ravis::ports::RecordStore::get(&records, &ravis::store::keys::child(survivor))
                        .await
                        .unwrap()
                        .unwrap()
                        .version;
                children
                    .merge(&admin, "set-up", survivor, version, body)
                    .await
                    .unwrap();
            }
        }
        let want = expected(spec.route, role, scope, org, glass);
        // If-Match carries the current version of the record the route changes.
        let key = match spec.route {
            Route::UpdateCatalogueEntry => ravis::store::keys::catalogue_entry("kiva"),
            Route::RetireCatalogueEntry => {
                ravis::store::keys::catalogue_entry("preschool-psychologists")
            }
            _ => ravis::ports::Key::new(format!("CHILD#{child_id}"), "CHILD"),
        };
        let version = ravis::ports::RecordStore::get(&records, &key)
            .await
            .unwrap()
            .unwrap()
            .version;
        let response = handle(
            &auth,
            &api,
            request(
                spec.route,
                &token,
                &child_id,
                &screening_id,
                version,
                n,
                &registry,
            ),
        )
        .await;
        let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        let got = Outcome {
            status: response.status.as_u16(),
            fields: matches!(response.status.as_u16(), 200 | 201)
                .then(|| body.as_object().map(|o| o.keys().cloned().collect()))
                .flatten(),
        };
        if got != want {
            failures.push(format!(
                "{:?} {role} {scope:?} {org:?} {glass:?}: expected {want:?}, got {got:?} {body}",
                spec.route
            ));
        }
        covered.insert(format!("{:?}", spec.route));
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(covered.len(), ROUTES.len());
}
