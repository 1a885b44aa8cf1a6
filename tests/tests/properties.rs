//! Property runs (proptest) over the parsers of outside input — the entry points of the
//! cargo-fuzz targets in `fuzz/` (docs/FUZZING.md): no panics on arbitrary input, and round
//! trips where they apply (a valid personal code formatted and read again, a partner file
//! written and read back, a minted token verified, cursors issued and read, the ETag of a
//! version). Each property runs [`cases`] cases (256, or `PROPTEST_CASES`), so the module
//! takes a few seconds; a failure prints the smallest input found.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns

use bytes::Bytes;
use chrono::{Datelike, NaiveDate};
use http::{HeaderMap, HeaderValue, Method};
use proptest::prelude::*;
use ravis::config::{AuthSettings, JwtKey};
use ravis::domain::{Atvk, PersonalCode, Role};
use ravis::fuzzing;
use ravis::inbound::auth::{Authenticator, DevTokenRequest, mint_dev_token};
use ravis::inbound::http::{ApiRequest, parse_if_match, parse_json, parse_query};
use ravis::intake::Kind;
use ravis::intake::reader::{Format, RawRow, open_rows};
use ravis::ports::{IndexKey, Key, Record};
use ravis::scoring::{Engine, ScoreRequest, ScoringError};
use ravis::services::catalogue::{ListQuery, encode_cursor};
use ravis::services::registry::listing::Listing;
use ravis::services::screenings::NewScreeningInput;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Cases per property: 256 unless `PROPTEST_CASES` says otherwise. Nothing is persisted
/// (a failure is turned into a named regression test instead).
fn cases() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

static ENGINE: LazyLock<Engine> = LazyLock::new(|| Engine::builtin().unwrap());

// ---------------------------------------------------------------------------
// Personal codes and ATVK

/// The published check digit of an old-format code's first ten digits (the oracle:
/// `(1101 - Σ dᵢ·wᵢ) mod 11`, 10 meaning no valid code), written out apart from the parser.
fn published_check_digit(first_ten: &str) -> u32 {
    const WEIGHTS: [u32; 10] = [1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first_ten
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    (1101 - sum) % 11
}

/// A birth date an old-format code can carry: 1800-01-01 ..= 2017-06-30.
fn old_format_birth_date() -> impl Strategy<Value = NaiveDate> {
    let first = NaiveDate::from_ymd_opt(1800, 1, 1).unwrap();
    let last = NaiveDate::from_ymd_opt(2017, 6, 30).unwrap();
    (0..=(last - first).num_days()).prop_map(move |d| first + chrono::Duration::days(d))
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn personal_code_parser_never_panics(text in any::<String>(), near in "[0-9 -]{10,13}") {
        for input in [text.as_str(), near.as_str()] {
            if let Ok(code) = PersonalCode::parse(input) {
                prop_assert_eq!(PersonalCode::parse(code.as_str()), Ok(code));
            }
        }
    }

    #[test]
    fn old_format_code_formatted_and_read_again(date in old_format_birth_date(), serial in 0u32..1000) {
        let century = (date.year() / 100 - 18) as u32;
        let first_ten = format!(
            "{:02}{:02}{:02}{century}{serial:03}",
            date.day(),
            date.month(),
            date.year() % 100
        );
        let check = published_check_digit(&first_ten);
        prop_assume!(check < 10);
        let digits = format!("{first_ten}{check}");
        let code = PersonalCode::parse(&digits).unwrap();
        prop_assert_eq!(code.as_str(), digits.as_str());
        prop_assert_eq!(code.birth_date(), Some(date));
        let hyphenated = format!("{}-{}", &digits[..6], &digits[6..]);
        prop_assert_eq!(PersonalCode::parse(&hyphenated), Ok(code.clone()));
        let json = serde_json::to_string(&code).unwrap();
        prop_assert_eq!(serde_json::from_str::<PersonalCode>(&json).unwrap(), code);
        // Any other last digit is refused.
        let wrong = format!("{first_ten}{}", (check + 1) % 10);
        prop_assert!(PersonalCode::parse(&wrong).is_err());
    }

    #[test]
    fn new_format_code_formatted_and_read_again(digits in "3[2-9][0-9]{9}") {
        let code = PersonalCode::parse(&digits).unwrap();
        prop_assert!(code.is_new_format());
        prop_assert_eq!(code.as_str(), digits.as_str());
        let hyphenated = format!("{}-{}", &digits[..6], &digits[6..]);
        prop_assert_eq!(PersonalCode::parse(&hyphenated), Ok(code));
    }

    #[test]
    fn atvk_parser_never_panics_and_codes_round_trip(text in any::<String>(), digits in "[0-9]{7}", scope in "[0-9]{4}(00|[0-9]{2})[0-9]") {
        if let Ok(code) = Atvk::parse(&text) {
            prop_assert_eq!(Atvk::parse(code.as_str()), Ok(code));
        }
        let code = Atvk::parse(&digits).unwrap();
        prop_assert_eq!(code.as_str(), digits.as_str());
        prop_assert_eq!(code.to_string(), digits.clone());
        prop_assert!(code.is_within(&code));
        let territory = Atvk::parse(&format!("{}000", code.territory_code())).unwrap();
        prop_assert!(code.is_within(&territory));
        let scope = Atvk::parse(&scope).unwrap();
        let expected = if scope.is_territory() {
            code.territory_code() == scope.territory_code()
        } else {
            code == scope
        };
        prop_assert_eq!(code.is_within(&scope), expected);
    }
}

// ---------------------------------------------------------------------------
// Partner files

/// Hands out at most `chunk` bytes per read, as a network stream may.
struct Chunked<'a> {
    bytes: &'a [u8],
    chunk: usize,
}

