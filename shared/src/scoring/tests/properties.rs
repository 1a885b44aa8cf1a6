//! Property tests with a hand-rolled generator: scoring never panics on arbitrary answer maps,
//! `validate` agrees with `score`, the JSON-lines fast path agrees with the owned path, and
//! every result is internally consistent.

use super::*;
use crate::scoring::answers::AnswerSet;
use crate::scoring::outcome::Scratch;
use serde_json::{Value, json};

/// SplitMix64: small, deterministic, good enough to explore inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// An answer value: a valid code, or (when `noisy`, one time in five) anything at all.
fn answer_value(rng: &mut Rng, codes: i64, noisy: bool) -> Value {
    if !noisy || rng.percent(80) {
        return json!(rng.range(0, codes - 1));
    }
    match rng.below(10) {
        0 => json!(rng.range(-3, 10)),
        1 => json!(u64::MAX - rng.below(5)),
        2 => json!(rng.range(0, 3) as f64 + 0.5),
        3 => json!("1"),
        4 => Value::Null,
        5 => json!(true),
        6 => json!([1]),
        7 => json!({"a": 1}),
        8 => json!(-9_223_372_036_854_775_808i64),
        _ => json!(codes),
    }
}

fn answers_for(rng: &mut Rng, instrument: &str, fill: u64, noisy: bool) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    if let Some(def) = engine().instrument(instrument) {
        for item in &def.items {
            if rng.percent(fill) {
                let codes = def.codings[&item.coding].scores.len() as i64;
                out.push((item.id.clone(), answer_value(rng, codes, noisy)));
            }
        }
    }
    if noisy && rng.percent(30) {
        let key = rng.pick(&[
            "99",
            "07",
            "x",
            "",
            "1 ",
            "impact_home",
            "difficulties",
            "0",
        ]);
        out.push(((*key).to_owned(), answer_value(rng, 3, noisy)));
    }
    out
}

/// M-CHAT-R answers with `at_risk` items at risk ("no" is at risk except items 2, 5, 12).
fn mchat_answers(at_risk: &[u64]) -> serde_json::Map<String, Value> {
    (1..=20u64)
        .map(|i| {
            let risk = u64::from(matches!(i, 2 | 5 | 12));
            let answer = if at_risk.contains(&i) { risk } else { 1 - risk };
            (i.to_string(), json!(answer))
        })
        .collect()
}

/// One JSON request line with shuffled keys and, sometimes, repeated answer keys.
fn random_line(rng: &mut Rng) -> String {
    let ids: Vec<&str> = engine().instrument_ids().collect();
    let instrument = if rng.percent(4) {
        "no-such-instrument"
    } else {
        *rng.pick(&ids)
    };
    let (min, max) = engine().instrument(instrument).map_or((0, 200), |d| {
        (d.age_range.min_months, d.age_range.max_months)
    });
    let birth = date("2005-01-01") + chrono::Days::new(rng.below(8000));
    let months = rng.range(i64::from(min) - 3, i64::from(max) + 3);
    let administered = if months >= 0 {
        birth.checked_add_months(chrono::Months::new(months as u32))
    } else {
        birth.checked_sub_months(chrono::Months::new((-months) as u32))
    }
    .and_then(|d| d.checked_add_days(chrono::Days::new(rng.below(31))))
    .unwrap_or(birth);
    let noisy = rng.percent(30);
    let ga = match rng.below(20) {
        0..=3 => Value::Null,
        4 if noisy => json!(rng.range(0, 255)),
        _ => json!(rng.range(24, 42)),
    };
    let sex = *rng.pick(&["female", "male"]);

    // Mostly complete forms, sometimes sparse ones (missing-data rules).
    let fill = if rng.percent(60) { 100 } else { rng.below(101) };
    // A Follow-Up asks about the initial screening's items at risk.
    let at_risk: Vec<u64> = (1..=20).filter(|_| rng.percent(25)).collect();
    let mut answers = if instrument == "mchat-rf" && !noisy {
        at_risk
            .iter()
            .map(|i| (i.to_string(), json!(rng.below(2))))
            .collect()
    } else {
        answers_for(rng, instrument, fill, noisy)
    };
    if rng.percent(5) && !answers.is_empty() {
        let dup = answers[rng.below(answers.len() as u64) as usize].0.clone();
        answers.push((dup, answer_value(rng, 3, noisy)));
    }
    // Shuffle the answers' order.
    for i in (1..answers.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        answers.swap(i, j);
    }
    let answers_json = answers
        .iter()
        .map(|(k, v)| format!("{}: {v}", Value::from(k.as_str())))
        .collect::<Vec<_>>()
        .join(", ");

    let mut fields = vec![
        format!("\"instrument\": {}", Value::from(instrument)),
        format!("\"answers\": {{{answers_json}}}"),
        format!("\"administered_on\": \"{administered}\""),
        format!(
            "\"child\": {{\"birth_date\": \"{birth}\", \"sex\": \"{sex}\", \"gestational_age_weeks\": {ga}}}"
        ),
    ];
    let wants_initial = if instrument == "mchat-rf" {
        rng.percent(90)
    } else {
        rng.percent(3)
    };
    if wants_initial {
        let initial_on = administered
            .checked_sub_days(chrono::Days::new(rng.below(20)))
            .unwrap_or(administered);
        let init: serde_json::Map<String, Value> = if noisy {
            answers_for(rng, "mchat-r", 97, noisy).into_iter().collect()
        } else {
            mchat_answers(&at_risk)
        };
        fields.push(format!(
            "\"initial\": {}",
            json!({"instrument": "mchat-r", "administered_on": initial_on.to_string(), "answers": init})
        ));
    }
    for i in (1..fields.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        fields.swap(i, j);
    }
    format!("{{{}}}", fields.join(", "))
}

