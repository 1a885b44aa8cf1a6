//! `GET /children` (issue #14, item 3): the children in an organisation's care, with what a
//! specialist filters on — risk, overdue work, territory, name and birth date.
//!
//! The list reads the organisation's care links through the index (`CARE#<org>`), so it
//! holds the children the organisation registered, screened, referred or supports, or was
//! referred (while that referral's link counts). Each child is listed only if the caller
//! may see it (`services/access.rs`), minimised like `GET /children/{id}` for the role,
//! with `overdue_items` (the organisation's items past due for the child) and the risk as
//! the role may see it: `overall_risk` for roles with the clinical view, `needs_support`
//! otherwise. Every child listed is one read entry in its audit trail.
//!
//! With `in_care=false` it lists instead the register of a territory (every child living in
//! it, from `store/register.rs`) for roles that see every child of their territory
//! (municipal social services, registry administrators, partner systems): the token's
//! territory scope, or the `territory` filter (required without a scope).
//!
//! Filters: `organisation` (default the caller's; another one only for a registry
//! administrator), `risk_level` (clinical view only: `low`, `medium`, `high`, `urgent`),
//! `needs_support` (`true`/`false`), `overdue` (`true`: has overdue items; `false`: none),
//! `territory` (municipal social services: an ATVK subtree), `name` (a prefix of the given or
//! family name, case-insensitive, 2–100 characters), `born` (a prefix of the birth date:
//! `YYYY`, `YYYY-MM` or `YYYY-MM-DD`). Creation order of the links; cursor pages.

use super::Worklist;
use crate::domain::{Atvk, Child, ChildId, Principal};
use crate::ports::{RecordStore, SortKeyCondition, StoreError};
use crate::scoring::{RiskLevel, risk_profile};
use crate::services::audit::{AuditAction, AuditEntity, AuditEvent, AuditTrail};
use crate::services::care::CareLink;
use crate::services::registry::listing::{ListQuery, Listing, Pager, decode};
use crate::services::screenings::person_results;
use crate::services::{PERSON_READERS, Reply, ServiceError, minimisation, require_role};
use crate::store::keys;
use crate::store::query::query_index_all;
use chrono::NaiveDate;
use serde_json::json;

struct Filters {
    risk_level: Option<RiskLevel>,
    needs_support: Option<bool>,
    overdue: Option<bool>,
    territory: Option<Atvk>,
    name: Option<String>,
    born: Option<String>,
}

fn parse_born(raw: &str) -> Result<String, &'static str> {
    let ok = match raw.len() {
        4 => raw.bytes().all(|b| b.is_ascii_digit()),
        7 => format!("{raw}-01").parse::<NaiveDate>().is_ok(),
        10 => raw.parse::<NaiveDate>().is_ok(),
        _ => false,
    };
    if ok {
        Ok(raw.to_owned())
    } else {
        Err("must be a year (YYYY), a month (YYYY-MM) or a date (YYYY-MM-DD)")
    }
}

fn parse_name(raw: &str) -> Result<String, &'static str> {
    let n = raw.trim().chars().count();
    if (2..=100).contains(&n) && !raw.chars().any(char::is_control) {
        Ok(raw.trim().to_lowercase())
    } else {
        Err("must be 2 to 100 characters, none of them a control character")
    }
}

