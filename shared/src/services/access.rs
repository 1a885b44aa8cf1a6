//! Object-level access to a child's records, checked in the use case for every object
//! (OWASP API Security Top 10 2023, API1: broken object-level authorisation).
//!
//! Every child-scoped use case (read, change, search, screening submission and read, risk
//! profile, break-the-glass) goes through [`visible_child`] (or [`access_to`] with a child
//! it already loaded); nothing else decides whether a caller sees a child. Rules:
//!
//! 1. Territory: a caller whose token carries a territory scope (`ravis:atvk`) sees only
//!    children whose declared address territory lies in that ATVK subtree; a child without
//!    a declared territory is outside every scope. This holds for every role, always.
//! 2. Care relationship: a caller whose person-reading roles are all specialist roles
//!    ([`CARE_SCOPED`]) sees a child only if their organisation has a care link to it
//!    (`services/care.rs`) that counts now (a referral's link ends after its grace period),
//!    or they (subject and organisation) hold a live break-the-glass
//!    grant for it (`services/break_glass.rs`); reads under a grant carry its reason into
//!    the audit trail. A link to a child merged into this one counts as a link to it.
//!    Any other person-reading role held by the caller (registry
//!    administrator, partner system, municipality social service) keeps its own rules.
//!
//! Refusals look exactly like "not found", so a caller cannot learn that a child exists
//! outside what it may see.

use crate::domain::{Child, ChildId, Principal, Role};
use crate::ports::RecordStore;
use crate::services::{PERSON_READERS, ServiceError, care};
use crate::store::lookups::{live_grant, load_child, merged_ids};
use chrono::{DateTime, Utc};

/// Specialist roles: they see a child only through a care link or break-the-glass.
pub const CARE_SCOPED: &[Role] = &[
    Role::HealthSpecialist,
    Role::EducationSpecialist,
    Role::ProgrammeProvider,
];

/// Why the caller may see a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The caller's role sees every child in its territory.
    Role,
    /// The caller's organisation has a care link to the child.
    CareLink,
    /// A live break-the-glass grant of the caller, with its reason and expiry.
    BreakGlass {
        /// The reason given when the glass was broken.
        reason: String,
        /// When the grant ends.
        expires_at: DateTime<Utc>,
    },
}

impl Access {
    /// The break-the-glass reason to record with every access made under this basis.
    pub fn break_glass_reason(&self) -> Option<String> {
        match self {
            Access::BreakGlass { reason, .. } => Some(reason.clone()),
            Access::Role | Access::CareLink => None,
        }
    }
}

/// Whether the caller sees children only through care links or break-the-glass: they hold
/// a specialist role and no other person-reading role.
pub fn care_scoped(principal: &Principal) -> bool {
    principal.has_any(CARE_SCOPED)
        && !principal
            .roles
            .iter()
            .any(|r| PERSON_READERS.contains(r) && !CARE_SCOPED.contains(r))
}

/// Rule 1: whether the child lies within the caller's territory scope (if any).
pub fn within_territory(principal: &Principal, child: &Child) -> bool {
    match &principal.territory {
        None => true,
        Some(scope) => child.atvk.as_ref().is_some_and(|a| a.is_within(scope)),
    }
}

/// How the caller may see this (already loaded) child at `now`; `None` if it may not.
pub async fn access_to<R: RecordStore>(
    records: &R,
    principal: &Principal,
    child: &Child,
    now: DateTime<Utc>,
) -> Result<Option<Access>, ServiceError> {
    if !within_territory(principal, child) {
        return Ok(None);
    }
    if !care_scoped(principal) {
        return Ok(Some(Access::Role));
    }
    if care::link(records, child.id, &principal.organisation)
        .await?
        .is_some_and(|l| l.counts_at(now))
    {
        return Ok(Some(Access::CareLink));
    }
    // A care link to a child merged into this one is a link to the same person; it stops
    // counting when the merge is undone (`services/merge.rs`).
    for merged in merged_ids(records, child.id).await? {
        if care::link(records, merged, &principal.organisation)
            .await?
            .is_some_and(|l| l.counts_at(now))
        {
            return Ok(Some(Access::CareLink));
        }
    }
    Ok(live_grant(records, principal, child.id, now)
        .await?
        .map(|g| Access::BreakGlass {
            reason: g.reason,
            expires_at: g.expires_at,
        }))
}

/// How the caller may see child `id` at `now`, if it exists and the caller may see it
/// ([`visible_child`] without the child).
pub async fn child_access<R: RecordStore>(
    records: &R,
    principal: &Principal,
    id: ChildId,
    now: DateTime<Utc>,
) -> Result<Option<Access>, ServiceError> {
    Ok(visible_child(records, principal, id, now)
        .await?
        .map(|(_, access)| access))
}

/// The child and how the caller may see it, if it exists and the caller may see it at
/// `now`; `None` otherwise (the two are indistinguishable to the caller on purpose).
pub async fn visible_child<R: RecordStore>(
    records: &R,
    principal: &Principal,
    id: ChildId,
    now: DateTime<Utc>,
) -> Result<Option<(Child, Access)>, ServiceError> {
    let Some(child) = load_child(records, id).await? else {
        return Ok(None);
    };
    Ok(access_to(records, principal, &child, now)
        .await?
        .map(|access| (child, access)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Atvk, ChildId, ChildStatus, Role, Sex};

    fn child(atvk: Option<&str>) -> Child {
        Child {
            id: ChildId::from_uuid(uuid::Uuid::nil()),
            personal_code: None,
            given_name: "A".into(),
            family_name: "B".into(),
            birth_date: "2024-01-01".parse().unwrap(),
            sex: Sex::Female,
            gestational_age_weeks: None,
            atvk: atvk.map(|a| Atvk::parse(a).unwrap()),
            status: ChildStatus::Active,
            created_at: chrono::Utc::now(),
            registered_by_org: "o".into(),
        }
    }

    fn caller(scope: Option<&str>) -> Principal {
        Principal {
            subject: "s".into(),
            roles: vec![Role::MunicipalitySocialService],
            organisation: "o".into(),
            territory: scope.map(|a| Atvk::parse(a).unwrap()),
            purpose: None,
        }
    }

    #[test]
    fn scoped_callers_see_only_their_subtree() {
        assert!(within_territory(
            &caller(Some("0056000")),
            &child(Some("0056440"))
        ));
        assert!(!within_territory(
            &caller(Some("0056000")),
            &child(Some("0057440"))
        ));
        assert!(!within_territory(&caller(Some("0056000")), &child(None)));
        assert!(within_territory(&caller(None), &child(Some("0057440"))));
        assert!(within_territory(&caller(None), &child(None)));
    }

    #[test]
    fn only_pure_specialists_are_care_scoped() {
        let with = |roles: &[Role]| Principal {
            roles: roles.to_vec(),
            ..caller(None)
        };
        for r in CARE_SCOPED {
            assert!(care_scoped(&with(&[*r])), "{r}");
        }
        assert!(care_scoped(&with(&[
            Role::HealthSpecialist,
            Role::DataProtectionOfficer
        ])));
        assert!(!care_scoped(&with(&[
            Role::HealthSpecialist,
            Role::RegistryAdministrator
        ])));
        assert!(!care_scoped(&with(&[Role::MunicipalitySocialService])));
        assert!(!care_scoped(&with(&[Role::PartnerSystem])));
    }
}
