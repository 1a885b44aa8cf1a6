"""The indicator table of `statistics::indicators` in DuckDB SQL, over the lake's Parquet files
(issue #13 benchmark; run by scripts/indicators-bench.sh, records in docs/BENCHMARKS.md).

    python scripts/indicators_duckdb.py DIR

DIR is what `cargo bench … --bench indicators -- write DIR` wrote (lake/<table>/year=YYYY/
*.parquet and regions.csv) and `… -- run DIR` completed with rust-cells.csv (every non-zero
count cell of the release of the year 2026, the days-to-support cells and the median SDQ
change around a programme). The SQL follows
the definitions of shared/src/statistics/indicators.rs (its module doc; follow-ups due,
scoring::follow_ups; SDQ change around a programme, scoring::programme_outcome::before_after)
and the facts the reports worker builds (children only: ages 0-17; episodes that started). Timed: the SQL
from the Parquet files to every non-zero count cell, the medians / 90th percentiles of the
days from risk to support and the median SDQ change around a programme (the shares are divisions of published counts, not recomputed).
Untimed afterwards: the cells are compared with Rust's, all of them, and a few Latvia totals
are printed side by side. Prints one JSON line of figures; exits 1 when the tables differ.
"""

import json
import resource
import sys
import time
from pathlib import Path

import duckdb

YEAR = 2026
THRESHOLD = 10

BAND = """CASE WHEN {a} < 1 THEN '0-1' WHEN {a} < 3 THEN '1-3' WHEN {a} < 7 THEN '3-7'
    WHEN {a} < 11 THEN '7-11' WHEN {a} < 15 THEN '11-15' ELSE '15-18' END"""


def sql_waits(d: Path) -> str:
    """Each child's risk identified in the year (first high or urgent result) and the days to
    support (none: waiting)."""
    return f"""
CREATE TEMP TABLE waits AS
WITH risky AS (
    SELECT child,
           arg_min({{'d': administered_on, 'leaf': coalesce(municipality, 'unassigned'),
                     'age': age_years, 'sex': coalesce(sex, 'unknown')}}, administered_on) AS r
    FROM read_parquet('{d}/lake/results/*/*.parquet')
    WHERE age_years BETWEEN 0 AND 17
      AND administered_on BETWEEN DATE '{YEAR}-01-01' AND DATE '{YEAR}-12-31'
      AND risk_level IN ('high', 'urgent')
    GROUP BY child
),
eps AS (
    SELECT child, started_on, ended_on
    FROM read_parquet('{d}/lake/episodes/*/*.parquet')
    WHERE started_on IS NOT NULL AND age_years BETWEEN 0 AND 17
)
SELECT k.child, any_value(k.r) AS r,
       min(CASE WHEN e.child IS NULL THEN NULL
                WHEN e.started_on >= k.r.d THEN date_diff('day', k.r.d, e.started_on)
                WHEN e.ended_on IS NULL OR e.ended_on >= k.r.d THEN 0 END) AS days
FROM risky k LEFT JOIN eps e ON e.child = k.child
GROUP BY k.child
"""


