//! Reading a whole partition: every page of a query, in key order, so use cases do not
//! write their own pagination loops.

use crate::ports::records::MAX_PAGE;
use crate::ports::{Record, RecordStore, SortKeyCondition, StoreError};

/// Every record of partition `pk` whose sort key meets `condition`, ascending.
pub async fn query_all<R: RecordStore>(
    records: &R,
    pk: &str,
    condition: &SortKeyCondition,
) -> Result<Vec<Record>, StoreError> {
    all_pages(records, pk, condition, false).await
}

/// Like [`query_all`], on the secondary index `gsi1`.
pub async fn query_index_all<R: RecordStore>(
    records: &R,
    pk: &str,
    condition: &SortKeyCondition,
) -> Result<Vec<Record>, StoreError> {
    all_pages(records, pk, condition, true).await
}

async fn all_pages<R: RecordStore>(
    records: &R,
    pk: &str,
    condition: &SortKeyCondition,
    index: bool,
) -> Result<Vec<Record>, StoreError> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = if index {
            records
                .query_index(pk, condition, MAX_PAGE, false, cursor.as_deref())
                .await?
        } else {
            records
                .query(pk, condition, MAX_PAGE, false, cursor.as_deref())
                .await?
        };
        out.extend(page.records);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(out),
        }
    }
}
