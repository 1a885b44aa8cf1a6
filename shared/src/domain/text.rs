//! Text helpers for rules that run once per row of a partner file.

/// Exactly `str::trim` (Unicode white space at both ends), without its character scan for
/// the usual value that starts and ends with a visible ASCII character.
#[inline]
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

/// Whether `text` (UTF-8) certainly has no control character and no white space other than the
/// ASCII space, so that `str::trim` removes only spaces from any part of it: no byte below
/// 0x20, no DEL, and none of the lead bytes `C2` (U+0080–U+00BF: the C1 controls, U+0085,
/// U+00A0) and `E1`–`E3` (U+1000–U+3FFF: every other Unicode white space). `false` may also
/// mean a harmless character of those ranges ('°', '–', '€'): callers then check fully.
pub fn plain(text: &[u8]) -> bool {
    !text
        .iter()
        .any(|&b| (b < 0x20) | (b == 0x7F) | (b == 0xC2) | (b.wrapping_sub(0xE1) < 3))
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
            "Bērziņa-Ozoliņa \u{1}",
            "abcdefgh\u{7F}",
            "abcdefghijklmnop\u{9F}",
            "Jānis Pēteris Kalniņš\u{A0}",
            "\u{1F}abcdefgh",
            "ĀĒĪŪČĢĶĻŅŠŽāēīūčģķļņšž",
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

    /// Every character up to U+0800 and a few beyond, at every position of values up to
    /// 17 bytes (both word boundaries of the eight-byte scan).
    #[test]
    fn chars_and_control_agree_with_char_at_every_position() {
        let chars = (0u32..0x800)
            .chain([0x2028, 0x3000, 0xFEFF, 0x1F600])
            .filter_map(char::from_u32);
        for c in chars {
            for before in 0..17 {
                for after in [0, 1, 8] {
                    let value = format!("{}{c}{}", "a".repeat(before), "b".repeat(after));
                    assert_eq!(
                        chars_and_control(&value),
                        (
                            value.trim().chars().count(),
                            value.chars().any(char::is_control)
                        ),
                        "{value:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn plain_text_has_no_control_and_no_white_space_but_the_space() {
        for value in [
            "",
            "Anna,Bērziņa;2024-01-01",
            "ĀĒĪŪČĢĶĻŅŠŽ",
            "x y",
            "Иван",
            "Kalniņš",
        ] {
            assert!(plain(value.as_bytes()), "{value:?}");
        }
        for value in [
            "a\tb",
            "\u{7F}",
            "x\u{85}",
            "\u{A0}",
            "\u{0}",
            "abcdefghijklmnopq\u{1F}",
            "a\u{3000}",
            "\u{2028}",
        ] {
            assert!(!plain(value.as_bytes()), "{value:?}");
        }
        for len in 0..50 {
            for at in 0..len {
                let mut bytes = vec![b'a'; len];
                for unusual in [0x00, 0x1F, 0x7F, 0xC2, 0xE1, 0xE3] {
                    bytes[at] = unusual;
                    assert!(!plain(&bytes), "{len} {at} {unusual:x}");
                }
                for usual in [b' ', b'~', 0xC4, 0xC5, 0xE0, 0xE4, 0x80] {
                    bytes[at] = usual;
                    assert!(plain(&bytes), "{len} {at} {usual:x}");
                }
            }
        }
        for c in (0u32..0x1_0000).filter_map(char::from_u32) {
            if plain(c.to_string().as_bytes()) {
                assert!(!c.is_control() && (c == ' ' || !c.is_whitespace()), "{c:?}");
                assert_eq!(format!(" {c} ").trim(), c.to_string().trim(), "{c:?}");
            }
        }
    }
}
