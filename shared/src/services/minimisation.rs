//! Field-level minimisation: what each role sees of a screening and of a risk profile,
//! built from allow-lists (a field not listed never leaves, whatever is stored).
//!
//! Source: data minimisation and purpose limitation (GDPR art. 5(1)(c), (b)); issue #5 —
//! education staff see whether a child needs support and the recommended measures, not
//! raw scores, answers or health flags. The matrix is documented in `docs/SECURITY.md`.

use crate::domain::{Principal, Role};
use serde_json::{Map, Value, json};

/// How much of a child's assessment a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum View {
    /// Whether support is needed and which measures are recommended; no scores, answers,
    /// flags or explanations.
    SupportSummary,
    /// Everything: answers, every score and band, flags, explanations.
    Clinical,
}

/// Roles that see the clinical view; every other person-reading role sees the summary.
const CLINICAL: &[Role] = &[
    Role::HealthSpecialist,
    Role::RegistryAdministrator,
    Role::PartnerSystem,
];

/// The widest view any of the caller's roles grants.
pub fn view_for(principal: &Principal) -> View {
    if principal.has_any(CLINICAL) {
        View::Clinical
    } else {
        View::SupportSummary
    }
}

/// Fields of a screening every person-reading role may see.
const SCREENING_SUMMARY_FIELDS: &[&str] = &[
    "id",
    "child_id",
    "instrument",
    "administered_on",
    "status",
    "submitted_at",
];
/// Fields of a recommendation in the summary view.
const RECOMMENDATION_SUMMARY_FIELDS: &[&str] = &["kind", "due_on", "programme"];

fn pick(value: &Value, fields: &[&str]) -> Value {
    let mut out = Map::new();
    for f in fields {
        if let Some(v) = value.get(*f) {
            out.insert((*f).to_owned(), v.clone());
        }
    }
    Value::Object(out)
}

fn needs_support(risk_level: &Value) -> Value {
    match risk_level.as_str() {
        Some("low") => Value::Bool(false),
        Some(_) => Value::Bool(true),
        None => Value::Null,
    }
}

