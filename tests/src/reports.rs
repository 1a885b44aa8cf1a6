//! Reports (issue #13) end to end on the embedded backend (`tests/tests/reports.rs`):
//! children across many small municipalities of three regions are registered, screened
//! through the year (M-CHAT-R, some at risk) and scored, some referred and supported; then a
//! national report, a municipality's report and the scheduled open-data release are made
//! by the worker, and read back through the API as each role may.

use crate::auth::verifier_and_scoped_token;
use crate::ckan_receiver::{CkanFault, CkanReceiver, ORGANISATION, TOKEN};
use crate::pathway::{World, token};
use bytes::Bytes;
use chrono::{Days, Months};
use ravis::domain::report::ReportState;
use ravis::domain::{Atvk, Role};
use ravis::inbound::http::ApiRequest;
use ravis::inbound::reports_api::ReportsApi;
use ravis::inbound::routes::handle;
use ravis::ports::{BlobStore, Queue, RecordStore};
use ravis::services::reports::worker::{REGIONS_KEY, ReportWorker, WorkerSettings};
use ravis::statistics::release::Release;
use ravis::statistics::{ConfStatus, Value};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;

/// Three regions of small municipalities (codes of the test; the classifier is the
/// operator's file).
pub const REGIONS: &str = "municipality,region,region_name\n\
0001000,R1,Region one\n0020000,R1,Region one\n0021000,R1,Region one\n\
0056000,R2,Region two\n0057000,R2,Region two\n0058000,R2,Region two\n\
0090000,R3,Region three\n0091000,R3,Region three\n";

const MUNICIPALITIES: [&str; 8] = [
    "0001000", "0020000", "0021000", "0056000", "0057000", "0058000", "0090000", "0091000",
];