def sql_sdq_change(d: Path) -> str:
    """The SDQ total difficulties before and after each episode whose after screening is in
    the year: the pairs behind sdq_programme_* and their median change."""
    return f"""
CREATE TEMP TABLE sdq_change AS
-- SDQ total difficulties around an episode (scoring::programme_outcome::before_after): per
-- form, the latest total within 12 months before the start and the first within 12 months
-- after the end; the first form by id that has both.
WITH sdq_totals AS (
    SELECT child, instrument, administered_on AS d,
           TRY_CAST(json_extract(scores, '$.total_difficulties') AS BIGINT) AS t
    FROM read_parquet('{d}/lake/results/*/*.parquet')
    WHERE age_years BETWEEN 0 AND 17 AND instrument LIKE 'sdq%'
),
ep_all AS (
    SELECT row_number() OVER () AS id, child, programme, started_on AS s, ended_on AS e,
           age_years AS age, coalesce(sex, 'unknown') AS sex,
           coalesce(municipality, 'unassigned') AS leaf
    FROM read_parquet('{d}/lake/episodes/*/*.parquet')
    WHERE started_on IS NOT NULL AND age_years BETWEEN 0 AND 17
),
ep_forms AS (
    SELECT p.id, p.programme, p.age, p.sex, p.leaf, r.instrument,
           max({{'d': r.d, 't': r.t}})
               FILTER (WHERE r.d >= p.s - INTERVAL 12 MONTH AND r.d <= p.s) AS b,
           min({{'d': r.d, 't': r.t}})
               FILTER (WHERE p.e IS NOT NULL AND r.d > p.e
                       AND r.d <= p.e + INTERVAL 12 MONTH) AS a
    FROM ep_all p JOIN sdq_totals r ON r.child = p.child AND r.t IS NOT NULL
    GROUP BY ALL
),
pairs AS (
    SELECT programme, age, sex, leaf,
           arg_min({{'before': b.t, 'd': a.d, 'after': a.t}}, instrument) AS pr
    FROM ep_forms WHERE b IS NOT NULL AND a IS NOT NULL
    GROUP BY id, programme, age, sex, leaf
),
sdq_change_ AS (
    SELECT programme, pr.d AS d, age, sex, leaf,
           CASE WHEN pr.after < pr.before THEN 'sdq_programme_improved'
                WHEN pr.after = pr.before THEN 'sdq_programme_unchanged'
                ELSE 'sdq_programme_worsened' END AS kind,
           pr.after - pr.before AS change
    FROM pairs WHERE pr.d BETWEEN DATE '{YEAR}-01-01' AND DATE '{YEAR}-12-31'
)
SELECT * FROM sdq_change_
"""


