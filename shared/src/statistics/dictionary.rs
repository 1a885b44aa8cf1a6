//! Distinct texts numbered in order of first appearance, without an allocation per text:
//! the dictionary of a decoded lake column (`columnar::Strings`) and the numbering of the
//! children across the files a report reads (`indicators::Facts::child`).
//!
//! The texts are kept one after another in one `String`; an open-addressing table of
//! numbers, probed by a fast hash of the content, finds a text's number. The texts come
//! from RAVIS's own files, so the hash needs no defence against flooding.

use std::hash::Hasher;

/// Distinct texts, each with its number (0, 1, 2, … in order of first appearance).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dictionary {
    /// The texts, one after another.
    text: String,
    /// End offset in `text` of each text.
    ends: Vec<usize>,
    /// Content → number: an open-addressing table of numbers ([`Dictionary::NONE`]: an empty
    /// slot), probed by the hash of the content.
    slots: Vec<u32>,
    /// The hash of each text (while numbering; dropped by [`Dictionary::finish`]).
    hashes: Vec<u64>,
}

impl Dictionary {
    /// No number (an empty slot; a null's code in `columnar::Strings`).
    pub const NONE: u32 = u32::MAX;

    /// Number of distinct texts.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The text numbered `number`; `None` past the end (and for [`Dictionary::NONE`]).
    pub fn value(&self, number: u32) -> Option<&str> {
        let number = usize::try_from(number).ok()?;
        let end = *self.ends.get(number)?;
        let start = if number == 0 {
            0
        } else {
            self.ends[number - 1]
        };
        self.text.get(start..end)
    }

    /// The number of `value`, numbering it when it is new.
    pub fn number(&mut self, value: &str) -> u32 {
        if self.slots.len() < 2 * (self.ends.len() + 1) || self.hashes.len() != self.ends.len() {
            self.grow();
        }
        let hash = hash_of(value);
        let mask = self.slots.len() - 1;
        let mut slot = slot_of(hash, self.slots.len());
        loop {
            let number = self.slots[slot];
            if number == Self::NONE {
                let number = u32::try_from(self.ends.len()).unwrap_or(Self::NONE - 1);
                self.text.push_str(value);
                self.ends.push(self.text.len());
                self.hashes.push(hash);
                self.slots[slot] = number;
                return number;
            }
            if self.hashes[number as usize] == hash && self.value(number) == Some(value) {
                return number;
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Doubles the table (at least 64 slots) and places every known text again (hashing
    /// them again after [`Dictionary::finish`]).
    fn grow(&mut self) {
        if self.hashes.len() != self.ends.len() {
            self.hashes = (0..self.ends.len() as u32)
                .map(|n| hash_of(self.value(n).unwrap_or_default()))
                .collect();
        }
        let size = (self.slots.len() * 2)
            .max(64)
            .max(4 * self.ends.len().next_power_of_two());
        self.slots = vec![Self::NONE; size];
        for (number, hash) in self.hashes.iter().enumerate() {
            let mut slot = slot_of(*hash, size);
            while self.slots[slot] != Self::NONE {
                slot = (slot + 1) & (size - 1);
            }
            self.slots[slot] = number as u32;
        }
    }

    /// Drops the lookup table once every text is numbered (numbering more rebuilds it).
    pub fn finish(&mut self) {
        self.slots = Vec::new();
        self.hashes = Vec::new();
    }
}

/// FNV-1a over 8-byte words: hashing the short values of a column is most of decoding.
#[derive(Debug, Clone, Copy, Default)]
struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(word)).wrapping_mul(0x0000_0100_0000_01B3);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3);
        }
        self.0 ^= self.0 >> 29;
    }
}

fn hash_of(value: &str) -> u64 {
    let mut hasher = FastHasher::default();
    hasher.write(value.as_bytes());
    hasher.finish()
}

/// The first slot of a hash in a table of `size` (a power of two) slots: the high bits of
/// a Fibonacci multiple, well spread whatever the hash's low bits.
fn slot_of(hash: u64, size: usize) -> usize {
    let bits = size.trailing_zeros();
    (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
}

#[cfg(test)]
mod tests {
    use super::Dictionary;

    #[test]
    fn numbers_each_text_once_in_order_of_first_appearance() {
        let mut d = Dictionary::default();
        let texts: Vec<String> = (0..1000).map(|i| format!("child-{}", i % 300)).collect();
        let numbers: Vec<u32> = texts.iter().map(|t| d.number(t)).collect();
        assert_eq!(d.len(), 300);
        for (t, n) in texts.iter().zip(&numbers) {
            assert_eq!(d.value(*n), Some(t.as_str()));
        }
        assert_eq!(numbers[..3], [0, 1, 2]);
        assert_eq!(numbers[300], 0);
        assert_eq!(d.number(""), 300);
        assert_eq!(d.value(300), Some(""));
        assert_eq!(d.value(Dictionary::NONE), None);
    }

    #[test]
    fn numbering_goes_on_after_finish() {
        let mut d = Dictionary::default();
        assert_eq!(d.number("a"), 0);
        assert_eq!(d.number("b"), 1);
        d.finish();
        assert_eq!(d.value(1), Some("b"));
        assert_eq!(d.number("b"), 1);
        assert_eq!(d.number("c"), 2);
        assert_eq!(d.number("a"), 0);
    }
}