/// Internal consistency of a result against its definition.
fn check_result(line: &str, r: &ScoreResult) {
    let def = engine()
        .instrument(&r.instrument)
        .expect("known instrument");
    let ids: Vec<&str> = def.scores.iter().map(|s| s.id.as_str()).collect();
    let mut keys: Vec<&str> = r.scores.keys().map(String::as_str).collect();
    let mut sorted_ids = ids.clone();
    sorted_ids.sort_unstable();
    keys.sort_unstable();
    assert_eq!(keys, sorted_ids, "{line}");
    let banded = &def.norms.tables[0].bands;
    for (id, s) in &r.scores {
        if s.band.is_some() {
            assert!(s.value.is_some(), "a band needs a value: {line}");
        }
        if s.value.is_some() && banded.contains_key(id) {
            assert!(s.band.is_some(), "bands cover every value of {id}: {line}");
        }
    }
    for rec in &r.recommendations {
        assert!(r.explanation.iter().any(|e| e.rule == rec.rule), "{line}");
    }
    let mut flags = r.flags.clone();
    flags.sort();
    flags.dedup();
    assert_eq!(flags.len(), r.flags.len(), "flags are unique: {line}");
    if r.flags.iter().any(|f| f == "self_harm") {
        assert_eq!(r.risk_level, RiskLevel::Urgent, "{line}");
    }
}

#[test]
fn arbitrary_requests_never_panic_and_all_paths_agree() {
    let mut rng = Rng(0x005e_ed0f_5c0e);
    let mut set = AnswerSet::default();
    let mut scratch = Scratch::default();
    let (mut scored, mut rejected) = (0, 0);
    let mut per_instrument: BTreeMap<String, usize> = BTreeMap::new();
    let mut input = String::new();
    // What `score_lines` must print for each line: the owned path's result or errors.
    let mut expected: Vec<Option<String>> = Vec::new();
    for n in 1..=6000u64 {
        let line = random_line(&mut rng);
        input.push_str(&line);
        input.push('\n');
        let fast = engine()
            .score_line(&line, &mut set, &mut scratch)
            .map(|outcome| outcome.to_result(&scratch));
        match serde_json::from_str::<ScoreRequest>(&line) {
            Ok(req) => {
                let owned = engine().score(&req);
                assert_eq!(fast, owned, "fast and owned paths differ on {line}");
                assert_eq!(engine().validate(&req).is_ok(), owned.is_ok(), "{line}");
                match owned {
                    Ok(r) => {
                        check_result(&line, &r);
                        *per_instrument.entry(r.instrument.clone()).or_default() += 1;
                        scored += 1;
                        expected.push(Some(serde_json::to_string(&r).expect("serialises")));
                    }
                    Err(errors) => {
                        assert!(!errors.is_empty(), "{line}");
                        rejected += 1;
                        let errors = serde_json::to_string(&errors).expect("serialises");
                        expected.push(Some(format!("{{\"line\":{n},\"errors\":{errors}}}")));
                    }
                }
            }
            Err(_) => {
                assert!(fast.is_err(), "the owned path rejects {line}");
                expected.push(None);
            }
        }
    }
    // The JSON written straight from the scratch is byte-identical to the owned result's.
    let mut out = Vec::new();
    engine()
        .score_lines(input.as_bytes(), &mut out)
        .expect("in-memory I/O");
    let out = String::from_utf8(out).expect("UTF-8");
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got.len(), expected.len());
    for (n, (got, want)) in got.iter().zip(&expected).enumerate() {
        match want {
            Some(want) => assert_eq!(got, want, "line {}", n + 1),
            None => assert!(
                got.starts_with(&format!("{{\"line\":{},\"errors\":[{{", n + 1)),
                "{got}"
            ),
        }
    }
    // The generator explores both sides.
    assert!(
        scored > 1000 && rejected > 1000,
        "scored {scored}, rejected {rejected}"
    );
    assert_eq!(
        per_instrument.len(),
        engine().instrument_ids().count(),
        "{per_instrument:?}"
    );
    assert!(
        per_instrument.values().all(|&n| n >= 20),
        "{per_instrument:?}"
    );
}

#[test]
fn mangled_lines_never_panic_and_each_gets_one_output_line() {
    let mut rng = Rng(42);
    let mut input = String::new();
    let mut expected = 0;
    for _ in 0..3000 {
        let mut line = random_line(&mut rng);
        match rng.below(4) {
            0 => {
                let cut = rng.below(line.len() as u64) as usize;
                line.truncate(line.floor_char_boundary(cut));
            }
            1 => {
                let at = line.floor_char_boundary(rng.below(line.len() as u64) as usize);
                line.insert(at, *rng.pick(&['{', '"', ',', ':', 'x', ']', '\\']));
            }
            _ => {}
        }
        if !line.trim().is_empty() {
            expected += 1;
        }
        input.push_str(&line);
        input.push('\n');
    }
    let mut out = Vec::new();
    let summary = engine()
        .score_lines(input.as_bytes(), &mut out)
        .expect("in-memory I/O");
    assert_eq!(summary.lines, expected);
    assert_eq!(summary.scored + summary.failed, expected);
    let text = String::from_utf8(out).expect("UTF-8");
    assert_eq!(text.lines().count() as u64, expected);
    for l in text.lines() {
        let v: Value = serde_json::from_str(l).expect("JSON");
        assert!(
            v.get("instrument").is_some()
                || v.get("errors")
                    .is_some_and(|e| !e.as_array().is_some_and(Vec::is_empty))
        );
    }
}
