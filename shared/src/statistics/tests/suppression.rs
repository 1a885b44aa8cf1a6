//! Disclosure control on small tables whose safe patterns can be reasoned about by hand;
//! every test audits the pattern it gets (LP interval of every hidden cell ≥ threshold, no
//! published count below it).

use crate::statistics::*;
use std::collections::BTreeMap;

const T: u64 = DEFAULT_THRESHOLD;

fn key(atvk: &str, age: &str, sex: &str) -> CellKey {
    CellKey {
        period: "2026".into(),
        atvk: atvk.into(),
        age_band: age.into(),
        sex: sex.into(),
        instrument: TOTAL.into(),
        indicator: "screenings".into(),
    }
}

fn codelist(pairs: &[(&str, &str)]) -> Codelist {
    Codelist {
        parent: pairs
            .iter()
            .map(|(c, p)| (c.to_string(), p.to_string()))
            .collect(),
    }
}

/// Age bands `a1..a3` and sexes `m, f, u` under `total`; one territory.
fn two_way(rows: [[u64; 3]; 3]) -> (BTreeMap<CellKey, u64>, Hierarchies) {
    let ages = ["a1", "a2", "a3"];
    let sexes = ["m", "f", "u"];
    let mut cells = BTreeMap::new();
    for (i, age) in ages.iter().enumerate() {
        for (j, sex) in sexes.iter().enumerate() {
            cells.insert(key("LV", age, sex), rows[i][j]);
        }
        cells.insert(key("LV", age, TOTAL), rows[i].iter().sum());
    }
    for (j, sex) in sexes.iter().enumerate() {
        cells.insert(key("LV", TOTAL, sex), rows.iter().map(|r| r[j]).sum());
    }
    let all: u64 = rows.iter().flatten().sum();
    cells.insert(key("LV", TOTAL, TOTAL), all);
    let mut lists: [Codelist; 6] = Default::default();
    lists[2] = codelist(&[("a1", TOTAL), ("a2", TOTAL), ("a3", TOTAL)]);
    lists[3] = codelist(&[("m", TOTAL), ("f", TOTAL), ("u", TOTAL)]);
    (cells, Hierarchies::new(lists))
}

/// Municipalities `m11..m13` in region `R1`, `m21..m23` in `R2`, both in `LV`.
fn territories(values: [u64; 6]) -> (BTreeMap<CellKey, u64>, Hierarchies) {
    let munis = ["m11", "m12", "m13", "m21", "m22", "m23"];
    let mut cells = BTreeMap::new();
    for (m, v) in munis.iter().zip(values) {
        cells.insert(key(m, TOTAL, TOTAL), v);
    }
    let r1: u64 = values[..3].iter().sum();
    let r2: u64 = values[3..].iter().sum();
    cells.insert(key("R1", TOTAL, TOTAL), r1);
    cells.insert(key("R2", TOTAL, TOTAL), r2);
    cells.insert(key("LV", TOTAL, TOTAL), r1 + r2);
    let mut lists: [Codelist; 6] = Default::default();
    lists[1] = codelist(&[
        ("m11", "R1"),
        ("m12", "R1"),
        ("m13", "R1"),
        ("m21", "R2"),
        ("m22", "R2"),
        ("m23", "R2"),
        ("R1", "LV"),
        ("R2", "LV"),
    ]);
    (cells, Hierarchies::new(lists))
}

/// The pattern is safe: every hidden cell's interval is at least `T` wide, and no cell
/// published now (not earlier) has a count of 1 up to `T`.
fn assert_safe(
    cells: &BTreeMap<CellKey, u64>,
    h: &Hierarchies,
    s: &Suppression,
    earlier: &[(CellKey, Option<u64>)],
) -> BTreeMap<CellKey, Interval> {
    let intervals = audit(cells, h, &s.status, earlier).unwrap();
    let hidden: Vec<&CellKey> = s
        .status
        .iter()
        .filter(|(_, c)| **c != ConfStatus::F)
        .map(|(k, _)| k)
        .collect();
    assert!(!hidden.is_empty());
    for k in hidden {
        let i = intervals[k];
        assert!(
            i.width() >= T as f64 - 1e-6,
            "{k:?} is only [{}, {}]",
            i.min,
            i.max
        );
        assert!(i.min <= cells[k] as f64 + 1e-6 && cells[k] as f64 <= i.max + 1e-6);
    }
    let earlier_published: Vec<&CellKey> = earlier
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| k)
        .collect();
    for (k, c) in &s.status {
        if *c == ConfStatus::F && !earlier_published.contains(&k) {
            assert!(
                !(1..T).contains(&cells[k]),
                "{k:?} = {} published",
                cells[k]
            );
        }
    }
    intervals
}

fn status(s: &Suppression, k: &CellKey) -> ConfStatus {
    s.status[k]
}

