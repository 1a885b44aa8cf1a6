//! The body of `POST /screenings` as the API reads it (`inbound::http::parse_json` into
//! `NewScreeningInput`), then its answers validated and scored by the engine as a submission
//! is: never panics, and validation agrees with scoring.
#![no_main]

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use ravis::inbound::http::{ApiRequest, parse_json};
use ravis::scoring::{ChildFacts, Engine, ScoreRequest, Sex};
use ravis::services::screenings::NewScreeningInput;
use std::sync::LazyLock;

static ENGINE: LazyLock<Engine> =
    LazyLock::new(|| Engine::builtin().expect("the shipped definitions compile"));

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let request = ApiRequest {
        method: Method::POST,
        path: "/screenings".into(),
        query: Vec::new(),
        headers,
        body: Bytes::copy_from_slice(data),
        request_id: "fuzz".into(),
    };
    let Ok(input) = parse_json::<NewScreeningInput>(&request) else {
        return;
    };
    let child = ChildFacts {
        birth_date: chrono::NaiveDate::from_ymd_opt(2024, 3, 1).expect("a date"),
        sex: Sex::Female,
        gestational_age_weeks: Some(u8::try_from(data.len() % 46).unwrap_or(40)),
    };
    let score = ScoreRequest {
        instrument: input.instrument,
        answers: input.answers,
        administered_on: input.administered_on,
        child,
        initial: None,
    };
    let valid = ENGINE.validate(&score);
    let scored = ENGINE.score(&score);
    assert_eq!(valid.is_ok(), scored.is_ok());
    if let Err(errors) = scored {
        assert!(!errors.is_empty());
    }
});