impl<R: RecordStore> Worklist<R> {
    /// `GET /children` (see the module doc).
    pub async fn children(
        &self,
        principal: &Principal,
        request_id: &str,
        audit: &AuditTrail<R>,
        query: &[(String, String)],
    ) -> Result<Reply, ServiceError> {
        require_role(principal, PERSON_READERS, "list children")?;
        let q = ListQuery::parse(
            query,
            &[
                "organisation",
                "risk_level",
                "needs_support",
                "overdue",
                "territory",
                "name",
                "born",
                "in_care",
            ],
        )?;
        let organisation = super::listed_organisation(&q, principal, "children")?;
        let in_care = q.parsed("in_care", super::parse_bool)?.unwrap_or(true);
        let clinical = minimisation::view_for(principal) == minimisation::View::Clinical;
        let filters = Filters {
            risk_level: q.parsed("risk_level", |v| {
                serde_json::from_value::<RiskLevel>(json!(v))
                    .map_err(|_| "must be low, medium, high or urgent")
            })?,
            needs_support: q.parsed("needs_support", super::parse_bool)?,
            overdue: q.parsed("overdue", super::parse_bool)?,
            territory: if in_care {
                super::territory_filter(&q, principal)?
            } else {
                q.parsed("territory", Atvk::parse)?
            },
            name: q.parsed("name", parse_name)?,
            born: q.parsed("born", parse_born)?,
        };
        if filters.risk_level.is_some() && !clinical {
            return Err(ServiceError::invalid(
                "risk_level",
                "is a filter of roles that see clinical results; use needs_support",
            ));
        }
        let now = self.clock.now();
        let today = now.date_naive();
        let listing = if in_care {
            Listing {
                pk: keys::care_org_index(&organisation),
                prefix: keys::CARE_CHILD_PREFIX.into(),
                index: true,
            }
        } else {
            // The register of a territory: roles that see every child of their territory.
            if crate::services::access::care_scoped(principal) {
                return Err(ServiceError::invalid(
                    "in_care",
                    "false lists a territory's register, which only roles that see every child of their territory may read",
                ));
            }
            let Some(territory) = filters.territory.as_ref().or(principal.territory.as_ref())
            else {
                return Err(ServiceError::invalid(
                    "territory",
                    "is required with in_care=false when your token has no territory scope",
                ));
            };
            Listing {
                pk: keys::register_partition(Some(territory)),
                prefix: keys::REGISTER_CHILD_PREFIX.into(),
                index: false,
            }
        };
        let mut pager = Pager::new(&self.records, listing, &q)?;
        let mut items = Vec::new();
        let mut listed: Vec<ChildId> = Vec::new();
        while let Some(batch) = pager.next_batch(q.limit - items.len()).await? {
            for record in &batch {
                let child_id = if in_care {
                    let link: CareLink = decode(record)?;
                    if !link.counts_at(now) {
                        continue;
                    }
                    link.child_id
                } else {
                    crate::store::codec::child_id_of(record, "child_id")?
                };
                if listed.contains(&child_id) {
                    continue;
                }
                let Some(stored) = self.records.get(&keys::child(child_id)).await? else {
                    continue;
                };
                let child: Child = crate::store::codec::from_data(&stored)?;
                if child.status == crate::domain::ChildStatus::Merged || listed.contains(&child.id)
                {
                    continue;
                }
                if !self.sees(principal, &child).await? || !matches_person(&filters, &child) {
                    continue;
                }
                let overdue_items = self.overdue_items(child.id, &organisation, today).await?;
                if filters.overdue.is_some_and(|o| o != (overdue_items > 0)) {
                    continue;
                }
                let results = person_results(&self.records, child.id).await?;
                let risk = risk_profile(&self.engine, &results, today).overall_risk;
                let needs = risk.map(|r| r != RiskLevel::Low);
                if filters.risk_level.is_some_and(|f| risk != Some(f))
                    || filters.needs_support.is_some_and(|f| needs != Some(f))
                {
                    continue;
                }
                let full = serde_json::to_value(&child).map_err(StoreError::Encode)?;
                let mut item = minimisation::child(principal, full);
                item["version"] = json!(stored.version);
                item["overdue_items"] = json!(overdue_items);
                if clinical {
                    item["overall_risk"] = json!(risk);
                } else {
                    item["needs_support"] = json!(needs);
                }
                listed.push(child.id);
                items.push(item);
            }
        }
        let reads = listed
            .iter()
            .map(|child| AuditEvent::all(*child, AuditEntity::Child, AuditAction::Read))
            .collect();
        audit.record_many(principal, request_id, reads).await?;
        let mut reply = pager.finish(items);
        reply.body["organisation"] = json!(organisation);
        Ok(reply)
    }

    /// How many of `organisation`'s items for the child are past due.
    async fn overdue_items(
        &self,
        child: ChildId,
        organisation: &str,
        today: NaiveDate,
    ) -> Result<usize, ServiceError> {
        let items = query_index_all(
            &self.records,
            &keys::child_index(child),
            &SortKeyCondition::Prefix(keys::child_work_index(organisation, "")),
        )
        .await?;
        Ok(items
            .iter()
            .filter(|i| {
                i.data["due_on"]
                    .as_str()
                    .and_then(|d| d.parse::<NaiveDate>().ok())
                    .is_some_and(|d| d < today)
            })
            .count())
    }
}

fn matches_person(filters: &Filters, child: &Child) -> bool {
    filters
        .territory
        .as_ref()
        .is_none_or(|scope| child.atvk.as_ref().is_some_and(|a| a.is_within(scope)))
        && filters.name.as_ref().is_none_or(|prefix| {
            child.given_name.to_lowercase().starts_with(prefix.as_str())
                || child
                    .family_name
                    .to_lowercase()
                    .starts_with(prefix.as_str())
        })
        && filters
            .born
            .as_ref()
            .is_none_or(|prefix| child.birth_date.to_string().starts_with(prefix.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_are_checked() {
        assert_eq!(parse_born("2024"), Ok("2024".into()));
        assert_eq!(parse_born("2024-10"), Ok("2024-10".into()));
        assert_eq!(parse_born("2024-10-01"), Ok("2024-10-01".into()));
        for bad in ["24", "2024-13", "2024-02-30", "2024-1", "abcd"] {
            assert!(parse_born(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_name(" Bēr "), Ok("bēr".into()));
        assert!(parse_name("B").is_err());
        assert!(parse_name("B\u{7}x").is_err());
        assert_eq!(super::super::parse_bool("true"), Ok(true));
        assert!(super::super::parse_bool("yes").is_err());
    }
}
