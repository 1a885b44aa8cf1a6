//! Answers resolved against a definition's items, shared by every input path.
//!
//! A request's `answers` object becomes one slot per item (by item position) plus the list of
//! keys that are not items. The owned path ([`AnswerSet::fill_from_map`]) and the streaming
//! path of `score_lines` ([`AnswersSeed`]) fill the same structure with the same rules (a
//! repeated key keeps its last value, as `serde_json` does for maps), so validation and scoring
//! cannot differ between the CLI, the worker and the API.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;

/// One answer value as given, before checking it against the item's coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnswerValue {
    /// An integer.
    Int(i64),
    /// An integer that does not fit in `i64`.
    HugeInt,
    /// Anything else; the text names what it was ("a string").
    Other(&'static str),
}

impl AnswerValue {
    /// Classifies a JSON value.
    pub(crate) fn from_json(value: &serde_json::Value) -> Self {
        use serde_json::Value;
        match value {
            Value::Number(n) => match n.as_i64() {
                Some(i) => AnswerValue::Int(i),
                None if n.is_u64() => AnswerValue::HugeInt,
                None => AnswerValue::Other("a decimal number"),
            },
            Value::String(_) => AnswerValue::Other("a string"),
            Value::Bool(_) => AnswerValue::Other("a boolean"),
            Value::Null => AnswerValue::Other("null"),
            Value::Array(_) => AnswerValue::Other("an array"),
            Value::Object(_) => AnswerValue::Other("an object"),
        }
    }
}

impl<'de> Deserialize<'de> for AnswerValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AnswerValueVisitor)
    }
}

struct AnswerValueVisitor;

impl<'de> Visitor<'de> for AnswerValueVisitor {
    type Value = AnswerValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an answer code")
    }
    fn visit_i64<E>(self, v: i64) -> Result<AnswerValue, E> {
        Ok(AnswerValue::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<AnswerValue, E> {
        Ok(i64::try_from(v).map_or(AnswerValue::HugeInt, AnswerValue::Int))
    }
    fn visit_f64<E>(self, _: f64) -> Result<AnswerValue, E> {
        Ok(AnswerValue::Other("a decimal number"))
    }
    fn visit_str<E>(self, _: &str) -> Result<AnswerValue, E> {
        Ok(AnswerValue::Other("a string"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<AnswerValue, E> {
        Ok(AnswerValue::Other("a boolean"))
    }
    fn visit_unit<E>(self) -> Result<AnswerValue, E> {
        Ok(AnswerValue::Other("null"))
    }
    fn visit_none<E>(self) -> Result<AnswerValue, E> {
        Ok(AnswerValue::Other("null"))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<AnswerValue, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(AnswerValue::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnswerValue, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(AnswerValue::Other("an object"))
    }
}

/// Finds an item's position from its id without hashing: item ids are mostly small numbers.
#[derive(Debug, Clone, Default)]
pub(crate) struct ItemLookup {
    /// Position of the item whose id is the canonical decimal `n`, at index `n`.
    numeric: Vec<Option<usize>>,
    /// Other ids, sorted, with positions.
    named: Vec<(String, usize)>,
}

impl ItemLookup {
    /// Builds the lookup for item ids in order.
    pub(crate) fn new<'a>(ids: impl IntoIterator<Item = &'a str>) -> Self {
        let mut lookup = ItemLookup::default();
        for (pos, id) in ids.into_iter().enumerate() {
            match canonical_number(id) {
                Some(n) => {
                    if lookup.numeric.len() <= n {
                        lookup.numeric.resize(n + 1, None);
                    }
                    lookup.numeric[n] = Some(pos);
                }
                None => lookup.named.push((id.to_owned(), pos)),
            }
        }
        lookup.named.sort();
        lookup
    }

    /// Position of the item with exactly this id.
    pub(crate) fn get(&self, key: &str) -> Option<usize> {
        match canonical_number(key) {
            Some(n) => self.numeric.get(n).copied().flatten(),
            None => self
                .named
                .binary_search_by(|(id, _)| id.as_str().cmp(key))
                .ok()
                .map(|i| self.named[i].1),
        }
    }
}

/// `Some(n)` for "0".."9999" written without leading zeros (so "07" stays a distinct key).
fn canonical_number(key: &str) -> Option<usize> {
    let bytes = key.as_bytes();
    if bytes.is_empty() || bytes.len() > 4 || (bytes.len() > 1 && bytes[0] == b'0') {
        return None;
    }
    let mut n = 0usize;
    for &b in bytes {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + usize::from(b - b'0');
    }
    Some(n)
}

/// A request's answers: one slot per item and the keys that are not items.
#[derive(Debug, Clone, Default)]
pub(crate) struct AnswerSet {
    /// Answer per item position; `None` = not answered.
    pub(crate) slots: Vec<Option<AnswerValue>>,
    /// Keys that are not item ids, sorted and without duplicates once [`Self::finish`] ran.
    pub(crate) unknown: Vec<String>,
}

impl AnswerSet {
    /// Clears the set for an instrument with `items` items, keeping the allocations.
    pub(crate) fn reset(&mut self, items: usize) {
        self.slots.clear();
        self.slots.resize(items, None);
        self.unknown.clear();
    }

    /// Fills the set from an owned answers map.
    pub(crate) fn fill_from_map(
        &mut self,
        lookup: &ItemLookup,
        items: usize,
        answers: &BTreeMap<String, serde_json::Value>,
    ) {
        self.reset(items);
        for (key, value) in answers {
            match lookup.get(key) {
                Some(pos) => self.slots[pos] = Some(AnswerValue::from_json(value)),
                None => self.unknown.push(key.clone()),
            }
        }
        self.finish();
    }

    /// Puts the unknown keys in a canonical order so every input path reports them alike.
    pub(crate) fn finish(&mut self) {
        self.unknown.sort_unstable();
        self.unknown.dedup();
    }
}

/// Streams a JSON `answers` object straight into an [`AnswerSet`] (no per-answer allocation).
pub(crate) struct AnswersSeed<'s> {
    pub(crate) lookup: &'s ItemLookup,
    pub(crate) set: &'s mut AnswerSet,
}

impl<'de> DeserializeSeed<'de> for AnswersSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for AnswersSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of answers keyed by item id")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed {
            lookup: self.lookup,
        })? {
            match key {
                Key::Item(pos) => self.set.slots[pos] = Some(map.next_value::<AnswerValue>()?),
                Key::Unknown(name) => {
                    map.next_value::<IgnoredAny>()?;
                    self.set.unknown.push(name);
                }
            }
        }
        self.set.finish();
        Ok(())
    }
}

