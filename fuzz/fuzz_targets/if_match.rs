//! `inbound::http::parse_if_match` on any header value: never panics, and a version it
//! reads is read again from the ETag this API issues for it (`"n"`, weak or strong).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ravis::inbound::http::parse_if_match;

fuzz_target!(|data: &[u8]| {
    // As the request gives it: a header value is text only when it is visible ASCII.
    let Ok(value) = http::HeaderValue::from_bytes(data) else {
        return;
    };
    let Ok(text) = value.to_str() else {
        return;
    };
    if let Ok(version) = parse_if_match(Some(text)) {
        assert_eq!(
            parse_if_match(Some(&format!("\"{version}\""))).ok(),
            Some(version)
        );
        assert_eq!(
            parse_if_match(Some(&format!("W/\"{version}\""))).ok(),
            Some(version)
        );
    }
});
