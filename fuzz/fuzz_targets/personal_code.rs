//! `PersonalCode::parse` on any text: never panics; a code it accepts is 11 digits, parses
//! again to itself from its normalised form, and survives a JSON round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ravis::domain::PersonalCode;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(code) = PersonalCode::parse(&text) else {
        return;
    };
    let digits = code.as_str();
    assert_eq!(digits.len(), 11);
    assert!(digits.bytes().all(|b| b.is_ascii_digit()));
    let again = PersonalCode::parse(digits).expect("a normalised code parses");
    assert_eq!(again, code);
    assert_eq!(again.birth_date(), code.birth_date());
    let hyphenated = format!("{}-{}", &digits[..6], &digits[6..]);
    assert_eq!(PersonalCode::parse(&hyphenated).as_ref(), Ok(&code));
    let json = serde_json::to_string(&code).expect("serialises");
    assert_eq!(serde_json::from_str::<PersonalCode>(&json).ok(), Some(code));
});
