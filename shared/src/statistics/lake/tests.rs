use super::*;
use crate::scoring::follow_ups::FollowUp;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn result_row(i: usize) -> ResultRow {
    ResultRow {
        child: format!("pseudonym-{}", i % 7),
        administered_on: d(2026, 1 + (i % 12) as u32, 1 + (i % 28) as u32),
        year: 2026,
        age_years: (i % 18) as i32,
        age_band: age_band((i % 18) as i32),
        sex: if i.is_multiple_of(3) {
            "female"
        } else {
            "male"
        },
        municipality: (!i.is_multiple_of(4)).then(|| "0001000".to_string()),
        instrument: "asq3".into(),
        instrument_version: "1.0.0".into(),
        risk_level: ["low", "medium", "high", "urgent"][i % 4],
        scores: format!("{{\"total\":{i}}}"),
        bands: "{\"total\":\"typical\"}".into(),
        recommendation_kinds: if i.is_multiple_of(2) {
            String::new()
        } else {
            "rescreen".into()
        },
        follow_ups: FollowUps {
            rescreen: (!i.is_multiple_of(2)).then(|| FollowUp {
                due_on: d(2026, 12, 1 + (i % 28) as u32),
                done_on: i.is_multiple_of(3).then(|| d(2026, 12, 30)),
            }),
            interview: i.is_multiple_of(5).then(|| FollowUp {
                due_on: d(2026, 2, 1),
                done_on: None,
            }),
        },
    }
}

#[test]
fn results_round_trip_with_nulls() {
    let rows: Vec<ResultRow> = (0..1000).map(result_row).collect();
    let bytes = write_results(&rows).unwrap();
    assert_eq!(&bytes[..4], b"PAR1");
    let back = read_results(Bytes::from(bytes)).unwrap();
    assert_eq!(back.len(), rows.len());
    assert_eq!(back.municipality.null_count(), 250);
    // Dictionary-coded: each distinct value once, one code per row.
    assert_eq!(back.sex.distinct(), 2);
    assert_eq!(back.child.distinct(), 7);
    assert_eq!(back.municipality.distinct(), 1);
    assert_eq!(back.municipality.codes()[0], columnar::Strings::NULL);
    assert_eq!(
        back.municipality.value(back.municipality.codes()[1]),
        Some("0001000")
    );
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(back.child.get(i), Some(row.child.as_str()));
        assert_eq!(back.administered_on[i], row.administered_on);
        assert_eq!(back.year[i], row.year);
        assert_eq!(back.age_years[i], row.age_years);
        assert_eq!(back.age_band.get(i), Some(row.age_band));
        assert_eq!(back.sex.get(i), Some(row.sex));
        assert_eq!(back.municipality.get(i), row.municipality.as_deref());
        assert_eq!(back.atvk_version.get(i), Some(ATVK_VERSION));
        assert_eq!(back.instrument.get(i), Some("asq3"));
        assert_eq!(back.instrument_version.get(i), Some("1.0.0"));
        assert_eq!(back.risk_level.get(i), Some(row.risk_level));
        assert_eq!(back.scores.get(i), Some(row.scores.as_str()));
        assert_eq!(back.bands.get(i), Some(row.bands.as_str()));
        assert_eq!(
            back.recommendation_kinds.get(i),
            Some(row.recommendation_kinds.as_str())
        );
        let f = row.follow_ups;
        assert_eq!(back.rescreen_due_on[i], f.rescreen.map(|f| f.due_on));
        assert_eq!(back.rescreen_done_on[i], f.rescreen.and_then(|f| f.done_on));
        assert_eq!(back.interview_due_on[i], f.interview.map(|f| f.due_on));
        assert_eq!(
            back.interview_done_on[i],
            f.interview.and_then(|f| f.done_on)
        );
    }
}

