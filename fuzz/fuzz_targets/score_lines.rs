//! The screening answers JSON on both input paths: `Engine::score_lines` (the `ravis score`
//! stream, answers streamed into per-item slots) on any bytes, and each line through the
//! owned path (`ScoreRequest` + `Engine::score`, what the worker runs). Never panics; one
//! output line per non-blank input line; a line the owned path scores gives the same result
//! on the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ravis::scoring::{Engine, ScoreRequest};
use std::sync::LazyLock;

static ENGINE: LazyLock<Engine> =
    LazyLock::new(|| Engine::builtin().expect("the shipped definitions compile"));

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let summary = ENGINE
        .score_lines(data, &mut out)
        .expect("writing to memory cannot fail");
    assert_eq!(summary.lines, summary.scored + summary.failed);
    let mut outputs = out.split(|&b| b == b'\n');
    for line in data.split(|&b| b == b'\n') {
        let text = std::str::from_utf8(line).map(|t| t.trim_end_matches(['\n', '\r']));
        if text.is_ok_and(|t| t.trim().is_empty()) {
            continue;
        }
        let output = outputs
            .next()
            .expect("one output line per non-blank input line");
        let output: serde_json::Value =
            serde_json::from_slice(output).expect("every output line is JSON");
        let Ok(text) = text else {
            continue;
        };
        let Ok(request) = serde_json::from_str::<ScoreRequest>(text) else {
            continue;
        };
        if let Ok(result) = ENGINE.score(&request) {
            let owned = serde_json::to_value(&result).expect("a result serialises");
            assert_eq!(output, owned, "the stream and the owned path disagree");
        }
    }
    assert_eq!(
        outputs.next(),
        Some(&b""[..]),
        "no output beyond the last line"
    );
});