fn summary_recommendations(recommendations: &Value) -> Value {
    Value::Array(
        recommendations
            .as_array()
            .map(|rs| {
                rs.iter()
                    .map(|r| pick(r, RECOMMENDATION_SUMMARY_FIELDS))
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// A screening (as `GET /screenings/{id}` builds it) for this caller.
pub fn screening(principal: &Principal, full: Value) -> Value {
    if view_for(principal) == View::Clinical {
        return full;
    }
    let mut out = pick(&full, SCREENING_SUMMARY_FIELDS);
    let result = &full["result"];
    out["result"] = if result.is_object() {
        json!({
            "needs_support": needs_support(&result["risk_level"]),
            "recommendations": summary_recommendations(&result["recommendations"]),
        })
    } else {
        Value::Null
    };
    out
}

/// A risk profile (as `GET /children/{id}/risk-profile` builds it) for this caller.
pub fn risk_profile(principal: &Principal, full: Value) -> Value {
    if view_for(principal) == View::Clinical {
        return full;
    }
    let open: Vec<Value> = full["open_recommendations"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| {
                    let mut o = pick(r, &["instrument", "administered_on", "status"]);
                    o["recommendation"] = pick(&r["recommendation"], RECOMMENDATION_SUMMARY_FIELDS);
                    o
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "child_id": full["child_id"],
        "as_of": full["as_of"],
        "needs_support": needs_support(&full["overall_risk"]),
        "open_recommendations": open,
    })
}

/// How much of a child's registry record a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChildView {
    /// Identity, birth data and territory; no personal code, no health data (education
    /// specialists, programme providers).
    Education,
    /// Everything but health data: the personal code, no gestational age (municipality
    /// social service).
    Social,
    /// The whole record (health specialists, registry administrators, partner systems).
    Full,
}

impl ChildView {
    /// Whether this view shows (and its holder may change) health data of the child.
    pub fn shows_health(self) -> bool {
        self == ChildView::Full
    }
}

/// Fields of a child record in the education view.
pub const CHILD_EDUCATION_FIELDS: &[&str] = &[
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

/// Fields of a child record in the social-service view: the education view and the code.
pub const CHILD_SOCIAL_FIELDS: &[&str] = &[
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

/// The widest child view any of the caller's roles grants.
pub fn child_view(principal: &Principal) -> ChildView {
    if principal.has_any(CLINICAL) {
        ChildView::Full
    } else if principal.has_any(&[Role::MunicipalitySocialService]) {
        ChildView::Social
    } else {
        ChildView::Education
    }
}

/// A child record (as `GET /children/{id}` builds it) for this caller.
pub fn child(principal: &Principal, full: Value) -> Value {
    match child_view(principal) {
        ChildView::Full => full,
        ChildView::Social => pick(&full, CHILD_SOCIAL_FIELDS),
        ChildView::Education => pick(&full, CHILD_EDUCATION_FIELDS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: &[Role]) -> Principal {
        Principal {
            subject: "s".into(),
            roles: roles.to_vec(),
            organisation: "o".into(),
            territory: None,
            purpose: None,
        }
    }

    fn stored_screening() -> Value {
        json!({"id": "s1", "child_id": "c1", "instrument": "epds", "administered_on": "2026-10-01",
               "status": "scored", "submitted_at": "2026-10-01T10:00:00Z", "answers": {"10": 1},
               "submitted_by": {"subject": "nurse", "organisation": "clinic"},
               "result": {"risk_level": "urgent", "flags": ["self_harm"], "scores": {"total": {"value": 20}},
                          "recommendations": [{"kind": "referral_urgent", "due_on": "2026-10-01", "programme": null, "rule": "epds-self-harm"}],
                          "explanation": [{"rule": "epds-self-harm", "text": "item 10 > 0"}]},
               "results": [{"instrument_version": "1.0.0"}]})
    }

    #[test]
    fn clinical_roles_see_everything() {
        for role in CLINICAL {
            assert_eq!(
                screening(&principal(&[*role]), stored_screening()),
                stored_screening()
            );
        }
    }

    #[test]
    fn education_staff_see_needs_support_and_measures_only() {
        let seen = screening(&principal(&[Role::EducationSpecialist]), stored_screening());
        assert_eq!(
            seen,
            json!({"id": "s1", "child_id": "c1", "instrument": "epds", "administered_on": "2026-10-01",
                   "status": "scored", "submitted_at": "2026-10-01T10:00:00Z",
                   "result": {"needs_support": true,
                              "recommendations": [{"kind": "referral_urgent", "due_on": "2026-10-01", "programme": null}]}})
        );
        let text = seen.to_string();
        for hidden in [
            "self_harm",
            "answers",
            "scores",
            "explanation",
            "submitted_by",
            "risk_level",
        ] {
            assert!(!text.contains(hidden), "{hidden} leaked");
        }
    }

    #[test]
    fn the_widest_role_wins_and_unscored_screenings_have_no_result() {
        let both = principal(&[Role::EducationSpecialist, Role::HealthSpecialist]);
        assert_eq!(view_for(&both), View::Clinical);
        let mut unscored = stored_screening();
        unscored["result"] = Value::Null;
        let seen = screening(&principal(&[Role::MunicipalitySocialService]), unscored);
        assert_eq!(seen["result"], Value::Null);
    }

    fn stored_child() -> Value {
        json!({"id": "c1", "personal_code": "325794-61005", "given_name": "A", "family_name": "B",
               "birth_date": "2024-01-01", "sex": "female", "gestational_age_weeks": 30, "atvk": "0001000",
               "status": "active", "created_at": "2026-01-01T00:00:00Z", "registered_by_org": "o",
               "possible_duplicate_of": ["c0"], "version": 2})
    }

    #[test]
    fn child_records_are_built_from_allow_lists() {
        let full = stored_child();
        for role in CLINICAL {
            assert_eq!(child(&principal(&[*role]), full.clone()), full);
        }
        for role in [Role::EducationSpecialist, Role::ProgrammeProvider] {
            let seen = child(&principal(&[role]), full.clone());
            let keys: Vec<&str> = seen
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let mut want = CHILD_EDUCATION_FIELDS.to_vec();
            want.sort_unstable();
            assert_eq!(keys, want, "{role}");
            assert!(!seen.to_string().contains("325794"), "{role}");
        }
        let social = child(&principal(&[Role::MunicipalitySocialService]), full.clone());
        assert_eq!(social["personal_code"], "325794-61005");
        assert!(social.get("gestational_age_weeks").is_none());
        assert!(social.get("possible_duplicate_of").is_none());
        assert_eq!(
            child_view(&principal(&[
                Role::EducationSpecialist,
                Role::MunicipalitySocialService
            ])),
            ChildView::Social
        );
        assert!(ChildView::Full.shows_health() && !ChildView::Social.shows_health());
    }

    #[test]
    fn risk_profiles_are_minimised_the_same_way() {
        let full = json!({"child_id": "c1", "as_of": "2026-11-23", "overall_risk": "low",
            "instruments": [{"instrument": "sdq-parent-4-17", "latest": {"primary_value": 9}}],
            "open_recommendations": [{"instrument": "sdq-parent-4-17", "administered_on": "2026-10-01", "status": "scheduled",
                "result_id": "r1", "recommendation": {"kind": "rescreen", "due_on": "2027-04-01", "programme": null, "rule": "sdq-rescreen"}}],
            "rescreens_due": [],
            "programme_outcomes": [{"episode_id": "e1", "programme": "incredible-years-parents",
                "start_date": "2026-01-05", "end_date": "2026-06-30",
                "instruments": [{"instrument": "sdq-parent-4-17", "before": {"result_id": "r0"}, "after": null,
                    "scores": [{"score": "total_difficulties", "before": 18, "after": null, "change": null, "direction": null}]}]}]});
        // Outcomes are scores: the summary view (allow-list) leaves them out like the rest.
        let seen = risk_profile(&principal(&[Role::ProgrammeProvider]), full.clone());
        assert_eq!(
            seen,
            json!({"child_id": "c1", "as_of": "2026-11-23", "needs_support": false,
                   "open_recommendations": [{"instrument": "sdq-parent-4-17", "administered_on": "2026-10-01", "status": "scheduled",
                       "recommendation": {"kind": "rescreen", "due_on": "2027-04-01", "programme": null}}]})
        );
        assert_eq!(
            risk_profile(&principal(&[Role::HealthSpecialist]), full.clone()),
            full
        );
    }
}