impl std::io::Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

/// Reads every row of a file (at most 1,000), or the error that refused it.
fn read_all(bytes: &[u8], format: Format, kind: Kind) -> Result<Vec<RawRow>, String> {
    read_chunked(bytes, usize::MAX, format, kind)
}

/// [`read_all`] in reads of at most `chunk` bytes.
fn read_chunked(
    bytes: &[u8],
    chunk: usize,
    format: Format,
    kind: Kind,
) -> Result<Vec<RawRow>, String> {
    let rows =
        open_rows(Chunked { bytes, chunk }, format, kind.columns()).map_err(|e| e.to_string())?;
    rows.take(1000)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// A cell value as a partner writes it: letters (Latvian ones too), digits, separators,
/// quotes, spaces, sometimes empty.
fn cell() -> impl Strategy<Value = String> {
    "[a-zA-Zāčēģīķļņšūž0-9 ,;\"'-]{0,12}"
}

/// A CSV field written with quotes (inner quotes doubled), as spreadsheets export them.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn partner_file_reader_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        text in "[a-z_,;\"\n\r {}:0-9\u{feff}ā]{0,300}",
        kind in 0..Kind::ALL.len(),
        json_lines: bool,
        chunk in prop_oneof![1usize..8, Just(usize::MAX)],
    ) {
        let kind = Kind::ALL[kind];
        let format = if json_lines { Format::JsonLines } else { Format::Csv };
        // With the kind's header in front, the rows themselves are reached too.
        let header = kind.columns().join(",");
        let mut headed_bytes = format!("{header}\n").into_bytes();
        headed_bytes.extend_from_slice(&bytes);
        for input in [bytes.clone(), headed_bytes, text.clone().into_bytes(), format!("{header}\n{text}").into_bytes()] {
            if let Ok(rows) = read_chunked(&input, chunk, format, kind) {
                for (i, row) in rows.iter().enumerate() {
                    let number = match row {
                        RawRow::Values { row, values } => {
                            prop_assert_eq!(values.len(), kind.columns().len());
                            row
                        }
                        RawRow::Malformed { row, errors } => {
                            prop_assert!(!errors.is_empty());
                            row
                        }
                    };
                    prop_assert_eq!(*number, i as u64 + 1);
                }
            }
        }
    }

    #[test]
    fn partner_file_written_and_read_back(
        rows in prop::collection::vec(prop::collection::vec(cell(), 7), 1..20),
        semicolons: bool,
        bom: bool,
        crlf: bool,
    ) {
        let kind = Kind::Children;
        let columns = kind.columns();
        let expected: Vec<Vec<Option<String>>> = rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|v| Some(v.trim().to_owned()).filter(|v| !v.is_empty()))
                    .collect()
            })
            .collect();

        let separator = if semicolons { ";" } else { "," };
        let newline = if crlf { "\r\n" } else { "\n" };
        let mut csv = String::from(if bom { "\u{feff}" } else { "" });
        csv.push_str(&columns.join(separator));
        for row in &rows {
            csv.push_str(newline);
            csv.push_str(&row.iter().map(|v| quoted(v)).collect::<Vec<_>>().join(separator));
        }
        let mut jsonl = String::new();
        for row in &rows {
            let object: serde_json::Map<String, Value> = columns
                .iter()
                .zip(row)
                .map(|(c, v)| ((*c).to_owned(), json!(v)))
                .collect();
            jsonl.push_str(&serde_json::to_string(&object).unwrap());
            jsonl.push_str(newline);
        }
        for (file, format) in [(csv, Format::Csv), (jsonl, Format::JsonLines)] {
            let read = read_all(file.as_bytes(), format, kind).unwrap();
            prop_assert_eq!(read.len(), rows.len());
            for (i, (row, want)) in read.iter().zip(&expected).enumerate() {
                match row {
                    RawRow::Values { row, values } => {
                        prop_assert_eq!(*row, i as u64 + 1);
                        prop_assert_eq!(values, want);
                    }
                    RawRow::Malformed { errors, .. } => {
                        prop_assert!(false, "{format:?} row {} refused: {errors:?}", i + 1);
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Screening answers and the submission body

/// An answer value: mostly a code, sometimes anything the JSON can hold.
fn answer_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => (0i64..3).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| json!(f)),
        1 => Just(Value::Null),
        1 => "[a-z0-9]{0,3}".prop_map(Value::from),
        1 => Just(json!([1])),
        1 => Just(json!({"a": 1})),
    ]
}

/// An answers object: item ids of the shipped instruments, and some that are not.
fn answers() -> impl Strategy<Value = BTreeMap<String, Value>> {
    prop::collection::btree_map(
        prop_oneof![
            4 => (1u32..=40).prop_map(|n| n.to_string()),
            1 => "[a-z0-9]{1,4}",
        ],
        answer_value(),
        0..45,
    )
}

fn instrument() -> impl Strategy<Value = String> {
    let known: Vec<String> = ENGINE.instrument_ids().map(str::to_owned).collect();
    prop_oneof![
        4 => prop::sample::select(known),
        1 => "[a-z-]{0,10}",
    ]
}

fn date_between(first: (i32, u32, u32), days: i64) -> impl Strategy<Value = NaiveDate> {
    let first = NaiveDate::from_ymd_opt(first.0, first.1, first.2).unwrap();
    (0..days).prop_map(move |d| first + chrono::Duration::days(d))
}

fn screening_request() -> impl Strategy<Value = Value> {
    (
        instrument(),
        answers(),
        date_between((2024, 1, 1), 1500),
        date_between((2008, 1, 1), 6500),
        prop::sample::select(vec!["female", "male", "other"]),
        prop::option::of(20u8..45),
    )
        .prop_map(
            |(instrument, answers, administered_on, birth_date, sex, weeks)| {
                json!({
                    "instrument": instrument,
                    "answers": answers,
                    "administered_on": administered_on,
                    "child": {"birth_date": birth_date, "sex": sex, "gestational_age_weeks": weeks},
                })
            },
        )
}

fn post_screening(body: Vec<u8>) -> ApiRequest {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    ApiRequest {
        method: Method::POST,
        path: "/screenings".into(),
        query: Vec::new(),
        headers,
        body: Bytes::from(body),
        request_id: "properties".into(),
    }
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn score_lines_never_panics_and_answers_every_line(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        text in "[{}\\[\\]\":,0-9a-z_\n -]{0,300}",
    ) {
        for input in [bytes, text.into_bytes()] {
            let mut out = Vec::new();
            let summary = ENGINE.score_lines(input.as_slice(), &mut out).unwrap();
            prop_assert_eq!(summary.lines, summary.scored + summary.failed);
            let output_lines = out.iter().filter(|&&b| b == b'\n').count() as u64;
            prop_assert_eq!(output_lines, summary.lines);
        }
    }

    #[test]
    fn the_stream_scores_a_request_as_the_owned_path_does(request in screening_request()) {
        let line = serde_json::to_string(&request).unwrap();
        let mut out = Vec::new();
        ENGINE.score_lines(line.as_bytes(), &mut out).unwrap();
        let streamed: Value = serde_json::from_slice(&out).unwrap();
        let owned = serde_json::from_value::<ScoreRequest>(request)
            .map_err(|e| vec![ScoringError::new("", e.to_string())])
            .and_then(|request| ENGINE.score(&request));
        match owned {
            Ok(result) => prop_assert_eq!(streamed, serde_json::to_value(&result).unwrap()),
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                prop_assert!(streamed.get("errors").is_some(), "the stream scored what the owned path refused: {streamed}");
            }
        }
    }

    #[test]
    fn screening_body_parser_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        request in screening_request(),
        child in prop::sample::select(vec![
            json!("0190b3c4-5d6e-7f80-9a1b-2c3d4e5f6071"), json!("not-a-uuid"), json!(7), Value::Null,
        ]),
        cut in 0usize..400,
    ) {
        let mut body = request;
        body["child_id"] = child.clone();
        body.as_object_mut().unwrap().remove("child");
        let text = serde_json::to_vec(&body).unwrap();
        let truncated = text[..cut.min(text.len())].to_vec();
        for input in [bytes, truncated, text] {
            let parsed = parse_json::<NewScreeningInput>(&post_screening(input.clone()));
            if let Err(problem) = parsed {
                prop_assert!(problem.status == 400 || problem.status == 422, "status {}", problem.status);
            }
        }
        // A whole body with a UUID is read as it was written.
        if child.is_string() && child != json!("not-a-uuid") {
            let input = parse_json::<NewScreeningInput>(&post_screening(serde_json::to_vec(&body).unwrap())).unwrap();
            prop_assert_eq!(json!(input.child_id), child);
            prop_assert_eq!(json!(input.instrument), body["instrument"].clone());
            let read = json!(input.answers);
            let read = read.as_object().unwrap();
            let written = body["answers"].as_object().unwrap();
            prop_assert_eq!(read.len(), written.len());
            for (key, value) in written {
                // serde_json reads a decimal to within one unit in the last place (its
                // `float_roundtrip` is off); answers are integer codes and a decimal is refused
                // whatever its value, so only its being a decimal must survive.
                if value.is_f64() {
                    prop_assert!(read[key].is_f64());
                } else {
                    prop_assert_eq!(&read[key], value);
                }
            }
            prop_assert_eq!(json!(input.administered_on), body["administered_on"].clone());
        }
    }
}

