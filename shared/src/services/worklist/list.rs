//! `GET /worklist`: one organisation's items, most urgent first, with counts per kind.
//!
//! Filters: `organisation` (default: the caller's; another organisation's list only for a
//! registry administrator), `kind`, `overdue` (`true`: due before today; `false`: not yet),
//! `due_before` (a date: due before it), `assignee=me` (items assigned to the caller),
//! `territory` (an ATVK code: children living in that subtree). Each item names its child as
//! the caller may see it: a child the caller cannot see (e.g. a provider before accepting a
//! referral) is only its id; otherwise id, names and birth date as the role's view of a
//! child allows. Every child named on a page gets one read entry in its audit trail.
//! `counts` counts the items per kind under the same filters except `kind`, over at most
//! [`COUNT_BUDGET`] items (`counts_complete` says whether that was all of them).

use super::{WorkKind, Worklist};
use crate::domain::{Atvk, ChildId, Principal};
use crate::ports::{RecordStore, SortKeyCondition};
use crate::services::audit::{AuditAction, AuditEntity, AuditEvent, AuditTrail};
use crate::services::registry::listing::{ListQuery, Listing, Pager};
use crate::services::{PERSON_READERS, Reply, ServiceError, minimisation, require_role};
use crate::store::keys;
use crate::store::lookups::load_child;
use chrono::NaiveDate;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Most items one request counts for `counts`.
pub const COUNT_BUDGET: usize = 2000;

/// The fields of a child an item may show (further limited by the role's view of a child).
const CHILD_FIELDS: &[&str] = &["id", "given_name", "family_name", "birth_date"];

struct Filters {
    kind: Option<WorkKind>,
    overdue: Option<bool>,
    due_before: Option<NaiveDate>,
    assignee: Option<String>,
    territory: Option<Atvk>,
}

impl Filters {
    fn keeps(&self, item: &Value, today: NaiveDate, with_kind: bool) -> bool {
        let due: Option<NaiveDate> = item["due_on"].as_str().and_then(|d| d.parse().ok());
        let Some(due) = due else { return false };
        (!with_kind || self.kind.is_none_or(|k| item["kind"] == k.as_str()))
            && self.overdue.is_none_or(|o| (due < today) == o)
            && self.due_before.is_none_or(|b| due < b)
            && self
                .assignee
                .as_ref()
                .is_none_or(|a| item["assignee"].as_str() == Some(a))
    }
}

impl<R: RecordStore> Worklist<R> {
    /// `GET /worklist` (see the module doc).
    pub async fn list(
        &self,
        principal: &Principal,
        request_id: &str,
        audit: &AuditTrail<R>,
        query: &[(String, String)],
    ) -> Result<Reply, ServiceError> {
        require_role(principal, PERSON_READERS, "read a worklist")?;
        let q = ListQuery::parse(
            query,
            &[
                "organisation",
                "kind",
                "overdue",
                "due_before",
                "assignee",
                "territory",
            ],
        )?;
        let organisation = super::listed_organisation(&q, principal, "worklist")?;
        let filters = Filters {
            kind: q.parsed("kind", WorkKind::parse)?,
            overdue: q.parsed("overdue", super::parse_bool)?,
            due_before: q.parsed("due_before", |v| {
                v.parse::<NaiveDate>()
                    .map_err(|_| "must be a date (YYYY-MM-DD)")
            })?,
            assignee: q.parsed("assignee", |v| match v {
                "me" => Ok(principal.subject.clone()),
                _ => Err("must be me"),
            })?,
            territory: super::territory_filter(&q, principal)?,
        };
        let today = self.clock.now().date_naive();
        let listing = Listing {
            pk: keys::worklist_partition(&organisation),
            prefix: String::new(),
            index: false,
        };
        let mut pager = Pager::new(&self.records, listing, &q)?;
        let mut items = Vec::new();
        let mut children: BTreeMap<ChildId, Option<Value>> = BTreeMap::new();
        while let Some(batch) = pager.next_batch(q.limit - items.len()).await? {
            for record in batch {
                if !filters.keeps(&record.data, today, true) {
                    continue;
                }
                let Some(child_id) = record.data["child_id"]
                    .as_str()
                    .and_then(|c| c.parse::<ChildId>().ok())
                else {
                    continue;
                };
                if let std::collections::btree_map::Entry::Vacant(slot) = children.entry(child_id) {
                    slot.insert(self.child_view(principal, child_id, &filters).await?);
                }
                let Some(child) = &children[&child_id] else {
                    continue;
                };
                items.push(item_view(&record.data, child.clone(), today));
            }
        }
        let (counts, complete) = self.counts(&organisation, &filters, today).await?;
        let named = children
            .iter()
            .filter(|(_, shown)| {
                shown
                    .as_ref()
                    .is_some_and(|v| v.get("given_name").is_some())
            })
            .map(|(child, _)| AuditEvent::all(*child, AuditEntity::Worklist, AuditAction::Read))
            .collect();
        audit.record_many(principal, request_id, named).await?;
        let mut reply = pager.finish(items);
        reply.body["organisation"] = json!(organisation);
        reply.body["as_of"] = json!(today);
        reply.body["counts"] = json!(counts);
        reply.body["counts_complete"] = json!(complete);
        Ok(reply)
    }