/// M-CHAT-R answers with `at_risk` items failed ("no" fails, except items 2, 5, 12).
fn answers(at_risk: u8) -> Json {
    (1..=20u8)
        .map(|i| {
            let reversed = matches!(i, 2 | 5 | 12);
            let fail = i <= at_risk;
            let answer = u8::from(fail == reversed);
            (i.to_string(), json!(answer))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// A response of a reports route.
pub struct Answer {
    /// Status.
    pub status: u16,
    /// Content type.
    pub content_type: String,
    /// Body bytes.
    pub body: Bytes,
}

impl Answer {
    fn json(&self) -> Json {
        serde_json::from_slice(&self.body).expect("json")
    }
}

async fn call<R: RecordStore, Q: Queue, B: BlobStore>(
    api: &ReportsApi<R, Q, B>,
    auth: &ravis::inbound::auth::Authenticator,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Json>,
) -> Answer {
    let mut h = http::HeaderMap::new();
    h.insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    h.insert("content-type", "application/json".parse().expect("header"));
    let req = ApiRequest {
        method: method.parse().expect("method"),
        path: path.to_owned(),
        query: Vec::new(),
        headers: h,
        body: body.map(|b| b.to_string().into()).unwrap_or_default(),
        request_id: "reports".into(),
    };
    let resp = handle(auth, api, req).await;
    Answer {
        status: resp.status.as_u16(),
        content_type: resp
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body: resp.body,
    }
}

/// Registers `per_municipality` children in each municipality, screens each once or twice
/// through the year and scores them; refers and starts support for some of those at risk.
async fn seed<R: RecordStore + Clone, Q: Queue + Clone>(w: &World<R, Q>, per_municipality: u32) {
    let admin = token(Role::RegistryAdministrator, "admin");
    for (id, kind) in [
        ("clinic", "health_practice"),
        ("provider", "programme_provider"),
    ] {
        let a = w
            .call(
                "POST",
                "/organisations",
                &[],
                &admin,
                Some(json!({"id": id, "kind": kind, "name": id, "atvk": "0001000"})),
                None,
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.body);
    }
    let nurse = token(Role::HealthSpecialist, "clinic");
    let provider = token(Role::ProgrammeProvider, "provider");
    let today = w.app.clock.now().date_naive();
    let mut n = 0u32;
    for m in MUNICIPALITIES {
        for _ in 0..per_municipality {
            n += 1;
            // Screened up to 300 days ago at 18–27 months of age.
            let on = today - Days::new(u64::from((n * 37) % 300));
            let birth = on
                .checked_sub_months(Months::new(18 + n % 10))
                .expect("date");
            let a = w
                .call(
                    "POST",
                    "/children",
                    &[],
                    &nurse,
                    Some(
                        json!({"given_name": "Līga", "family_name": "Kalniņa", "birth_date": birth,
                        "sex": if n.is_multiple_of(2) { "female" } else { "male" }, "atvk": m}),
                    ),
                    None,
                )
                .await;
            assert_eq!(a.status, 201, "{}", a.body);
            let child = a.body["id"].as_str().expect("id").to_owned();
            // Every fourth child of each risk: low (0, 1 item), medium (4), high (9).
            let at_risk = [0u8, 1, 4, 9][n as usize % 4];
            let a = w
                .call(
                    "POST",
                    "/screenings",
                    &[],
                    &nurse,
                    Some(json!({"child_id": child, "instrument": "mchat-r",
                        "administered_on": on, "answers": answers(at_risk)})),
                    None,
                )
                .await;
            assert_eq!(a.status, 202, "{}", a.body);
            if at_risk >= 8 && !n.is_multiple_of(3) {
                let a = w
                    .call("POST", "/referrals", &[], &nurse,
                        Some(json!({"child_id": child, "basis": {"reason": {"text": "M-CHAT-R high"}},
                            "programme": "early-intervention-psychomotor", "provider_org": "provider",
                            "urgency": "soon", "family_agreement": "agreed"})), None)
                    .await;
                assert_eq!(a.status, 201, "{}", a.body);
                let id = a.body["id"].as_str().expect("id").to_owned();
                let mut etag = a.etag.expect("etag");
                for (who, to) in [
                    (&nurse, "sent"),
                    (&provider, "accepted"),
                    (&provider, "started"),
                ] {
                    let a = w
                        .call(
                            "POST",
                            &format!("/referrals/{id}/transitions"),
                            &[],
                            who,
                            Some(json!({"to": to})),
                            Some(&etag),
                        )
                        .await;
                    assert_eq!(a.status, 200, "{to}: {}", a.body);
                    etag = a.etag.expect("etag");
                }
            }
        }
    }
    w.score_queued().await;
}

/// The report worker's settings in the tests.
pub fn settings() -> WorkerSettings {
    WorkerSettings {
        threshold: 3,
        open_data_base_url: Some("https://open-data.example.invalid".into()),
        publisher: "RAVIS test".into(),
        contact_email: "dati@example.invalid".into(),
        lake_max_age: chrono::Duration::zero(),
    }
}

/// Runs every message of the report queue through the worker.
async fn work<R, Q, B>(queue: &Q, worker: &ReportWorker<R, B>) -> usize
where
    R: RecordStore + Clone,
    Q: Queue,
    B: BlobStore,
{
    let mut done = 0;
    loop {
        let messages = queue
            .receive(
                10,
                std::time::Duration::from_secs(60),
                std::time::Duration::from_millis(50),
            )
            .await
            .expect("receive");
        if messages.is_empty() {
            return done;
        }
        for m in messages {
            worker.handle(&m.body).await.expect("report made");
            queue.ack(&m.receipt).await.expect("ack");
            done += 1;
        }
    }
}

/// Every protected count of a release: no free count below the threshold, something hidden
/// (the LP proof that every hidden cell's interval is at least the threshold wide runs
/// outside Rust on `ravis report`'s release: `tests/reports/test_report.py`).
pub fn assert_protected(release: &Release) {
    let decimals: Vec<&str> = release
        .datasets
        .iter()
        .flat_map(|d| &d.rows)
        .filter(|r| matches!(r.value, Some(Value::Decimal(_))))
        .map(|r| r.key.indicator.as_str())
        .collect();
    let mut cells = BTreeMap::new();
    let mut status = BTreeMap::new();
    for row in release.datasets.iter().flat_map(|d| &d.rows) {
        if decimals.contains(&row.key.indicator.as_str())
            || ravis::statistics::indicators::is_decimal(&row.key.indicator)
        {
            continue;
        }
        if let Some(Value::Count(n)) = row.value {
            assert!(
                n == 0 || n >= release.threshold,
                "free count {n}: {:?}",
                row.key
            );
        }
        // The audit needs every cell's true value only for the hidden ones' bounds; the
        // published values are what it fixes.
        cells.insert(
            row.key.clone(),
            match row.value {
                Some(Value::Count(n)) => n,
                _ => 0,
            },
        );
        status.insert(row.key.clone(), row.conf_status);
    }
    let hidden = status.values().filter(|s| **s != ConfStatus::F).count();
    assert!(hidden > 0, "a release of small territories hides something");
}

/// The scenario: see the module doc.
pub async fn reports_end_to_end<R, Q, B>(records: R, queue: Q, report_queue: Q, buckets: [B; 3])
where
    R: RecordStore + Clone,
    Q: Queue + Clone,
    B: BlobStore + Clone,
{
    let world = World::with(records, queue, |app| app);
    let w = &world;
    seed(w, 12).await;
    let [lake, reports, open_data] = buckets;
    lake.put(
        REGIONS_KEY,
        Bytes::from_static(REGIONS.as_bytes()),
        Some("text/csv"),
    )
    .await
    .expect("classifier");
    let api = ReportsApi(w.app.reports(report_queue.clone(), reports.clone()));
    let worker = w
        .app
        .report_worker(lake, reports, open_data.clone(), settings());
    let scoped = |role: Role, atvk: Option<&str>| {
        let atvk = atvk.map(|a| Atvk::parse(a).expect("atvk"));
        verifier_and_scoped_token(role, "org", atvk.as_ref())
    };
    let (auth, ministry) = scoped(Role::MinistryAnalyst, None);
    let (_, municipality) = scoped(Role::MunicipalitySocialService, Some("0021000"));
    let (_, neighbour) = scoped(Role::MunicipalitySocialService, Some("0020000"));
    let (_, nurse) = scoped(Role::HealthSpecialist, None);

    // Asking: bad input named; a nurse refused; a municipality only for itself.
    let a = call(
        &api,
        &auth,
        "POST",
        "/reports",
        &ministry,
        Some(json!({"period": "2026-Q5", "territory": "0021040", "x": 1})),
    )
    .await;
    assert_eq!(a.status, 422, "{:?}", a.json());
    let fields: Vec<String> = a.json()["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(fields, ["x", "period", "territory"], "{:?}", a.json());
    assert_eq!(
        call(
            &api,
            &auth,
            "POST",
            "/reports",
            &nurse,
            Some(json!({"period": "2026"}))
        )
        .await
        .status,
        403
    );
    assert_eq!(
        call(
            &api,
            &auth,
            "POST",
            "/reports",
            &municipality,
            Some(json!({"period": "2026", "territory": "0020000"}))
        )
        .await
        .status,
        403
    );
    let national = call(
        &api,
        &auth,
        "POST",
        "/reports",
        &ministry,
        Some(json!({"period": "2026"})),
    )
    .await;
    assert_eq!(national.status, 202);
    let national_id = national.json()["id"].as_str().expect("id").to_owned();
    let own = call(
        &api,
        &auth,
        "POST",
        "/reports",
        &municipality,
        Some(json!({"period": "2026"})),
    )
    .await;
    assert_eq!(own.status, 202);
    assert_eq!(own.json()["territory"], "0021000");
    let own_id = own.json()["id"].as_str().expect("id").to_owned();
    assert!(
        worker.refresh_lake().await.expect("lake"),
        "no lake yet: written"
    );
    assert_eq!(work(&report_queue, &worker).await, 2);

    // The national report: done, every file linked, protected.
    let a = call(
        &api,
        &auth,
        "GET",
        &format!("/reports/{national_id}"),
        &ministry,
        None,
    )
    .await;
    assert_eq!(a.status, 200);
    let body = a.json();
    assert_eq!(body["state"], "done", "{body}");
    let links: Vec<String> = body["links"]
        .as_array()
        .expect("links")
        .iter()
        .map(|l| l["name"].as_str().unwrap_or("").to_owned())
        .collect();
    for name in [
        "indicators.json",
        "report.en.html",
        "report.lv.html",
        "screening.csv",
        "sdq15.csv",
        "support.csv",
        "targets.csv",
    ] {
        assert!(links.iter().any(|l| l == name), "{name} in {links:?}");
    }
    let file = call(
        &api,
        &auth,
        "GET",
        &format!("/reports/{national_id}/files/indicators.json"),
        &ministry,
        None,
    )
    .await;
    assert_eq!(
        (file.status, file.content_type.as_str()),
        (200, "application/json")
    );
    let release: Release = serde_json::from_slice(&file.body).expect("release");
    assert_protected(&release);
    let screened = release.datasets[0]
        .rows
        .iter()
        .find(|r| {
            r.key.indicator == "screenings"
                && r.key.atvk == "LV"
                && r.key.period == "2026"
                && r.key.age_band == "total"
                && r.key.sex == "total"
                && r.key.instrument == "total"
        })
        .expect("screenings in Latvia");
    assert_eq!(
        screened.value,
        Some(Value::Count(96)),
        "8 municipalities × 12 children, one screening each"
    );
    // M-CHAT-R results of 3–7 at risk ask for the follow-up interview within 14 days; no
    // child had it, so every one due is overdue.
    let latvia = |indicator: &str| {
        release.datasets[0]
            .rows
            .iter()
            .find(|r| {
                r.key.indicator == indicator
                    && r.key.atvk == "LV"
                    && r.key.period == "2026"
                    && [&r.key.age_band, &r.key.sex, &r.key.instrument]
                        .iter()
                        .all(|c| *c == "total")
            })
            .unwrap_or_else(|| panic!("{indicator} in Latvia"))
            .value
    };
    let due = latvia("follow_ups_due");
    assert!(matches!(due, Some(Value::Count(n)) if n > 0), "{due:?}");
    assert_eq!(latvia("follow_ups_overdue"), due);
    assert_eq!(latvia("follow_ups_done_on_time"), Some(Value::Count(0)));
    let html = call(
        &api,
        &auth,
        "GET",
        &format!("/reports/{national_id}/files/report.en.html"),
        &ministry,
        None,
    )
    .await;
    assert!(html.content_type.starts_with("text/html"));
    assert!(String::from_utf8_lossy(&html.body).contains("<svg"));
    // No report file names a child: no name, no pseudonym, no id.
    for name in &links {
        let f = call(
            &api,
            &auth,
            "GET",
            &format!("/reports/{national_id}/files/{name}"),
            &ministry,
            None,
        )
        .await;
        let text = String::from_utf8_lossy(&f.body);
        assert!(
            !text.contains("Kalniņa") && !text.contains("Līga"),
            "{name}"
        );
        assert!(
            !text
                .chars()
                .collect::<Vec<_>>()
                .windows(64)
                .any(|w| w.iter().all(|c| c.is_ascii_hexdigit())),
            "{name} holds a pseudonym"
        );
    }

    // The municipality's report: its own, its region's and Latvia's rows only.
    let a = call(
        &api,
        &auth,
        "GET",
        &format!("/reports/{own_id}/files/indicators.json"),
        &municipality,
        None,
    )
    .await;
    assert_eq!(a.status, 200);
    let cut: Release = serde_json::from_slice(&a.body).expect("release");
    let territories: std::collections::BTreeSet<&str> = cut
        .datasets
        .iter()
        .flat_map(|d| &d.rows)
        .map(|r| r.key.atvk.as_str())
        .collect();
    assert_eq!(
        territories.into_iter().collect::<Vec<_>>(),
        ["0021000", "LV", "R1"]
    );
    // Another territory's report is not there for it, nor the national one.
    assert_eq!(
        call(
            &api,
            &auth,
            "GET",
            &format!("/reports/{own_id}"),
            &neighbour,
            None
        )
        .await
        .status,
        404
    );
    assert_eq!(
        call(
            &api,
            &auth,
            "GET",
            &format!("/reports/{own_id}/files/screening.csv"),
            &neighbour,
            None
        )
        .await
        .status,
        404
    );
    assert_eq!(
        call(
            &api,
            &auth,
            "GET",
            &format!("/reports/{national_id}"),
            &municipality,
            None
        )
        .await
        .status,
        404
    );
    let listed = call(&api, &auth, "GET", "/reports", &neighbour, None)
        .await
        .json();
    assert_eq!(listed["items"], json!([]));
    let listed = call(&api, &auth, "GET", "/reports", &ministry, None)
        .await
        .json();
    assert_eq!(listed["items"].as_array().expect("items").len(), 2);
    assert_eq!(
        call(
            &api,
            &auth,
            "GET",
            &format!("/reports/{national_id}/files/..%2Fx"),
            &ministry,
            None
        )
        .await
        .status,
        404
    );

    // The schedule: last month's open-data release, once.
    let made = w
        .app
        .reports(report_queue.clone(), open_data.clone())
        .schedule()
        .await
        .expect("schedule");
    assert_eq!(
        made.iter().map(|r| r.period.as_str()).collect::<Vec<_>>(),
        ["2026-11"]
    );
    assert!(
        w.app
            .reports(report_queue.clone(), open_data.clone())
            .schedule()
            .await
            .expect("again")
            .is_empty()
    );
    assert_eq!(work(&report_queue, &worker).await, 1);
    for name in [
        "screening.csv",
        "support.csv",
        "sdq15.csv",
        "codelists.json",
        "metadata.jsonld",
    ] {
        let key = format!("open-data/2026-11/{name}");
        assert!(open_data.head(&key).await.expect("head").is_some(), "{key}");
    }
    let csv = open_data
        .get("open-data/2026-11/screening.csv")
        .await
        .expect("csv");
    assert!(String::from_utf8_lossy(&csv).starts_with(
        "period,atvk,territory_level,age_band,sex,instrument,indicator,value,conf_status\n"
    ));
    let stored = w
        .app
        .records
        .get(&ravis::store::keys::report(made[0].id))
        .await
        .expect("read")
        .expect("report");
    let report: ravis::domain::report::Report =
        serde_json::from_value(stored.data).expect("report");
    assert_eq!(report.state, ReportState::Done);
}

/// An open-data report of `period` for all of Latvia, asked for now and made at once
/// (as `ravis report` does; the schedule asks each period once).
async fn open_data_report<R, Q, B>(
    w: &World<R, Q>,
    worker: &ReportWorker<R, B>,
    period: &str,
) -> Result<ravis::domain::report::Report, ravis::services::reports::worker::ReportError>
where
    R: RecordStore + Clone,
    Q: Queue + Clone,
    B: BlobStore,
{
    use ravis::domain::report::{Report, ReportTrigger};
    let report = Report {
        id: ravis::domain::ReportId::from_uuid(w.app.ids.new_id()),
        period: period.into(),
        territory: None,
        state: ReportState::Queued,
        trigger: ReportTrigger::Request,
        requested_by: "ckan test".into(),
        requested_at: w.app.clock.now(),
        finished_at: None,
        error: None,
        files: Vec::new(),
        open_data: true,
    };
    w.app
        .records
        .put_new(ravis::services::reports::report_record(&report).expect("record"))
        .await
        .expect("put");
    let made = worker.run(report.id).await?;
    Ok(made.expect("the report"))
}

/// The packages' resources on the portal: package → resource names, in order.
fn portal_resources(portal: &CkanReceiver) -> BTreeMap<String, Vec<(String, usize)>> {
    portal
        .packages()
        .into_iter()
        .map(|(name, p)| {
            (
                name,
                p.resources
                    .iter()
                    .map(|r| (r.name.clone(), r.uploads))
                    .collect(),
            )
        })
        .collect()
}

/// Pushing releases to a CKAN portal (data.gov.lv; `ravis::adapters::ckan_http`): the
/// scheduled release goes to one package per dataset with one resource per period and the
/// codelists; a second release of the same period replaces the files (no duplicates); a
/// 500 or a 429 is retried by the adapter, a longer outage through the queue (the report
/// stays queued, the release is in the bucket, the next try replaces); a refused token
/// fails the report with the portal's reason; a package of another organisation is not
/// taken over.
pub async fn ckan_push<R, Q, B>(records: R, queue: Q, report_queue: Q, buckets: [B; 3])
where
    R: RecordStore + Clone,
    Q: Queue + Clone,
    B: BlobStore + Clone,
{
    use ravis::adapters::ckan_http::{CkanPortal, Retries};
    use std::sync::Arc;
    use std::time::Duration;
    let world = World::with(records, queue, |app| app);
    let w = &world;
    seed(w, 3).await;
    let [lake, reports, open_data] = buckets;
    lake.put(
        REGIONS_KEY,
        Bytes::from_static(REGIONS.as_bytes()),
        Some("text/csv"),
    )
    .await
    .expect("classifier");
    let portal = CkanReceiver::start().await;
    let ckan = |token: &str| {
        Arc::new(
            CkanPortal::new(&portal.base, token, ORGANISATION, Duration::from_secs(10))
                .expect("portal")
                .with_retries(Retries {
                    attempts: 3,
                    max_wait: Duration::from_secs(2),
                }),
        )
    };
    let worker = w
        .app
        .report_worker(lake.clone(), reports.clone(), open_data.clone(), settings())
        .with_portal(ckan(TOKEN));

    // The schedule's release: three packages, each with the period's CSV and the codelists.
    let made = w
        .app
        .reports(report_queue.clone(), open_data.clone())
        .schedule()
        .await
        .expect("schedule");
    assert_eq!(made.len(), 1);
    assert_eq!(work(&report_queue, &worker).await, 1);
    let expected = |uploads: usize| -> BTreeMap<String, Vec<(String, usize)>> {
        ["ravis-screening", "ravis-sdq15", "ravis-support"]
            .into_iter()
            .map(|p| {
                (
                    p.to_owned(),
                    vec![
                        ("2026-11".to_owned(), uploads),
                        ("codelists".to_owned(), uploads),
                    ],
                )
            })
            .collect()
    };
    assert_eq!(portal_resources(&portal), expected(1));
    let packages = portal.packages();
    for (id, package) in [
        ("screening", &packages["ravis-screening"]),
        ("support", &packages["ravis-support"]),
        ("sdq15", &packages["ravis-sdq15"]),
    ] {
        let f = &package.fields;
        assert_eq!(f["license_id"], "cc-by-4.0");
        assert_eq!(f["owner_org"], ORGANISATION);
        assert!(f["title"].as_str().expect("title").contains(" / "), "{f}");
        let tags: Vec<&str> = f["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert!(
            tags.contains(&"skrīnings") && tags.contains(&"screening"),
            "{tags:?}"
        );
        assert!(
            f["notes"]
                .as_str()
                .expect("notes")
                .contains("https://open-data.example.invalid/open-data/2026-11/metadata.jsonld"),
            "{f}"
        );
        let csv = &package.resources[0];
        assert_eq!(
            (csv.format.as_str(), csv.file_name.as_str()),
            ("CSV", &*format!("ravis-{id}-2026-11.csv"))
        );
        let in_bucket = open_data
            .get(&format!("open-data/2026-11/{id}.csv"))
            .await
            .expect("csv in the bucket");
        assert_eq!(csv.content, in_bucket.to_vec(), "{id}: the bucket's bytes");
        let codelists = open_data
            .get("open-data/2026-11/codelists.json")
            .await
            .expect("codelists");
        assert_eq!(package.resources[1].content, codelists.to_vec());
    }

    // The same period again: the files replaced, nothing added.
    let again = open_data_report(w, &worker, "2026-11")
        .await
        .expect("again");
    assert_eq!(again.state, ReportState::Done, "{:?}", again.error);
    assert_eq!(portal_resources(&portal), expected(2));

    // A 500 and a 429 (Retry-After 1 s) on the way: retried by the adapter.
    portal.script([CkanFault::ServerError, CkanFault::Throttle(1)]);
    let calls_before = portal.calls().len();
    let started = std::time::Instant::now();
    let retried = open_data_report(w, &worker, "2026-11")
        .await
        .expect("retried");
    assert_eq!(retried.state, ReportState::Done, "{:?}", retried.error);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(
        portal.calls()[calls_before..calls_before + 3],
        ["package_show", "package_show", "package_show"]
    );
    assert_eq!(portal_resources(&portal), expected(3));

    // A longer outage: the report is retried through the queue, the release is in the bucket.
    portal.script([CkanFault::ServerError; 3]);
    let down = open_data_report(w, &worker, "2026-Q4").await;
    let Err(e) = down else {
        panic!("an outage is an error to retry, not {down:?}")
    };
    assert!(
        matches!(e, ravis::services::reports::worker::ReportError::Portal(_)),
        "{e}"
    );
    let text = e.to_string();
    assert!(text.contains("500") && text.contains("3 tries"), "{text}");
    assert!(
        open_data
            .head("open-data/2026-Q4/screening.csv")
            .await
            .expect("head")
            .is_some(),
        "the release is in the bucket"
    );
    // What the redelivered message does: the same report made again, pushed once.
    let redelivered = open_data_report(w, &worker, "2026-Q4")
        .await
        .expect("redelivered");
    assert_eq!(redelivered.state, ReportState::Done);
    let resources = portal_resources(&portal);
    assert_eq!(
        resources["ravis-screening"],
        [
            ("2026-11".to_owned(), 3),
            ("codelists".to_owned(), 4),
            ("2026-Q4".to_owned(), 1)
        ]
    );

    // A refused token: the report fails with the portal's reason; the bucket keeps the files.
    let refused_worker = w
        .app
        .report_worker(lake.clone(), reports.clone(), open_data.clone(), settings())
        .with_portal(ckan("not-the-token"));
    let refused = open_data_report(w, &refused_worker, "2026-10")
        .await
        .expect("a refusal fails the report, it is not retried");
    assert_eq!(refused.state, ReportState::Failed);
    let reason = refused.error.expect("reason");
    assert!(
        reason.contains("refused the API token")
            && reason.contains("403")
            && reason.contains("RAVIS_CKAN_TOKEN")
            && reason.contains("Access denied"),
        "{reason}"
    );
    assert!(
        open_data
            .head("open-data/2026-10/support.csv")
            .await
            .expect("head")
            .is_some()
    );
    assert!(
        !portal_resources(&portal)["ravis-screening"]
            .iter()
            .any(|(name, _)| name == "2026-10")
    );

    // A package of the same name owned by another organisation is not taken over.
    let taken = CkanReceiver::start().await;
    taken.put_foreign("ravis-screening", "someone-else");
    let other_worker = w
        .app
        .report_worker(lake, reports, open_data, settings())
        .with_portal(Arc::new(
            CkanPortal::new(&taken.base, TOKEN, ORGANISATION, Duration::from_secs(10))
                .expect("portal"),
        ));
    let refused = open_data_report(w, &other_worker, "2026-11")
        .await
        .expect("report");
    assert_eq!(refused.state, ReportState::Failed);
    let reason = refused.error.expect("reason");
    assert!(
        reason.contains("someone-else") && reason.contains("not taken over"),
        "{reason}"
    );
    assert!(taken.packages()["ravis-screening"].resources.is_empty());
}