def sql_cells(d: Path) -> str:
    """Every non-zero count cell: leaf counts per source, then rolled up the territories
    (municipality → region → Latvia) and published per table."""
    band = BAND.format(a="age")
    return f"""
CREATE TEMP TABLE cells AS
WITH regions AS (
    SELECT municipality, region FROM read_csv('{d}/regions.csv', header = true, all_varchar = true)
),
res AS (
    SELECT child, administered_on AS d, age_years AS age, coalesce(sex, 'unknown') AS sex,
           coalesce(municipality, 'unassigned') AS leaf, coalesce(instrument, '') AS instrument,
           coalesce(risk_level, '') AS risk, recommendation_kinds AS kinds, bands
    FROM read_parquet('{d}/lake/results/*/*.parquet')
    WHERE age_years BETWEEN 0 AND 17
      AND administered_on BETWEEN DATE '{YEAR}-01-01' AND DATE '{YEAR}-12-31'
),
scr AS (
    SELECT risk, quarter(d) AS q, leaf, {band} AS band, sex, instrument, count(*) AS n
    FROM res GROUP BY ALL
),
rec AS (
    SELECT kind, q, leaf, band, sex, instrument, count(*) AS n FROM (
        SELECT unnest(string_split(kinds, ',')) AS kind, quarter(d) AS q, leaf, {band} AS band,
               sex, instrument
        FROM res WHERE kinds <> ''
    ) WHERE kind <> '' GROUP BY ALL
),
firsts AS (
    SELECT arg_min({{'d': d, 'leaf': leaf, 'age': age, 'sex': sex}}, d) AS r
    FROM res GROUP BY child
),
sdq AS (
    SELECT arg_max({{'d': d, 'leaf': leaf, 'sex': sex, 'bands': bands}}, d) AS r
    FROM res WHERE instrument LIKE 'sdq%' AND age = 15 GROUP BY child
),
sdq_scales AS (
    SELECT r.d AS d, r.leaf AS leaf, r.sex AS sex, scale,
           list_filter(subscales, lambda s: s IS NOT NULL) AS present
    FROM (
        SELECT r, 'internalising' AS scale,
               [json_extract_string(r.bands, '$.emotional'),
                json_extract_string(r.bands, '$.peer')] AS subscales
        FROM sdq
        UNION ALL
        SELECT r, 'externalising',
               [json_extract_string(r.bands, '$.conduct'),
                json_extract_string(r.bands, '$.hyperactivity')]
        FROM sdq
    )
),
eps AS (
    SELECT programme, started_on AS d, age_years AS age, coalesce(sex, 'unknown') AS sex,
           coalesce(municipality, 'unassigned') AS leaf
    FROM read_parquet('{d}/lake/episodes/*/*.parquet')
    WHERE started_on IS NOT NULL AND age_years BETWEEN 0 AND 17
      AND started_on BETWEEN DATE '{YEAR}-01-01' AND DATE '{YEAR}-12-31'
),
refs AS (
    SELECT programme, referred_on AS d, age_years AS age, coalesce(sex, 'unknown') AS sex,
           coalesce(municipality, 'unassigned') AS leaf
    FROM read_parquet('{d}/lake/referrals/*/*.parquet')
    WHERE age_years BETWEEN 0 AND 17
      AND referred_on BETWEEN DATE '{YEAR}-01-01' AND DATE '{YEAR}-12-31'
),
support AS (
    SELECT 'referrals' AS name, * FROM refs UNION ALL SELECT 'support_started', * FROM eps
),
waits_ AS (
    SELECT r.d AS d, r.leaf AS leaf, r.age AS age, r.sex AS sex, days FROM waits
),
-- Follow-ups due in the year (of every result read, whatever its day): done on or before
-- the due date, later within the month it fell due in, or not by the end of that month.
due AS (
    SELECT due, done, age, sex, leaf, instrument FROM (
        SELECT rescreen_due_on AS due, rescreen_done_on AS done, age_years AS age,
               coalesce(sex, 'unknown') AS sex, coalesce(municipality, 'unassigned') AS leaf,
               coalesce(instrument, '') AS instrument
        FROM read_parquet('{d}/lake/results/*/*.parquet')
        WHERE age_years BETWEEN 0 AND 17
        UNION ALL
        SELECT interview_due_on, interview_done_on, age_years, coalesce(sex, 'unknown'),
               coalesce(municipality, 'unassigned'), coalesce(instrument, '')
        FROM read_parquet('{d}/lake/results/*/*.parquet')
        WHERE age_years BETWEEN 0 AND 17
    ) WHERE due BETWEEN DATE '{YEAR}-01-01' AND DATE '{YEAR}-12-31'
),
fu AS (
    SELECT CASE WHEN done IS NULL OR done > last_day(due) THEN 'follow_ups_overdue'
                WHEN done <= due THEN 'follow_ups_done_on_time'
                ELSE 'follow_ups_done_late' END AS outcome,
           quarter(due) AS q, leaf, {band} AS band, sex, instrument, count(*) AS n
    FROM due GROUP BY ALL
),
-- (indicator, tables: all / noinst / sex / totals, quarter, leaf, band, sex, instrument, n)
facts AS (
    SELECT 'screenings' AS indicator, 'all' AS b, q, leaf, band, sex, instrument, n FROM scr
    UNION ALL SELECT 'screenings_risk_' || risk, 'all', q, leaf, band, sex, instrument, n FROM scr
    UNION ALL SELECT 'recommendations', 'all', q, leaf, band, sex, instrument, n FROM rec
    UNION ALL SELECT 'recommendations_' || kind, 'all', q, leaf, band, sex, instrument, n FROM rec
    UNION ALL SELECT 'children_screened', 'noinst', quarter(r.d), r.leaf,
        {BAND.format(a="r.age")}, r.sex, NULL, 1 FROM firsts
    UNION ALL SELECT name, 'noinst', quarter(d), leaf, {band}, sex, NULL, 1 FROM support
    UNION ALL SELECT name || ':' || programme, 'totals', quarter(d), leaf, {band}, sex, NULL, 1
        FROM support
    UNION ALL SELECT 'risk_identified', 'noinst', quarter(d), leaf, {band}, sex, NULL, 1
        FROM waits_
    UNION ALL SELECT CASE WHEN days IS NULL THEN 'risk_identified_waiting'
                          ELSE 'risk_identified_supported' END,
        'noinst', quarter(d), leaf, {band}, sex, NULL, 1 FROM waits_
    UNION ALL SELECT CASE WHEN days <= 30 THEN 'risk_identified_supported_0_30_days'
                          WHEN days <= 90 THEN 'risk_identified_supported_31_90_days'
                          ELSE 'risk_identified_supported_over_90_days' END,
        'noinst', quarter(d), leaf, {band}, sex, NULL, 1 FROM waits_ WHERE days IS NOT NULL
    UNION ALL SELECT 'sdq15_' || scale, 'sex', quarter(d), leaf, NULL, sex, NULL, 1
        FROM sdq_scales WHERE len(present) > 0
    UNION ALL SELECT 'sdq15_' || scale ||
            CASE WHEN list_has_any(present, ['high', 'very_high']) THEN '_high' ELSE '_other' END,
        'sex', quarter(d), leaf, NULL, sex, NULL, 1
        FROM sdq_scales WHERE len(present) > 0
    UNION ALL SELECT 'follow_ups_due', 'all', q, leaf, band, sex, instrument, n FROM fu
    UNION ALL SELECT outcome, 'all', q, leaf, band, sex, instrument, n FROM fu
    UNION ALL SELECT 'sdq_programme_pairs', 'noinst', quarter(d), leaf, {band}, sex, NULL, 1
        FROM sdq_change
    UNION ALL SELECT kind, 'noinst', quarter(d), leaf, {band}, sex, NULL, 1 FROM sdq_change
    UNION ALL SELECT kind || ':' || programme, 'totals', quarter(d), leaf, {band}, sex, NULL, 1
        FROM sdq_change
),
leaves AS (
    SELECT indicator, b, q, leaf, band, sex, instrument, sum(n) AS n FROM facts GROUP BY ALL
),
up AS (
    SELECT l.*, unnest(list_filter([l.leaf, g.region, 'LV'], lambda x: x IS NOT NULL)) AS atvk
    FROM leaves l LEFT JOIN regions g ON g.municipality = l.leaf
)
SELECT indicator, '{YEAR}' AS period, atvk, 'total' AS age_band, 'total' AS sex,
       'total' AS instrument, sum(n)::BIGINT AS value
FROM up GROUP BY indicator, atvk
UNION ALL
SELECT indicator, '{YEAR}-Q' || q, atvk, 'total', 'total', 'total', sum(n)::BIGINT
FROM up GROUP BY indicator, q, atvk
UNION ALL
SELECT indicator, '{YEAR}', atvk, band, 'total', 'total', sum(n)::BIGINT
FROM up WHERE b IN ('all', 'noinst') GROUP BY indicator, band, atvk
UNION ALL
SELECT indicator, '{YEAR}', atvk, 'total', sex, 'total', sum(n)::BIGINT
FROM up WHERE b IN ('all', 'noinst', 'sex') GROUP BY indicator, sex, atvk
UNION ALL
SELECT indicator, '{YEAR}', atvk, 'total', 'total', instrument, sum(n)::BIGINT
FROM up WHERE b = 'all' GROUP BY indicator, instrument, atvk
"""


