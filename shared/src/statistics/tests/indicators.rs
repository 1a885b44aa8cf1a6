use crate::scoring::follow_ups::{FollowUp, FollowUps};
use crate::statistics::indicators::*;
use crate::statistics::period::Period;
use crate::statistics::release::{CellKey, TOTAL};
use crate::statistics::territory::{LATVIA, Territories, UNASSIGNED};
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::sync::Arc;

thread_local! {
    static CHILDREN: std::cell::RefCell<crate::statistics::dictionary::Dictionary> =
        Default::default();
}

/// A child's number by its name (as `Facts::child` numbers pseudonyms).
fn child_no(name: &str) -> ChildNo {
    CHILDREN.with(|c| ChildNo(c.borrow_mut().number(name)))
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn result(
    child: &str,
    on: &str,
    age: u8,
    sex: &str,
    m: Option<&str>,
    instrument: &str,
    risk: &str,
) -> ResultFact {
    ResultFact {
        child: child_no(child),
        administered_on: d(on),
        age_years: age,
        sex: sex.into(),
        municipality: m.map(Into::into),
        instrument: instrument.into(),
        risk_level: risk.into(),
        recommendation_kinds: if risk == "low" {
            Arc::from([])
        } else {
            Arc::from(["rescreen".into()])
        },
        bands: Arc::default(),
        sdq_total: None,
        follow_ups: FollowUps::default(),
    }
}

fn episode(child: &str, programme: &str, on: &str, m: Option<&str>) -> SupportFact {
    SupportFact {
        child: child_no(child),
        programme: programme.into(),
        on: d(on),
        ended_on: None,
        age_years: 3,
        sex: "female".into(),
        municipality: m.map(Into::into),
    }
}

fn regions() -> Territories {
    Territories::from_csv(
        "test",
        "municipality,region,region_name\n0001000,R1,One\n0020000,R1,One\n0021000,R2,Two\n",
    )
    .unwrap()
}

fn key(
    period: &str,
    atvk: &str,
    age: &str,
    sex: &str,
    instrument: &str,
    indicator: &str,
) -> CellKey {
    CellKey {
        period: period.into(),
        atvk: atvk.into(),
        age_band: age.into(),
        sex: sex.into(),
        instrument: instrument.into(),
        indicator: indicator.into(),
    }
}

/// The cell of `indicator` in `atvk` with every other dimension at its total.
fn at(period: &str, atvk: &str, indicator: &str) -> CellKey {
    key(period, atvk, TOTAL, TOTAL, TOTAL, indicator)
}

/// The cell of `indicator` for the whole of Latvia, every other dimension at its total.
fn total(period: &str, indicator: &str) -> CellKey {
    at(period, LATVIA, indicator)
}

/// Every cell whose code has children on a dimension equals the sum of the children cells
/// that are published — and when all of them are, exactly.
fn assert_additive(ind: &Indicators) {
    let mut checked = 0;
    for (cell, value) in &ind.counts {
        for (i, dim) in crate::statistics::model::AXES.iter().enumerate() {
            let children = ind.codelists[*dim].children(cell.code(i));
            if children.is_empty() {
                continue;
            }
            let parts: Vec<Option<u64>> = children
                .iter()
                .map(|c| ind.counts.get(&cell.with_code(i, c)).copied())
                .collect();
            let known: u64 = parts.iter().flatten().sum();
            assert!(
                known <= *value,
                "{cell:?} on {dim}: parts {known} above {value}"
            );
            if parts.iter().all(Option::is_some) {
                assert_eq!(known, *value, "{cell:?} on {dim}");
                checked += 1;
            }
        }
    }
    assert!(checked > 0);
}

#[test]
fn age_bands_follow_the_issue() {
    assert_eq!(age_band(0), "0-1");
    assert_eq!(age_band(1), "1-3");
    assert_eq!(age_band(6), "3-7");
    assert_eq!(age_band(7), "7-11");
    assert_eq!(age_band(14), "11-15");
    assert_eq!(age_band(15), "15-18");
    assert_eq!(age_band(17), "15-18");
}

#[test]
fn percentiles_use_the_nearest_rank_and_the_middle_mean() {
    assert_eq!(percentile(&[1, 2, 3, 4], 50), 2.5);
    assert_eq!(
        percentile(&[5, 1_000, 7], 50),
        1_000.0,
        "not sorted: the caller sorts"
    );
    assert_eq!(percentile(&[1, 2, 3], 50), 2.0);
    let ten: Vec<i64> = (1..=10).collect();
    assert_eq!(percentile(&ten, 90), 9.0);
    assert_eq!(percentile(&[4], 90), 4.0);
}

#[test]
fn counts_add_up_along_every_hierarchy_and_children_count_once() {
    let facts = Facts {
        results: vec![
            result(
                "a",
                "2026-01-10",
                2,
                "female",
                Some("0001000"),
                "mchat-r",
                "high",
            ),
            result(
                "a",
                "2026-05-10",
                2,
                "female",
                Some("0001000"),
                "sdq-parent-2-4",
                "low",
            ),
            result(
                "b",
                "2026-02-01",
                4,
                "male",
                Some("0020000"),
                "mchat-r",
                "low",
            ),
            result(
                "c",
                "2026-08-01",
                0,
                "male",
                Some("0021000"),
                "epds",
                "urgent",
            ),
            result("d", "2026-11-30", 3, "female", None, "mchat-r", "medium"),
            result("e", "2025-12-31", 3, "female", None, "mchat-r", "high"),
        ],
        episodes: vec![episode("a", "kiva", "2026-03-01", Some("0001000"))],
        referrals: vec![episode("a", "kiva", "2026-02-01", Some("0001000"))],
        as_of: None,
        ..Facts::default()
    };
    let ind = compute(&facts, Period::Year(2026), &regions(), 3);
    assert_additive(&ind);
    let by_instrument = |instrument: &str, indicator: &str| {
        key("2026", LATVIA, TOTAL, TOTAL, instrument, indicator)
    };
    for (cell, expected, why) in [
        (total("2026", "screenings"), Some(5), ""),
        (total("2026", "children_screened"), Some(4), ""),
        (at("2026-Q1", "0001000", "children_screened"), Some(1), ""),
        (at("2026-Q2", "0001000", "children_screened"), Some(0), ""),
        (at("2026", "R1", "screenings"), Some(3), ""),
        (at("2026", UNASSIGNED, "screenings"), Some(1), ""),
        (
            by_instrument("mchat-r", "screenings_risk_high"),
            Some(1),
            "",
        ),
        (
            by_instrument("sdq-parent-2-4", "screenings"),
            Some(1),
            "every instrument used is broken down",
        ),
        (
            by_instrument("epds", "children_screened"),
            None,
            "children are not counted per instrument",
        ),
        (
            key(
                "2026",
                LATVIA,
                "0-1",
                TOTAL,
                TOTAL,
                "screenings_risk_urgent",
            ),
            Some(1),
            "",
        ),
        (total("2026", "recommendations_rescreen"), Some(3), ""),
        (total("2026", "referrals:kiva"), Some(1), ""),
        (
            total("2026-Q3", "referrals:kiva"),
            Some(0),
            "zeros are published",
        ),
        (
            total("2026", "referrals:cool_kids"),
            None,
            "a programme nobody was referred to is not",
        ),
        (
            key("2026", LATVIA, TOTAL, "female", TOTAL, "referrals:kiva"),
            None,
            "programmes by territory and period only",
        ),
        // Risk to support: a (identified 10 Jan, support 1 Mar: 50 days), c (urgent, waiting).
        (total("2026", "risk_identified"), Some(2), ""),
        (
            total("2026", "risk_identified_supported_31_90_days"),
            Some(1),
            "",
        ),
        (total("2026", "risk_identified_waiting"), Some(1), ""),
        (
            at("2026-Q3", "0021000", "risk_identified_waiting"),
            Some(1),
            "",
        ),
    ] {
        assert_eq!(ind.counts.get(&cell).copied(), expected, "{cell:?} {why}");
    }
    let share = ind
        .derived
        .iter()
        .find(|x| x.key == total("2026", "share_high_or_urgent"))
        .unwrap();
    assert_eq!(share.value, 2.0 / 5.0);
    assert_eq!(share.inputs.len(), 3);
    assert!(
        !ind.derived
            .iter()
            .any(|x| x.key.indicator == "risk_to_support_median_days"),
        "one supported child: fewer than the threshold, no median"
    );
}

#[test]
fn sdq_at_fifteen_counts_the_latest_result_and_the_broader_scales() {
    let mut r1 = result(
        "a",
        "2026-02-01",
        15,
        "male",
        Some("0001000"),
        "sdq-parent-4-17",
        "low",
    );
    r1.bands = [
        ("emotional", "high"),
        ("peer", "close_to_average"),
        ("conduct", "close_to_average"),
        ("hyperactivity", "slightly_raised"),
    ]
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .into_iter()
    .collect::<BTreeMap<_, _>>()
    .into();
    let mut r2 = r1.clone();
    r2.administered_on = d("2026-06-01");
    Arc::make_mut(&mut r2.bands).insert("emotional".into(), "close_to_average".into());
    Arc::make_mut(&mut r2.bands).insert("hyperactivity".into(), "very_high".into());
    let mut r3 = r1.clone();
    r3.child = child_no("b");
    r3.age_years = 14;
    let facts = Facts {
        results: vec![r1, r2, r3],
        ..Facts::default()
    };
    let ind = compute(
        &facts,
        Period::Year(2026),
        &Territories::without_regions(),
        3,
    );
    assert_additive(&ind);
    let c = |i: &str| ind.counts[&total("2026", i)];
    assert_eq!(c("sdq15_internalising"), 1);
    assert_eq!(c("sdq15_internalising_high"), 0, "the latest result counts");
    assert_eq!(c("sdq15_externalising_high"), 1);
    assert_eq!(c("sdq15_externalising_other"), 0);
    assert!(
        !ind.counts.contains_key(&key(
            "2026",
            LATVIA,
            "15-18",
            TOTAL,
            TOTAL,
            "sdq15_internalising"
        )),
        "one age: not broken down by age band"
    );
}

#[test]
fn the_median_days_need_threshold_children() {
    let mut facts = Facts::default();
    for (i, start) in ["2026-01-11", "2026-01-31", "2026-06-01"]
        .iter()
        .enumerate()
    {
        let child = format!("c{i}");
        facts.results.push(result(
            &child,
            "2026-01-01",
            5,
            "male",
            Some("0001000"),
            "mchat-r",
            "high",
        ));
        facts
            .episodes
            .push(episode(&child, "kiva", start, Some("0001000")));
    }
    let ind = compute(
        &facts,
        Period::Quarter(2026, 1),
        &Territories::without_regions(),
        3,
    );
    assert_additive(&ind);
    let find = |i: &str, p: &str| {
        ind.derived
            .iter()
            .find(|x| x.key.indicator == i && x.key.period == p && x.key.atvk == LATVIA)
            .map(|x| x.value)
    };
    assert_eq!(find("risk_to_support_median_days", "2026-Q1"), Some(30.0));
    assert_eq!(find("risk_to_support_p90_days", "2026-Q1"), Some(151.0));
    assert_eq!(
        find("risk_to_support_median_days", "2026-01"),
        Some(30.0),
        "the month of identification"
    );
    assert_eq!(
        find("risk_supported_within_30_days_share", "2026-Q1"),
        Some(2.0 / 3.0)
    );
}

#[test]
fn follow_ups_count_on_time_late_and_overdue_by_the_month_they_fell_due_in() {
    let asked = |child: &str, on: &str, due: &str, done: Option<&str>, interview: bool| {
        let mut r = result(child, on, 1, "female", Some("0001000"), "mchat-r", "medium");
        let f = Some(FollowUp {
            due_on: d(due),
            done_on: done.map(d),
        });
        if interview {
            r.follow_ups.interview = f;
        } else {
            r.follow_ups.rescreen = f;
        }
        r
    };
    let facts = Facts {
        results: vec![
            asked("a", "2026-01-02", "2026-01-16", Some("2026-01-16"), true),
            asked("b", "2026-01-02", "2026-01-16", Some("2026-01-30"), true),
            // Done in February: overdue at the end of January, the month it fell due in.
            asked("c", "2026-01-02", "2026-01-20", Some("2026-02-03"), false),
            asked("d", "2026-01-02", "2026-01-25", None, false),
            // Asked in December, due in January: counts in January.
            asked("e", "2025-12-20", "2026-01-03", None, false),
            // Due on the facts' day or later: not due yet.
            asked("f", "2026-01-02", "2026-02-10", None, false),
            // Due before the period.
            asked("g", "2025-11-02", "2025-12-10", None, false),
        ],
        as_of: Some(d("2026-02-10")),
        ..Facts::default()
    };
    for period in [Period::Month(2026, 1), Period::Quarter(2026, 1)] {
        let ind = compute(&facts, period, &regions(), 3);
        assert_additive(&ind);
        let c = |p: &str, i: &str| ind.counts[&total(p, i)];
        assert_eq!(c("2026-01", "follow_ups_due"), 5, "{period}");
        assert_eq!(c("2026-01", "follow_ups_done_on_time"), 1);
        assert_eq!(c("2026-01", "follow_ups_done_late"), 1);
        assert_eq!(
            c("2026-01", "follow_ups_overdue"),
            3,
            "the same in the month's and the quarter's release"
        );
        let by_instrument = key(
            &period.to_string(),
            LATVIA,
            TOTAL,
            TOTAL,
            "mchat-r",
            "follow_ups_due",
        );
        assert_eq!(ind.counts[&by_instrument], 5);
        let share = ind
            .derived
            .iter()
            .find(|c| c.key == total("2026-01", "follow_ups_overdue_share"))
            .unwrap();
        assert_eq!(share.value, 0.6);
    }
    // Once every day of the period has passed, the one due in February counts there.
    let feb = compute(
        &Facts {
            as_of: None,
            ..facts
        },
        Period::Month(2026, 2),
        &regions(),
        3,
    );
    assert_eq!(feb.counts[&total("2026-02", "follow_ups_overdue")], 1);
}

#[test]
fn sdq_change_pairs_the_screenings_around_an_episode_in_the_period_of_the_after() {
    let sdq = |child: &str, on: &str, form: &str, total: i64| {
        let mut r = result(child, on, 9, "male", Some("0020000"), form, "low");
        r.sdq_total = Some(total);
        r
    };
    let ended = |child: &str, programme: &str, start: &str, end: Option<&str>| {
        let mut e = episode(child, programme, start, Some("0020000"));
        e.ended_on = end.map(d);
        e
    };
    let facts = Facts {
        results: vec![
            // a: 18 → 12, improved (the latest before, the first after count).
            sdq("a", "2025-01-10", "sdq-parent-4-17", 25),
            sdq("a", "2025-09-01", "sdq-parent-4-17", 18),
            sdq("a", "2026-03-01", "sdq-parent-4-17", 12),
            sdq("a", "2026-05-01", "sdq-parent-4-17", 30),
            // b: the parent form has no after; the teacher form has both: 10 → 14.
            sdq("b", "2025-09-01", "sdq-parent-4-17", 10),
            sdq("b", "2025-09-02", "sdq-teacher-4-17", 10),
            sdq("b", "2026-04-01", "sdq-teacher-4-17", 14),
            // c: the before is more than 12 months before the start: no pair.
            sdq("c", "2024-08-01", "sdq-parent-4-17", 20),
            sdq("c", "2026-04-01", "sdq-parent-4-17", 10),
            // d: unchanged, the after in 2027: not in this period.
            sdq("d", "2025-10-01", "sdq-parent-4-17", 9),
            sdq("d", "2027-01-05", "sdq-parent-4-17", 9),
        ],
        episodes: vec![
            ended("a", "incredible-years", "2025-10-01", Some("2026-02-01")),
            ended("b", "cool-kids", "2025-10-01", Some("2026-02-01")),
            ended("c", "cool-kids", "2025-10-01", Some("2026-02-01")),
            ended("d", "cool-kids", "2025-10-01", Some("2026-12-20")),
            // Still open: no after.
            ended("a", "kiva", "2025-10-01", None),
        ],
        ..Facts::default()
    };
    let ind = compute(&facts, Period::Year(2026), &regions(), 2);
    assert_additive(&ind);
    let c = |p: &str, i: &str| ind.counts[&total(p, i)];
    assert_eq!(c("2026", "sdq_programme_pairs"), 2);
    assert_eq!(c("2026", "sdq_programme_improved"), 1);
    assert_eq!(c("2026", "sdq_programme_worsened"), 1);
    assert_eq!(c("2026", "sdq_programme_unchanged"), 0);
    assert_eq!(
        c("2026-Q1", "sdq_programme_pairs"),
        1,
        "a's after is in March"
    );
    assert_eq!(c("2026", "sdq_programme_worsened:cool-kids"), 1);
    assert_eq!(c("2026", "sdq_programme_improved:incredible-years"), 1);
    let median = ind
        .derived
        .iter()
        .find(|c| c.key == total("2026", "sdq_programme_median_change"))
        .unwrap();
    assert_eq!(median.value, -1.0, "the mean of -6 and +4");
    assert!(
        compute(&facts, Period::Year(2026), &regions(), 3)
            .derived
            .iter()
            .all(|c| c.key.indicator != "sdq_programme_median_change"),
        "from at least threshold pairs"
    );
}

#[test]
fn every_derived_indicator_is_declared_decimal() {
    let mut facts = Facts::default();
    for (i, risk) in ["high", "urgent", "low", "high"].into_iter().enumerate() {
        let mut r = result(
            &format!("c{i}"),
            "2026-01-10",
            15,
            "female",
            None,
            "sdq-parent-4-17",
            risk,
        );
        Arc::make_mut(&mut r.bands).insert("emotional".into(), "high".into());
        Arc::make_mut(&mut r.bands).insert("conduct".into(), "average".into());
        r.follow_ups.rescreen = Some(FollowUp {
            due_on: d("2026-02-01"),
            done_on: None,
        });
        facts.results.push(r);
        facts
            .episodes
            .push(episode(&format!("c{i}"), "kiva", "2026-01-20", None));
    }
    let ind = compute(
        &facts,
        Period::Year(2026),
        &Territories::without_regions(),
        1,
    );
    assert!(ind.derived.len() > 5);
    for cell in &ind.derived {
        assert!(is_decimal(&cell.key.indicator), "{}", cell.key.indicator);
        assert!(!ind.counts.contains_key(&cell.key));
    }
}