    /// How an item shows its child: `None` drops the item (outside the territory filter);
    /// only the id when the caller may not see the child.
    async fn child_view(
        &self,
        principal: &Principal,
        child_id: ChildId,
        filters: &Filters,
    ) -> Result<Option<Value>, ServiceError> {
        let Some(child) = load_child(&self.records, child_id).await? else {
            return Ok(None);
        };
        if let Some(scope) = &filters.territory
            && !child.atvk.as_ref().is_some_and(|a| a.is_within(scope))
        {
            return Ok(None);
        }
        if !self.sees(principal, &child).await? {
            return Ok(Some(json!({"id": child_id})));
        }
        let full = serde_json::to_value(&child).map_err(crate::ports::StoreError::Encode)?;
        let seen = minimisation::child(principal, full);
        let mut out = Map::new();
        for f in CHILD_FIELDS {
            if let Some(v) = seen.get(*f) {
                out.insert((*f).to_owned(), v.clone());
            }
        }
        Ok(Some(Value::Object(out)))
    }

    async fn counts(
        &self,
        organisation: &str,
        filters: &Filters,
        today: NaiveDate,
    ) -> Result<(BTreeMap<&'static str, usize>, bool), ServiceError> {
        let mut counts: BTreeMap<&'static str, usize> =
            WorkKind::ALL.iter().map(|k| (k.as_str(), 0)).collect();
        let mut cursor: Option<String> = None;
        let mut seen = 0;
        loop {
            let page = self
                .records
                .query(
                    &keys::worklist_partition(organisation),
                    &SortKeyCondition::All,
                    (COUNT_BUDGET - seen).min(crate::ports::records::MAX_PAGE),
                    false,
                    cursor.as_deref(),
                )
                .await?;
            seen += page.records.len();
            for r in &page.records {
                if filters.keeps(&r.data, today, false)
                    && let Some(k) = WorkKind::ALL.iter().find(|k| r.data["kind"] == k.as_str())
                {
                    *counts.entry(k.as_str()).or_default() += 1;
                }
            }
            match page.next {
                Some(next) if seen < COUNT_BUDGET => cursor = Some(next),
                Some(_) => return Ok((counts, false)),
                None => return Ok((counts, true)),
            }
        }
    }
}

fn item_view(data: &Value, child: Value, today: NaiveDate) -> Value {
    let due: Option<NaiveDate> = data["due_on"].as_str().and_then(|d| d.parse().ok());
    let days_overdue = due.map_or(0, |d| (today - d).num_days().max(0));
    json!({
        "id": data["id"],
        "kind": data["kind"],
        "due_on": data["due_on"],
        "days_overdue": days_overdue,
        "overdue": days_overdue > 0,
        "urgency": data["urgency"],
        "subject": data["subject"],
        "assignee": data["assignee"],
        "link": data["link"],
        "child": child,
    })
}