#[test]
fn a_lone_primary_gets_complements_in_its_row_and_its_column() {
    let (cells, h) = two_way([[5, 1, 6], [4, 7, 5], [6, 8, 9]]);
    // Without complements the 1 is the row total minus the other two cells.
    let primary_only: BTreeMap<CellKey, ConfStatus> = cells
        .iter()
        .map(|(k, &v)| {
            let c = if (1..T).contains(&v) {
                ConfStatus::A
            } else {
                ConfStatus::F
            };
            (k.clone(), c)
        })
        .collect();
    let naive = audit(&cells, &h, &primary_only, &[]).unwrap();
    assert_eq!(naive[&key("LV", "a1", "f")].width(), 0.0);

    let s = suppress(&cells, &h, T, &[]).unwrap();
    assert_eq!(status(&s, &key("LV", "a1", "f")), ConfStatus::A);
    assert_eq!(s.count(ConfStatus::A), 1);
    let row_mates = ["m", "u", TOTAL]
        .iter()
        .filter(|sex| status(&s, &key("LV", "a1", sex)) == ConfStatus::C)
        .count();
    let column_mates = ["a2", "a3", TOTAL]
        .iter()
        .filter(|age| status(&s, &key("LV", age, "f")) == ConfStatus::C)
        .count();
    assert!(row_mates >= 1 && column_mates >= 1, "{:?}", s.status);
    // The grand total is the most expensive cell to hide and is not needed.
    assert_eq!(status(&s, &key("LV", TOTAL, TOTAL)), ConfStatus::F);
    assert_safe(&cells, &h, &s, &[]);
}

#[test]
fn a_lone_municipality_is_not_recovered_from_its_region() {
    let (cells, h) = territories([2, 7, 9, 4, 5, 6]);
    let s = suppress(&cells, &h, T, &[]).unwrap();
    assert_eq!(status(&s, &key("m11", TOTAL, TOTAL)), ConfStatus::A);
    let r1_hidden = ["m12", "m13", "R1"]
        .iter()
        .filter(|m| status(&s, &key(m, TOTAL, TOTAL)) != ConfStatus::F)
        .count();
    assert!(r1_hidden >= 1, "{:?}", s.status);
    // Hiding a second municipality of R1 is enough: R2 and LV stay published.
    for m in ["m21", "m22", "m23", "R2", "LV"] {
        assert_eq!(status(&s, &key(m, TOTAL, TOTAL)), ConfStatus::F, "{m}");
    }
    assert_safe(&cells, &h, &s, &[]);
}

#[test]
fn zeros_are_published_unless_an_alternative_table_needs_them() {
    // Row a1: the 1 needs a complement; the zeros elsewhere are not on any cheap path.
    let (cells, h) = two_way([[1, 6, 8], [0, 9, 7], [0, 5, 0]]);
    let s = suppress(&cells, &h, T, &[]).unwrap();
    assert_eq!(status(&s, &key("LV", "a1", "m")), ConfStatus::A);
    let zeros = [("a2", "m"), ("a3", "m"), ("a3", "u")];
    let published_zeros = zeros
        .iter()
        .filter(|(a, x)| status(&s, &key("LV", a, x)) == ConfStatus::F)
        .count();
    assert!(published_zeros >= 2, "{:?}", s.status);
    assert_safe(&cells, &h, &s, &[]);

    // With the margins published earlier, the only alternative table of the 1 goes up in
    // the zero of the other row: the zero must be hidden.
    let (cells, h) = two_way([[1, 9, 0], [9, 0, 0], [0, 0, 0]]);
    let earlier: Vec<(CellKey, Option<u64>)> = cells
        .iter()
        .filter(|(k, _)| k.age_band == TOTAL || k.sex == TOTAL)
        .map(|(k, &v)| (k.clone(), Some(v)))
        .collect();
    let s = suppress(&cells, &h, T, &earlier).unwrap();
    assert_eq!(status(&s, &key("LV", "a2", "f")), ConfStatus::C);
    assert_eq!(status(&s, &key("LV", "a1", "f")), ConfStatus::C);
    assert_eq!(status(&s, &key("LV", "a2", "m")), ConfStatus::C);
    // The zeros of row a3 and column u are on no alternative table.
    for (a, x) in [("a3", "m"), ("a3", "f"), ("a1", "u"), ("a2", "u")] {
        assert_eq!(status(&s, &key("LV", a, x)), ConfStatus::F, "{a} {x}");
    }
    assert_safe(&cells, &h, &s, &earlier);
}