/// Like [`AnswersSeed`], but a value that is not an object is reported as `false` instead of
/// failing, so the rest of the request line can still be read and checked.
pub(crate) struct LenientAnswersSeed<'s>(pub(crate) AnswersSeed<'s>);

impl<'de> DeserializeSeed<'de> for LenientAnswersSeed<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LenientAnswersSeed<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of answers keyed by item id")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<bool, A::Error> {
        self.0.visit_map(map).map(|()| true)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

enum Key {
    Item(usize),
    Unknown(String),
}

struct KeySeed<'s> {
    lookup: &'s ItemLookup,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an item id")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(match self.lookup.get(v) {
            Some(pos) => Key::Item(pos),
            None => Key::Unknown(v.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_matches_ids_exactly() {
        let lookup = ItemLookup::new(["1", "2", "10", "difficulties", "impact_home"]);
        assert_eq!(lookup.get("1"), Some(0));
        assert_eq!(lookup.get("10"), Some(2));
        assert_eq!(lookup.get("010"), None);
        assert_eq!(lookup.get("3"), None);
        assert_eq!(lookup.get("99999"), None);
        assert_eq!(lookup.get("impact_home"), Some(4));
        assert_eq!(lookup.get("Impact_home"), None);
        assert_eq!(lookup.get(""), None);
    }

    #[test]
    fn streaming_and_owned_paths_agree_including_repeated_keys() {
        let lookup = ItemLookup::new(["1", "2", "3"]);
        let json =
            r#"{"2": "x", "9": 1, "1": 1.5, "2": 1, "zz": [1], "9": 2, "3": 18446744073709551615}"#;
        let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(json).unwrap();
        let mut owned = AnswerSet::default();
        owned.fill_from_map(&lookup, 3, &map);
        let mut streamed = AnswerSet::default();
        streamed.reset(3);
        let mut de = serde_json::Deserializer::from_str(json);
        AnswersSeed {
            lookup: &lookup,
            set: &mut streamed,
        }
        .deserialize(&mut de)
        .unwrap();
        assert_eq!(owned.slots, streamed.slots);
        assert_eq!(owned.unknown, streamed.unknown);
        assert_eq!(
            streamed.slots,
            vec![
                Some(AnswerValue::Other("a decimal number")),
                Some(AnswerValue::Int(1)),
                Some(AnswerValue::HugeInt)
            ]
        );
        assert_eq!(streamed.unknown, vec!["9".to_owned(), "zz".to_owned()]);
    }
}