// ---------------------------------------------------------------------------
// Bearer tokens

const SECRET: &[u8] = b"properties-secret-0123456789abcd";

static VERIFIER: LazyLock<Authenticator> = LazyLock::new(|| {
    Authenticator::new(&AuthSettings {
        issuer: "https://idp.example".into(),
        audience: vec!["ravis-api".into()],
        algorithms: vec![jsonwebtoken::Algorithm::HS256],
        key: JwtKey::Hs256Secret(SECRET.to_vec()),
        leeway_seconds: 0,
    })
    .unwrap()
});

fn authenticate(value: &str) -> Result<ravis::domain::Principal, ravis::inbound::problem::Problem> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(VERIFIER.authenticate(Some(value)))
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn any_authorization_value_is_refused_without_panicking(
        text in any::<String>(),
        parts in prop::collection::vec("[A-Za-z0-9_=+/-]{0,40}", 0..5),
    ) {
        let dotted = format!("Bearer {}", parts.join("."));
        for value in [text.as_str(), dotted.as_str()] {
            let problem = authenticate(value).unwrap_err();
            prop_assert_eq!(problem.status, 401);
        }
    }

    #[test]
    fn a_minted_token_is_verified_to_its_principal(
        subject in "[a-zA-Z0-9@._-]{1,30}",
        organisation in "[a-z0-9-]{1,20}",
        roles in prop::sample::subsequence(Role::ALL.to_vec(), 1..=Role::ALL.len()),
        territory in prop::option::of("[0-9]{7}"),
        purpose in prop::option::of("[a-z ]{1,20}"),
    ) {
        let territory = territory.map(|t| Atvk::parse(&t).unwrap());
        let now = jsonwebtoken::get_current_timestamp();
        let token = mint_dev_token(SECRET, &DevTokenRequest {
            issuer: "https://idp.example",
            audience: "ravis-api",
            subject: &subject,
            roles: &roles,
            organisation: &organisation,
            territory: territory.as_ref(),
            purpose: purpose.as_deref(),
            issued_at: now - 1,
            lifetime_seconds: 600,
        }).unwrap();
        let principal = authenticate(&format!("Bearer {token}")).unwrap();
        prop_assert_eq!(principal.subject, subject);
        prop_assert_eq!(principal.roles, roles);
        prop_assert_eq!(principal.organisation, organisation);
        prop_assert_eq!(principal.territory, territory);
        prop_assert_eq!(principal.purpose, purpose);
        // One flipped character of the signature and the token is refused.
        let mut forged = token.into_bytes();
        let last = forged.len() - 2;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        prop_assert_eq!(authenticate(&format!("Bearer {forged}")).unwrap_err().status, 401);
    }
}