def sql_days(d: Path) -> str:
    """Median and 90th percentile (nearest rank; the median of an even count is the mean of
    the two middle values) of the days from risk to support, and the median change in the SDQ
    total difficulties around a programme, per period × territory, from at least THRESHOLD
    children."""
    return f"""
CREATE TEMP TABLE days AS
WITH regions AS (
    SELECT municipality, region FROM read_csv('{d}/regions.csv', header = true, all_varchar = true)
),
values_ AS (
    SELECT 'days' AS what, w.r.d AS d, w.r.leaf AS leaf, w.days AS v
    FROM waits w WHERE w.days IS NOT NULL
    UNION ALL
    SELECT 'change', d, leaf, change FROM sdq_change
),
up AS (
    SELECT what, quarter(v.d) AS q, v.v,
           unnest(list_filter([v.leaf, g.region, 'LV'], lambda x: x IS NOT NULL)) AS atvk
    FROM values_ v LEFT JOIN regions g ON g.municipality = v.leaf
),
lists AS (
    SELECT what, '{YEAR}' AS period, atvk, list_sort(list(v)) AS l FROM up GROUP BY what, atvk
    UNION ALL
    SELECT what, '{YEAR}-Q' || q, atvk, list_sort(list(v)) FROM up GROUP BY what, q, atvk
),
medians AS (
    SELECT what, period, atvk,
           CASE WHEN len(l) % 2 = 0 THEN (l[len(l) // 2] + l[len(l) // 2 + 1]) / 2.0
                ELSE l[(len(l) + 1) // 2]::DOUBLE END AS value
    FROM lists WHERE len(l) >= {THRESHOLD}
)
SELECT CASE what WHEN 'days' THEN 'risk_to_support_median_days'
                 ELSE 'sdq_programme_median_change' END AS indicator, period, atvk, value
FROM medians
UNION ALL
SELECT 'risk_to_support_p90_days', period, atvk, l[greatest((90 * len(l) + 99) // 100, 1)]::DOUBLE
FROM lists WHERE what = 'days' AND len(l) >= {THRESHOLD}
"""


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    d = Path(sys.argv[1]).resolve()
    con = duckdb.connect()
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    started = time.perf_counter()
    cpu_started = time.process_time()
    con.execute(sql_waits(d))
    con.execute(sql_sdq_change(d))
    con.execute(sql_cells(d))
    con.execute(sql_days(d))
    cells = con.execute("SELECT count(*) FROM cells").fetchone()[0]
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # Untimed: the comparison with Rust's table.
    con.execute(
        f"""CREATE TEMP TABLE rust AS SELECT * FROM read_csv('{d}/rust-cells.csv', header = true,
            columns = {{'indicator': 'VARCHAR', 'period': 'VARCHAR', 'atvk': 'VARCHAR',
                        'age_band': 'VARCHAR', 'sex': 'VARCHAR', 'instrument': 'VARCHAR',
                        'value': 'DOUBLE'}})"""
    )
    con.execute(
        """CREATE TEMP TABLE ours AS
           SELECT indicator, period, atvk, age_band, sex, instrument, value::DOUBLE AS value
           FROM cells
           UNION ALL
           SELECT indicator, period, atvk, 'total', 'total', 'total', value FROM days"""
    )
    keys = "indicator, period, atvk, age_band, sex, instrument"
    differing = con.execute(
        f"""SELECT count(*) FROM rust r FULL OUTER JOIN ours o USING ({keys})
            WHERE r.value IS DISTINCT FROM o.value"""
    ).fetchone()[0]
    examples = con.execute(
        f"""SELECT {keys}, r.value AS rust, o.value AS duckdb
            FROM rust r FULL OUTER JOIN ours o USING ({keys})
            WHERE r.value IS DISTINCT FROM o.value ORDER BY ALL LIMIT 10"""
    ).fetchall()
    compared = con.execute("SELECT count(*) FROM ours").fetchone()[0]
    totals = con.execute(
        f"""SELECT indicator, r.value, o.value FROM rust r JOIN ours o USING ({keys})
            WHERE period = '{YEAR}' AND atvk = 'LV' AND age_band = 'total' AND sex = 'total'
              AND instrument = 'total'
              AND indicator IN ('screenings', 'children_screened', 'recommendations',
                                'referrals', 'support_started', 'risk_identified',
                                'risk_identified_waiting', 'sdq15_internalising_high',
                                'sdq15_externalising', 'risk_to_support_median_days',
                                'risk_to_support_p90_days', 'follow_ups_due',
                                'follow_ups_done_late', 'follow_ups_overdue',
                                'sdq_programme_pairs', 'sdq_programme_improved',
                                'sdq_programme_median_change')
            ORDER BY indicator"""
    ).fetchall()
    for name, rust, duck in totals:
        print(f"  LV {YEAR} {name:<30} rust {rust:>12,.1f}   duckdb {duck:>12,.1f}",
              file=sys.stderr)
    for row in examples:
        print(f"  differs: {row}", file=sys.stderr)
    print(
        json.dumps(
            {
                "step": "duckdb",
                "duckdb": duckdb.__version__,
                "threads": int(threads),
                "seconds": round(seconds, 3),
                "cpu_s": round(cpu, 2),
                "peak_rss_mib": round(peak_mib),
                "count_cells": cells,
                "cells_compared": compared,
                "cells_differing": differing,
            }
        )
    )
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
