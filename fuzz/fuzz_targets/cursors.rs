//! Every page cursor a client can send back, through the code that reads it:
//! the catalogue's query string (`parse_query` + `ListQuery::from_params`), the registry
//! lists' cursors, the embedded stores' record and blob cursors, and with feature `aws` the
//! DynamoDB and S3 ones (`ravis::fuzzing`). Never panics; a cursor that is read once reads
//! the same again after being issued anew.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ravis::fuzzing;
use ravis::inbound::http::parse_query;
use ravis::ports::{IndexKey, Key, Record};
use ravis::services::catalogue::{ListQuery, encode_cursor};
use ravis::services::registry::listing::Listing;
use std::collections::BTreeMap;

fn record(key: &Key, isk: Option<&str>, part: &str) -> Record {
    let mut record = Record::new(key.clone(), serde_json::json!({}));
    record.index = isk.map(|sk| IndexKey {
        pk: part.to_owned(),
        sk: sk.to_owned(),
    });
    record
}

fuzz_target!(|data: &[u8]| {
    let [selector, rest @ ..] = data else {
        return;
    };
    let raw = String::from_utf8_lossy(rest);
    let raw = raw.as_ref();
    match selector % 7 {
        0 => {
            // The whole query string of GET /catalogue/entries.
            let params = parse_query(Some(raw));
            let query =
                ListQuery::from_params(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            if let Ok(ListQuery {
                after: Some(id), ..
            }) = query
            {
                let again = ListQuery::from_params([("cursor", encode_cursor(&id).as_str())]);
                assert_eq!(again.ok().and_then(|q| q.after), Some(id));
            }
        }
        1 => {
            let listing = Listing {
                pk: "ORG#fuzz".into(),
                prefix: "SPECIALIST#".into(),
                index: selector & 8 != 0,
            };
            let filters = BTreeMap::from([("status".to_owned(), "active".to_owned())]);
            if let Ok(store) = fuzzing::registry_list_cursor_decode(raw, &listing, &filters) {
                let issued = fuzzing::registry_list_cursor(&listing, &filters, &store);
                let again = fuzzing::registry_list_cursor_decode(&issued, &listing, &filters);
                assert_eq!(again.ok(), Some(store));
                assert!(
                    fuzzing::registry_list_cursor_decode(&issued, &listing, &BTreeMap::new())
                        .is_err(),
                    "a cursor is bound to its filters"
                );
            }
        }
        2 | 3 => {
            let on_index = selector % 7 == 3;
            let part = "CHILD#fuzz";
            if let Ok((key, isk)) = fuzzing::embedded_record_cursor_decode(raw, on_index, part) {
                assert_eq!(isk.is_some(), on_index);
                let issued = fuzzing::embedded_record_cursor(
                    &record(&key, isk.as_deref(), part),
                    on_index,
                    part,
                );
                let again = fuzzing::embedded_record_cursor_decode(&issued, on_index, part);
                assert_eq!(again.ok(), Some((key, isk)));
            }
        }
        4 => {
            if let Ok(after) = fuzzing::dir_blob_cursor_decode(raw) {
                let again = fuzzing::dir_blob_cursor_decode(&fuzzing::dir_blob_cursor(&after));
                assert_eq!(again.ok(), Some(after));
            }
        }
        #[cfg(feature = "aws")]
        5 => {
            let on_index = selector & 8 != 0;
            let _ = fuzzing::dynamodb_cursor_start_key(raw, on_index, "CHILD#fuzz");
        }
        #[cfg(feature = "aws")]
        6 => {
            if let Ok(token) = fuzzing::s3_cursor_decode(raw) {
                let again = fuzzing::s3_cursor_decode(&fuzzing::s3_cursor(&token));
                assert_eq!(again.ok(), Some(token));
            }
        }
        _ => {}
    }
});