#[test]
fn episodes_round_trip_with_nulls() {
    let rows: Vec<EpisodeRow> = (0..50)
        .map(|i| EpisodeRow {
            child: format!("p{i}"),
            programme: "early-intervention".into(),
            referred_on: d(2025, 12, 1),
            started_on: (i % 2 == 0).then(|| d(2026, 1, 5)),
            ended_on: (i % 5 == 0).then(|| d(2026, 6, 30)),
            year: if i % 2 == 0 { 2026 } else { 2025 },
            age_years: 3,
            age_band: "3-7",
            sex: "unknown",
            municipality: None,
            outcome: (i % 5 == 0).then(|| "goals_met".into()),
            end_reason: (i % 5 == 0).then(|| "completed".into()),
        })
        .collect();
    let back = read_episodes(Bytes::from(write_episodes(&rows).unwrap())).unwrap();
    assert_eq!(back.len(), 50);
    assert_eq!(back.municipality.null_count(), 50);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(back.child.get(i), Some(row.child.as_str()));
        assert_eq!(back.programme.get(i), Some("early-intervention"));
        assert_eq!(back.referred_on[i], row.referred_on);
        assert_eq!(back.started_on[i], row.started_on);
        assert_eq!(back.ended_on[i], row.ended_on);
        assert_eq!(back.year[i], row.year);
        assert_eq!(back.age_band.get(i), Some("3-7"));
        assert_eq!(back.sex.get(i), Some("unknown"));
        assert_eq!(back.municipality.get(i), None);
        assert_eq!(back.outcome.get(i), row.outcome.as_deref());
        assert_eq!(back.end_reason.get(i), row.end_reason.as_deref());
    }
}

#[test]
fn referrals_round_trip_with_nulls() {
    let rows: Vec<ReferralRow> = (0..20)
        .map(|i| ReferralRow {
            child: format!("p{i}"),
            programme: "speech-therapy".into(),
            referred_on: d(2026, 3, 1 + i as u32),
            state: if i % 2 == 0 { "started" } else { "sent" }.into(),
            started_on: (i % 2 == 0).then(|| d(2026, 4, 1)),
            year: 2026,
            age_years: 12,
            age_band: "11-15",
            sex: "female",
            municipality: Some("0056000".into()),
        })
        .collect();
    let back = read_referrals(Bytes::from(write_referrals(&rows).unwrap())).unwrap();
    assert_eq!(back.len(), 20);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(back.referred_on[i], row.referred_on);
        assert_eq!(back.state.get(i), Some(row.state.as_str()));
        assert_eq!(back.started_on[i], row.started_on);
        assert_eq!(back.municipality.get(i), Some("0056000"));
        assert_eq!(back.age_years[i], 12);
    }
}

#[test]
fn an_empty_table_is_a_valid_file_with_the_schema() {
    let back = read_results(Bytes::from(write_results(&[]).unwrap())).unwrap();
    assert!(back.is_empty());
    assert!(back.child.is_empty());
    let back = read_episodes(Bytes::from(write_episodes(&[]).unwrap())).unwrap();
    assert!(back.is_empty());
    let back = read_referrals(Bytes::from(write_referrals(&[]).unwrap())).unwrap();
    assert!(back.is_empty());
}

#[test]
fn a_file_of_another_table_is_refused() {
    let bytes = write_referrals(&[]).unwrap();
    let err = read_results(Bytes::from(bytes)).unwrap_err();
    assert!(err.to_string().contains("administered_on"), "{err}");
    assert!(read_episodes(Bytes::from_static(b"not parquet")).is_err());
}

#[test]
fn ages_and_bands() {
    assert_eq!(age_years(d(2020, 5, 10), d(2026, 5, 9)), 5);
    assert_eq!(age_years(d(2020, 5, 10), d(2026, 5, 10)), 6);
    assert_eq!(age_years(d(2020, 5, 10), d(2020, 1, 1)), 0);
    let bands: Vec<&str> = (0..19).map(age_band).collect();
    assert_eq!(
        bands,
        [
            "0-1", "1-3", "1-3", "3-7", "3-7", "3-7", "3-7", "7-11", "7-11", "7-11", "7-11",
            "11-15", "11-15", "11-15", "11-15", "15-18", "15-18", "15-18", "18+"
        ]
    );
    assert_eq!(sex_code(Some(Sex::Male)), "male");
    assert_eq!(sex_code(None), "unknown");
}

#[test]
fn partitions_are_hive_style_per_year() {
    assert_eq!(
        partition_key(Table::Results, 2026),
        "lake/results/year=2026/part-0.parquet"
    );
    assert_eq!(
        partition_year(Table::Episodes, "lake/episodes/year=2019/part-0.parquet"),
        Some(2019)
    );
    assert_eq!(
        partition_year(Table::Episodes, "lake/results/year=2019/x"),
        None
    );
    assert_eq!(Table::Results.oldest_kept_year(2026), 2017);
    assert_eq!(Table::Referrals.oldest_kept_year(2026), 2022);
}