#[test]
fn an_earlier_release_fixes_values_and_keeps_its_suppressions() {
    let (cells, h) = territories([2, 7, 9, 4, 5, 6]);
    // Published before: m12 and the region. Suppressed before: m22.
    let earlier = vec![
        (key("m12", TOTAL, TOTAL), Some(7)),
        (key("R1", TOTAL, TOTAL), Some(18)),
        (key("m22", TOTAL, TOTAL), None),
    ];
    let s = suppress(&cells, &h, T, &earlier).unwrap();
    assert_eq!(status(&s, &key("m11", TOTAL, TOTAL)), ConfStatus::A);
    // m12 and R1 are facts: the only complement left in R1 is m13.
    assert_eq!(status(&s, &key("m12", TOTAL, TOTAL)), ConfStatus::F);
    assert_eq!(status(&s, &key("R1", TOTAL, TOTAL)), ConfStatus::F);
    assert_eq!(status(&s, &key("m13", TOTAL, TOTAL)), ConfStatus::C);
    // m22 stays hidden and is protected in turn (a second cell of R2 or R2 itself).
    assert_eq!(status(&s, &key("m22", TOTAL, TOTAL)), ConfStatus::C);
    let r2_hidden = ["m21", "m23", "R2"]
        .iter()
        .filter(|m| status(&s, &key(m, TOTAL, TOTAL)) != ConfStatus::F)
        .count();
    assert!(r2_hidden >= 1, "{:?}", s.status);
    let intervals = assert_safe(&cells, &h, &s, &earlier);
    // m11 + m13 = 18 − 7 is what the attacker knows.
    let m11 = intervals[&key("m11", TOTAL, TOTAL)];
    assert!(
        m11.min.abs() < 1e-6 && (m11.max - 11.0).abs() < 1e-6,
        "{m11:?}"
    );

    // Hiding m12 now would contradict the earlier release: the audit refuses it.
    let mut wrong = s.status.clone();
    wrong.insert(key("m12", TOTAL, TOTAL), ConfStatus::C);
    assert!(matches!(
        audit(&cells, &h, &wrong, &earlier),
        Err(SuppressionError::PublishedEarlier(_))
    ));
}

#[test]
fn counts_that_do_not_add_up_are_refused() {
    let (mut cells, h) = territories([2, 7, 9, 4, 5, 6]);
    cells.insert(key("R1", TOTAL, TOTAL), 17);
    assert!(matches!(
        suppress(&cells, &h, T, &[]),
        Err(SuppressionError::Inconsistent { .. })
    ));
}

#[test]
fn absent_children_are_unknowns_and_hidden_cells_split_into_components() {
    // A region published without its municipalities: nothing pins it, nothing to hide.
    let (all, h) = territories([2, 7, 9, 4, 5, 6]);
    let cells: BTreeMap<CellKey, u64> = all
        .into_iter()
        .filter(|(k, _)| !k.atvk.starts_with('m'))
        .collect();
    let s = suppress(&cells, &h, T, &[]).unwrap();
    assert!(s.status.values().all(|&c| c == ConfStatus::F));

    // Two independent tables in one release (two periods): two components, each protected.
    let (mut cells, h) = two_way([[5, 1, 6], [4, 7, 5], [6, 8, 9]]);
    let (second, _) = two_way([[2, 6, 6], [4, 7, 5], [6, 8, 9]]);
    for (k, v) in second {
        let mut other = k.clone();
        other.period = "2025".into();
        cells.insert(other, v);
    }
    let s = suppress(&cells, &h, T, &[]).unwrap();
    let model = model::Model::build(&cells, &h, &[]).unwrap();
    let hidden = model.hidden(&s.status).unwrap();
    assert!(model.components(&hidden).len() >= 2);
    assert_safe(&cells, &h, &s, &[]);
}

#[test]
fn a_revised_release_is_no_equation_and_its_small_changes_are_hidden() {
    // Published before as m11..m13 = 9, 7, 9 under R1 = 25; since then m11 lost one record
    // (a merge) and m12 gained five (late entries).
    let (cells, h) = territories([8, 12, 9, 4, 5, 6]);
    let before = vec![
        (key("m11", TOTAL, TOTAL), Some(9)),
        (key("m12", TOTAL, TOTAL), Some(7)),
        (key("m13", TOTAL, TOTAL), Some(9)),
        (key("R1", TOTAL, TOTAL), Some(25)),
    ];
    // Taken as facts of the same data, m11 would be published again, now as 8: the one
    // record taken away would show.
    let naive = suppress(&cells, &h, T, &before).unwrap();
    assert_eq!(status(&naive, &key("m11", TOTAL, TOTAL)), ConfStatus::F);
    let known = revisions::reconcile(&cells, &[("2026-Q1".into(), before)], T);
    assert_eq!(known.revised, vec!["2026-Q1".to_string()]);
    assert!(
        known.facts.is_empty(),
        "no value of the revised release is a fact"
    );
    let s = suppress_with(&cells, &h, T, &known.facts, &known.sensitive).unwrap();
    // m11 changed by one record: hidden as primary; m12 (by five) and R1 (25 → 29, by
    // four) not below the threshold …
    assert_eq!(status(&s, &key("m11", TOTAL, TOTAL)), ConfStatus::A);
    assert_ne!(status(&s, &key("m12", TOTAL, TOTAL)), ConfStatus::A);
    // … and the hidden m11 keeps an interval of the threshold in the new release.
    let intervals = assert_safe(&cells, &h, &s, &known.facts);
    assert!(intervals[&key("m11", TOTAL, TOTAL)].width() >= T as f64 - 1e-6);
}
