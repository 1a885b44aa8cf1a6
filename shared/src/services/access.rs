//! Object-level access to a child's records, checked in the use case for every object
//! (OWASP API Security Top 10 2023, API1: broken object-level authorisation).
//!
//! Rule in force: a caller whose token carries a territory scope (`ravis:atvk`) sees only
//! children whose declared address territory lies in that ATVK subtree; a child without a
//! declared territory is outside every scope. Refusals look exactly like "not found", so a
//! scoped caller cannot learn that a child exists elsewhere. Care relationships and
//! break-the-glass are still to come (issue #5).

use crate::domain::{Child, ChildId, Principal};
use crate::ports::RecordStore;
use crate::services::ServiceError;
use crate::services::children::load_child;

/// Whether the caller may see this child at all.
pub fn may_see_child(principal: &Principal, child: &Child) -> bool {
    match &principal.territory {
        None => true,
        Some(scope) => child.atvk.as_ref().is_some_and(|a| a.is_within(scope)),
    }
}

/// The child, if it exists and the caller may see it; `None` otherwise (the two are
/// indistinguishable to the caller on purpose).
pub async fn visible_child<R: RecordStore>(
    records: &R,
    principal: &Principal,
    id: ChildId,
) -> Result<Option<Child>, ServiceError> {
    Ok(load_child(records, id)
        .await?
        .filter(|child| may_see_child(principal, child)))
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
        assert!(may_see_child(
            &caller(Some("0056000")),
            &child(Some("0056440"))
        ));
        assert!(!may_see_child(
            &caller(Some("0056000")),
            &child(Some("0057440"))
        ));
        assert!(!may_see_child(&caller(Some("0056000")), &child(None)));
        assert!(may_see_child(&caller(None), &child(Some("0057440"))));
        assert!(may_see_child(&caller(None), &child(None)));
    }
}
