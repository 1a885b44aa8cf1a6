//! `Atvk::parse` on any text, and the territory rules between two parsed codes: never
//! panics; an accepted code parses again to itself and lies within itself and its territory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ravis::domain::Atvk;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The whole input, and its two halves around the first `|` (a code and a scope).
    let (a, b) = text.split_once('|').unwrap_or((&text, ""));
    let codes: Vec<Atvk> = [&*text, a, b]
        .into_iter()
        .filter_map(|t| Atvk::parse(t).ok())
        .collect();
    for code in &codes {
        assert_eq!(Atvk::parse(code.as_str()).as_ref(), Ok(code));
        assert!(code.is_within(code));
        let territory = Atvk::parse(&format!("{}000", code.territory_code()))
            .expect("a territory code is an ATVK code");
        assert!(territory.is_territory());
        assert!(code.is_within(&territory));
        for other in &codes {
            let _ = code.is_within(other);
        }
    }
});
