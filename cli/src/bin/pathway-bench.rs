//! Benchmark of the care pathway's reads (results in `docs/BENCHMARKS.md`): on the embedded
//! backend (SQLite, `synchronous=FULL`), N children spread over organisations, each with
//! three scored M-CHAT-R screenings (3N results; a third of the children with a medium
//! result 60 days ago, so a Follow-Up overdue), their care links and their derived worklist
//! items; then the latency of the first page of one organisation's `GET /worklist` and
//! `GET /children`, through the same route handling as `ravis serve` (token check, the
//! use case, the audit entries of every child named, the JSON answer).
//!
//! `cargo run --release -p ravis --bin pathway-bench -- [CHILDREN] [ORGANISATIONS] [REQUESTS] [DIR] [--no-archive]`
//! (defaults 100000, 20, 300, `ravis-pathway-bench` in the system temporary directory; the
//! data directory is rebuilt on every run). `--no-archive` measures the same reads with an
//! audit trail that is not copied to the local write-once archive (what the archive costs;
//! `ravis serve` always archives).

use anyhow::{Context, Result};
use chrono::{Days, Months, Utc};
use jsonwebtoken::Algorithm::HS256;
use ravis::adapters::embedded::{EmbeddedBackend, QueueOptions};
use ravis::app::App;
use ravis::config::{AuthSettings, JwtKey};
use ravis::domain::{Child, ChildId, ChildStatus, Role, Sex};
use ravis::inbound::auth::Authenticator;
use ravis::inbound::http::ApiRequest;
use ravis::inbound::routes::handle;
use ravis::ports::{Record, RecordStore, WriteOp};
use ravis::services::care::{self, CareBasis};
use ravis::services::screenings::score_request;
use ravis::services::worklist::item_record;
use ravis::store::{codec, keys};
use ravis_cli::keys::{LOCAL_AUDIENCE, LOCAL_ISSUER, LocalKeys};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// M-CHAT-R answers with `at_risk` items at risk ("no" is at risk, except items 2, 5, 12).
fn mchat(at_risk: &[u8]) -> Value {
    (1..=20u8)
        .map(|i| {
            let risk = u8::from(matches!(i, 2 | 5 | 12));
            let answer = if at_risk.contains(&i) { risk } else { 1 - risk };
            (i.to_string(), json!(answer))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

struct Writer<R> {
    records: R,
    ops: Vec<WriteOp>,
    written: usize,
}

impl<R: RecordStore> Writer<R> {
    async fn put(&mut self, record: Record) -> Result<()> {
        self.ops.push(WriteOp::PutNew(record));
        if self.ops.len() == 100 {
            self.flush().await?;
        }
        Ok(())
    }
    async fn flush(&mut self) -> Result<()> {
        if !self.ops.is_empty() {
            self.written += self.ops.len();
            self.records
                .transact(std::mem::take(&mut self.ops))
                .await
                .context("writing a batch")?;
        }
        Ok(())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let no_archive = std::env::args().any(|a| a == "--no-archive");
    let mut args = std::env::args().skip(1).filter(|a| a != "--no-archive");
    let children: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let organisations: usize = args.next().map_or(Ok(20), |a| a.parse())?;
    let requests: usize = args.next().map_or(Ok(300), |a| a.parse())?;
    let dir: std::path::PathBuf = args.next().map_or_else(
        || std::env::temp_dir().join("ravis-pathway-bench"),
        Into::into,
    );
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let keys = LocalKeys::load_or_create(&dir)?;
    let backend = EmbeddedBackend::open(&dir)?;
    let records = backend.records();
    let app = if no_archive {
        App::new(
            records.clone(),
            &keys.identity_hmac_key,
            &keys.pseudonym_key,
        )?
    } else {
        App::embedded(&backend, &keys.identity_hmac_key, &keys.pseudonym_key)?
    };
    let today = Utc::now().date_naive();
    let org = |i: usize| format!("org-{:03}", i % organisations);

    // ---- the data
    let started = Instant::now();
    let mut w = Writer {
        records: records.clone(),
        ops: Vec::new(),
        written: 0,
    };
    for o in 0..organisations {
        w.put(Record::new(
            keys::organisation(&org(o)),
            json!({"id": org(o), "kind": "health_practice", "name": format!("Practice {o}"),
                   "atvk": "0001000", "registration_number": null, "status": "active",
                   "created_at": Utc::now()}),
        ))
        .await?;
    }
    let mut ids = Vec::with_capacity(children);
    for i in 0..children {
        let id = ChildId::from_uuid(uuid::Uuid::now_v7());
        ids.push(id);
        let birth = today
            .checked_sub_months(Months::new(28))
            .and_then(|d| d.checked_sub_days(Days::new((i % 60) as u64)))
            .context("date")?;
        let child = Child {
            id,
            personal_code: None,
            given_name: ["Anna", "Jānis", "Līga", "Pēteris"][i % 4].into(),
            family_name: ["Bērziņa", "Ozols", "Kalniņa", "Liepa"][i % 4].into(),
            birth_date: birth,
            sex: if i % 2 == 0 { Sex::Female } else { Sex::Male },
            gestational_age_weeks: None,
            atvk: Some(ravis::domain::Atvk::parse("0001000")?),
            status: ChildStatus::Active,
            created_at: Utc::now(),
            registered_by_org: org(i),
        };
        w.put(Record::new(keys::child(id), codec::to_data(&child)?))
            .await?;
        w.put(care::new_link_record(
            id,
            &org(i),
            CareBasis::Screened,
            Utc::now(),
        ))
        .await?;
        let medium = i % 3 == 0;
        for (n, days) in [(0u128, 300u64), (1, 150), (2, 60)] {
            let at_risk: &[u8] = if medium && n == 2 {
                &[1, 3, 4, 6]
            } else {
                &[1]
            };
            let on = today - Days::new(days);
            let screening = ravis::domain::ScreeningId::from_uuid(uuid::Uuid::now_v7());
            let submission = json!({"id": screening, "child_id": id, "instrument": "mchat-r",
                "administered_on": on, "answers": mchat(at_risk), "initial_screening_id": null,
                "status": "scored", "submitted_at": Utc::now(),
                "submitted_by": {"subject": format!("nurse-{}", i % 7), "organisation": org(i)}});
            let request = score_request(&submission, &child, None)?;
            let result = app
                .engine
                .score(&request)
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let mut data = serde_json::to_value(&result)?;
            let version = result.instrument_version.clone();
            let engine = result.engine_version.clone();
            data["result_id"] = json!(uuid::Uuid::now_v7());
            data["screening_id"] = json!(screening);
            data["child_id"] = json!(id);
            data["administered_on"] = json!(on);
            data["scored_at"] = json!(Utc::now());
            w.put(
                Record::new(keys::result(screening, &version, &engine), data).with_index(
                    keys::child_index(id),
                    keys::child_result_index(on, screening, &version, &engine),
                ),
            )
            .await?;
            w.put(
                Record::new(keys::screening(screening), submission).with_index(
                    keys::child_index(id),
                    keys::child_screening_index(on, screening),
                ),
            )
            .await?;
            let _ = n;
        }
    }
    w.flush().await?;
    let loaded = started.elapsed();
    // The worklist items, derived exactly as a reconcile derives them.
    let worklist = app.worklist();
    let mut items = 0;
    for id in &ids {
        for item in worklist.desired(*id).await? {
            w.put(item_record(&item)?.1).await?;
            items += 1;
        }
    }
    w.flush().await?;
    println!(
        "data: {children} children, {} results, {items} worklist items over {organisations} organisations, {} records; loaded in {:.1} s, items derived in {:.1} s",
        children * 3,
        w.written,
        loaded.as_secs_f64(),
        (started.elapsed() - loaded).as_secs_f64()
    );

    // ---- the reads
    let auth = Authenticator::new(&AuthSettings {
        issuer: LOCAL_ISSUER.into(),
        audience: vec![LOCAL_AUDIENCE.into()],
        algorithms: vec![HS256],
        key: JwtKey::Hs256Secret(keys.jwt_secret.clone()),
        leeway_seconds: 30,
    })?;
    let token = ravis_cli::token::mint(
        &dir,
        &ravis_cli::token::TokenOptions {
            roles: vec![Role::HealthSpecialist],
            organisation: org(0),
            subject: "nurse-0".into(),
            territory: None,
            purpose: None,
            lifetime_seconds: 3600,
        },
    )?;
    let queue = backend.queue("scoring", QueueOptions::default())?;
    let reports = backend.blobs("reports")?;
    let partner = backend.blobs("partner")?;
    let api = app.all_routes(queue.clone(), queue, reports, partner)?;
    for (path, query) in [
        ("/worklist", vec![]),
        ("/worklist", vec![("overdue".to_owned(), "true".to_owned())]),
        ("/children", vec![]),
    ] {
        let mut times = Vec::with_capacity(requests);
        let mut first = None;
        for n in 0..requests + 10 {
            let mut headers = http::HeaderMap::new();
            headers.insert("authorization", format!("Bearer {token}").parse()?);
            let request = ApiRequest {
                method: http::Method::GET,
                path: path.into(),
                query: query.clone(),
                headers,
                body: Default::default(),
                request_id: format!("bench-{n}"),
            };
            let t = Instant::now();
            let response = handle(&auth, &api, request).await;
            let took = t.elapsed();
            anyhow::ensure!(response.status == 200, "{path}: {}", response.status);
            if first.is_none() {
                let body: Value = serde_json::from_slice(&response.body)?;
                first = Some(body["items"].as_array().map_or(0, Vec::len));
            }
            if n >= 10 {
                times.push(took);
            }
        }
        times.sort();
        let shown = query
            .iter()
            .map(|(k, v)| format!("?{k}={v}"))
            .collect::<String>();
        println!(
            "GET {path}{shown} (first page, {} items, {requests} requests after 10 warm-up): p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            first.unwrap_or(0),
            percentile(&times, 0.50),
            percentile(&times, 0.95),
            percentile(&times, 0.99),
            times.last().map_or(0.0, |t| t.as_secs_f64() * 1000.0),
        );
    }
    Ok(())
}