// ---------------------------------------------------------------------------
// If-Match and cursors

fn record(key: &Key, isk: Option<&str>, part: &str) -> Record {
    let mut record = Record::new(key.clone(), json!({}));
    record.index = isk.map(|sk| IndexKey {
        pk: part.to_owned(),
        sk: sk.to_owned(),
    });
    record
}

/// A catalogue entry id as `is_valid_id` accepts it.
fn catalogue_id() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z0-9]{1,8}", 1..5).prop_map(|parts| parts.join("-"))
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn if_match_reads_the_etag_of_a_version(version: u64, text in any::<String>()) {
        prop_assert_eq!(parse_if_match(Some(&format!("\"{version}\""))).ok(), Some(version));
        prop_assert_eq!(parse_if_match(Some(&format!("W/\"{version}\""))).ok(), Some(version));
        prop_assert_eq!(parse_if_match(Some(&format!(" \"{version}\" "))).ok(), Some(version));
        if let Ok(read) = parse_if_match(Some(&text)) {
            prop_assert_eq!(parse_if_match(Some(&format!("\"{read}\""))).ok(), Some(read));
        }
    }

    #[test]
    fn catalogue_cursor_round_trips(id in catalogue_id(), query in any::<String>(), raw in "[A-Za-z0-9_-]{0,40}") {
        let cursor = encode_cursor(&id);
        let parsed = ListQuery::from_params([("cursor", cursor.as_str())]).unwrap();
        prop_assert_eq!(parsed.after, Some(id));
        // Any query string or cursor: a value or a validation error, never a panic.
        let params = parse_query(Some(&query));
        let _ = ListQuery::from_params(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Ok(ListQuery { after: Some(id), .. }) = ListQuery::from_params([("cursor", raw.as_str())]) {
            let again = ListQuery::from_params([("cursor", encode_cursor(&id).as_str())]).unwrap();
            prop_assert_eq!(again.after, Some(id));
        }
    }

    #[test]
    fn registry_list_cursor_round_trips_and_is_bound_to_its_filters(
        store_cursor in any::<String>(),
        status in "[a-z]{1,8}",
        other in "[a-z]{1,8}",
        index: bool,
        raw in any::<String>(),
    ) {
        let listing = Listing { pk: "ORG#o1".into(), prefix: "SPECIALIST#".into(), index };
        let filters = BTreeMap::from([("status".to_owned(), status.clone())]);
        let issued = fuzzing::registry_list_cursor(&listing, &filters, &store_cursor);
        prop_assert_eq!(
            fuzzing::registry_list_cursor_decode(&issued, &listing, &filters).ok(),
            Some(store_cursor)
        );
        if other != status {
            let others = BTreeMap::from([("status".to_owned(), other)]);
            prop_assert!(fuzzing::registry_list_cursor_decode(&issued, &listing, &others).is_err());
        }
        prop_assert!(fuzzing::registry_list_cursor_decode(&raw, &listing, &filters).is_err());
    }

    #[test]
    fn store_cursors_round_trip(
        pk in any::<String>(),
        sk in any::<String>(),
        isk in any::<String>(),
        on_index: bool,
        raw in any::<String>(),
        b64 in "[A-Za-z0-9_-]{0,60}",
    ) {
        let part = "CHILD#c1";
        let key = Key::new(pk.clone(), sk.clone());
        let isk = on_index.then_some(isk);
        let rec = record(&key, isk.as_deref(), part);

        // The embedded record store.
        let cursor = fuzzing::embedded_record_cursor(&rec, on_index, part);
        prop_assert_eq!(
            fuzzing::embedded_record_cursor_decode(&cursor, on_index, part).unwrap(),
            (key.clone(), isk.clone())
        );
        prop_assert!(fuzzing::embedded_record_cursor_decode(&cursor, !on_index, part).is_err());
        prop_assert!(fuzzing::embedded_record_cursor_decode(&cursor, on_index, "CHILD#c2").is_err());

        // DynamoDB: the start key holds the record's key (and the index key on the index).
        let cursor = fuzzing::dynamodb_cursor(&rec, on_index);
        let start = fuzzing::dynamodb_cursor_start_key(&cursor, on_index, if on_index { part } else { &pk }).unwrap();
        let values: Vec<&str> = start.iter().map(|(_, v)| v.as_str()).collect();
        prop_assert!(values.contains(&pk.as_str()) && values.contains(&sk.as_str()));
        if let Some(isk) = &isk {
            prop_assert!(values.contains(&isk.as_str()));
        }

        // The blob stores' listing cursors.
        let cursor = fuzzing::dir_blob_cursor(&sk);
        prop_assert_eq!(fuzzing::dir_blob_cursor_decode(&cursor).unwrap(), sk.clone());
        if !sk.is_empty() {
            prop_assert_eq!(fuzzing::s3_cursor_decode(&fuzzing::s3_cursor(&sk)).unwrap(), sk);
        }

        // Anything else: refused or read, never a panic.
        for raw in [raw.as_str(), b64.as_str()] {
            let _ = fuzzing::embedded_record_cursor_decode(raw, on_index, part);
            let _ = fuzzing::dynamodb_cursor_start_key(raw, on_index, part);
            let _ = fuzzing::dir_blob_cursor_decode(raw);
            let _ = fuzzing::s3_cursor_decode(raw);
        }
    }
}
