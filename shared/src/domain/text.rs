//! Text helpers for rules that run once per row of a partner file.

/// Exactly `str::trim` (Unicode white space at both ends), without its character scan for
/// the usual value that starts and ends with a visible ASCII character.
pub fn trim(value: &str) -> &str {
    match value.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => value,
        [only] if only.is_ascii_graphic() => value,
        _ => value.trim(),
    }
}

/// The number of characters of `value` trimmed (as [`trim`]) and whether `value` (untrimmed)
/// contains a control character (`char::is_control`: U+0000–U+001F, U+007F–U+009F). From
/// the bytes: C0 controls and DEL are single bytes, and only a `C2` lead byte starts a C1
/// control, so most values need no character decoding.
pub fn chars_and_control(value: &str) -> (usize, bool) {
    let bytes = value.as_bytes();
    let control = bytes.iter().any(|&b| b < 0x20 || b == 0x7F)
        || (bytes.contains(&0xC2) && value.chars().any(char::is_control));
    (trim(value).chars().count(), control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_is_str_trim() {
        for value in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\ta\u{0B}",
            "ā",
            " ā ",
            "\u{A0}x\u{2003}",
            "x\u{3000}",
            "Anna",
            "a b",
            "\u{85}a",
        ] {
            assert_eq!(trim(value), value.trim(), "{value:?}");
        }
    }

    #[test]
    fn chars_and_control_are_those_of_char() {
        for value in [
            "",
            "Anna",
            "Bērziņa",
            "a\tb",
            "\u{7F}",
            "x\u{80}",
            "x\u{9F}y",
            "\u{A0}",
            "\u{100}",
            "ĀĒ",
            "\u{1F}",
            " ",
            "\u{2028}",
            " Jānis ",
            "\u{85}ž\u{3000}",
            "\u{C2}\u{80}",
        ] {
            assert_eq!(
                chars_and_control(value),
                (
                    value.trim().chars().count(),
                    value.chars().any(char::is_control)
                ),
                "{value:?}"
            );
        }
    }
}
