//! The care pathway (issue #14), written once over HTTP and run on every record-store
//! adapter (`tests/tests/care_pathway.rs` on SQLite, `tests/tests/aws_care_pathway.rs` on
//! DynamoDB/moto): the follow-up interview on the screener's worklist and gone once done, a
//! referral through its whole life with the provider's access to the child opening at
//! acceptance and closing after the grace period, refused steps that change nothing, the
//! follow-up cadence, and the sweep repairing a reconcile lost to a crash.

use crate::auth::verifier_and_scoped_token;
use chrono::{Days, Duration, NaiveDate};
use ravis::app::App;
use ravis::domain::{ChildId, Role};
use ravis::inbound::all_routes::AllRoutes;
use ravis::inbound::auth::Authenticator;
use ravis::inbound::http::ApiRequest;
use ravis::inbound::routes::handle;
use ravis::ports::{Clock, ManualClock, Queue, RecordStore, SortKeyCondition, WriteOp};
use ravis::store::keys;
use serde_json::{Value, json};
use std::sync::Arc;

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    /// Status.
    pub status: u16,
    /// Body.
    pub body: Value,
    /// `ETag`.
    pub etag: Option<String>,
}

/// A whole API over one record store and scoring queue, with a clock the test moves (the
/// care-pathway and exports suites call it as a client would).
pub(crate) struct World<R, Q> {
    pub(crate) app: App<R>,
    pub(crate) api: AllRoutes<R, Q, ravis::adapters::embedded::DirBlobStore>,
    pub(crate) auth: Authenticator,
    pub(crate) queue: Q,
    pub(crate) clock: Arc<ManualClock>,
    _reports_dir: tempfile::TempDir,
}

pub(crate) fn token(role: Role, org: &str) -> String {
    verifier_and_scoped_token(role, org, None).1
}

fn token_in(role: Role, org: &str, territory: &str) -> String {
    let atvk = ravis::domain::Atvk::parse(territory).expect("atvk");
    verifier_and_scoped_token(role, org, Some(&atvk)).1
}

impl<R: RecordStore + Clone, Q: Queue + Clone> World<R, Q> {
    fn new(records: R, queue: Q) -> Self {
        Self::with(records, queue, |app| app)
    }

    /// The world with the app adjusted by `adjust` (an export queue, say).
    pub(crate) fn with(records: R, queue: Q, adjust: impl FnOnce(App<R>) -> App<R>) -> Self {
        let clock = Arc::new(ManualClock::at(
            "2026-12-06T09:00:00Z".parse().expect("time"),
        ));
        let app = adjust(
            App::new(records, &[4; 32], &[6; 32])
                .expect("app")
                .with_clock(clock.clone())
                .with_care_settings(30, (3, 6)),
        );
        let reports_dir = tempfile::tempdir().expect("reports dir");
        let reports = ravis::adapters::embedded::DirBlobStore::open(reports_dir.path(), "reports")
            .expect("reports bucket");
        let partner = ravis::adapters::embedded::DirBlobStore::open(reports_dir.path(), "partner")
            .expect("partner bucket");
        let api = app
            .all_routes(queue.clone(), queue.clone(), reports, partner)
            .expect("routes");
        let (auth, _) = verifier_and_scoped_token(Role::RegistryAdministrator, "x", None);
        Self {
            app,
            api,
            auth,
            queue,
            clock,
            _reports_dir: reports_dir,
        }
    }

    fn today(&self) -> NaiveDate {
        self.clock.now().date_naive()
    }

    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        token: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Answer {
        let mut h = http::HeaderMap::new();
        h.insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        h.insert("content-type", "application/json".parse().expect("header"));
        if let Some(v) = if_match {
            h.insert("if-match", v.parse().expect("header"));
        }
        let req = ApiRequest {
            method: method.parse().expect("method"),
            path: path.to_owned(),
            query: query
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect(),
            headers: h,
            body: body.map(|b| b.to_string().into()).unwrap_or_default(),
            request_id: "pathway".into(),
        };
        let resp = handle(&self.auth, &self.api, req).await;
        let body = if resp.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&resp.body).expect("json body")
        };
        Answer {
            status: resp.status.as_u16(),
            etag: resp
                .headers
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body,
        }
    }

    /// Scores every queued submission with the app's scoring worker.
    pub(crate) async fn score_queued(&self) {
        let worker = self.app.scoring_worker();
        loop {
            let messages = self
                .queue
                .receive(
                    10,
                    std::time::Duration::from_secs(60),
                    std::time::Duration::from_millis(50),
                )
                .await
                .expect("receive");
            if messages.is_empty() {
                return;
            }
            for m in messages {
                worker.handle(&m.body).await.expect("scored");
                self.queue.ack(&m.receipt).await.expect("ack");
            }
        }
    }

    async fn worklist(&self, token: &str, query: &[(&str, &str)]) -> Value {
        let a = self
            .call("GET", "/worklist", query, token, None, None)
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.body
    }

    async fn step(&self, token: &str, referral: &str, etag: &str, body: Value) -> Answer {
        self.call(
            "POST",
            &format!("/referrals/{referral}/transitions"),
            &[],
            token,
            Some(body),
            Some(etag),
        )
        .await
    }

    async fn children_listed(&self, token: &str) -> usize {
        let a = self.call("GET", "/children", &[], token, None, None).await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.body["items"].as_array().expect("items").len()
    }

    async fn sees_child(&self, token: &str, child: &str) -> bool {
        let a = self
            .call("GET", &format!("/children/{child}"), &[], token, None, None)
            .await;
        assert!(matches!(a.status, 200 | 404), "{}", a.body);
        a.status == 200
    }
}

fn kinds(worklist: &Value) -> Vec<String> {
    worklist["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["kind"].as_str().expect("kind").to_owned())
        .collect()
}

/// M-CHAT-R answers with `at_risk` items at risk ("no" is at risk, except items 2, 5, 12).
fn mchat_answers(at_risk: &[u8]) -> Value {
    (1..=20u8)
        .map(|i| {
            let risk = u8::from(matches!(i, 2 | 5 | 12));
            let answer = if at_risk.contains(&i) { risk } else { 1 - risk };
            (i.to_string(), json!(answer))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

async fn setup<R: RecordStore + Clone, Q: Queue + Clone>(w: &World<R, Q>) -> String {
    let admin = token(Role::RegistryAdministrator, "admin");
    for (id, kind) in [
        ("clinic", "health_practice"),
        ("provider", "programme_provider"),
        ("other-provider", "programme_provider"),
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
    // 20 months old: in the M-CHAT-R's range (16–30 months).
    let birth = w
        .today()
        .checked_sub_months(chrono::Months::new(20))
        .expect("date");
    let nurse = token(Role::HealthSpecialist, "clinic");
    let a = w
        .call(
            "POST",
            "/children",
            &[],
            &nurse,
            Some(
                json!({"given_name": "Anna", "family_name": "Ozola", "birth_date": birth,
                        "sex": "female", "atvk": "0001000"}),
            ),
            None,
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    a.body["id"].as_str().expect("id").to_owned()
}

/// A medium M-CHAT-R two months ago puts the Follow-Up interview on the screener's
/// worklist, overdue; submitting the Follow-Up removes it.
pub async fn follow_up_interview_on_the_worklist<R: RecordStore + Clone, Q: Queue + Clone>(
    records: R,
    queue: Q,
) {
    let w = World::new(records, queue);
    let child = setup(&w).await;
    let nurse = token(Role::HealthSpecialist, "clinic");
    let two_months_ago = w.today() - Days::new(60);
    let a = w
        .call(
            "POST",
            "/screenings",
            &[],
            &nurse,
            Some(json!({"child_id": child, "instrument": "mchat-r",
                        "administered_on": two_months_ago, "answers": mchat_answers(&[1, 3, 4, 6])})),
            None,
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let initial = a.body["id"].as_str().expect("id").to_owned();
    w.score_queued().await;

    let list = w.worklist(&nurse, &[]).await;
    assert_eq!(kinds(&list), ["follow_up_interview"], "{list}");
    let item = &list["items"][0];
    assert_eq!(item["overdue"], true);
    assert_eq!(item["days_overdue"], 60 - 14);
    assert_eq!(item["due_on"], json!(two_months_ago + Days::new(14)));
    assert_eq!(item["link"], format!("/screenings/{initial}"));
    assert_eq!(item["subject"], "mchat-r");
    assert_eq!(item["child"]["id"], child.as_str());
    assert_eq!(item["child"]["given_name"], "Anna");
    assert_eq!(list["counts"]["follow_up_interview"], 1);
    assert_eq!(list["counts_complete"], true);
    // The children list: the child is in the clinic's care, at medium risk, one item overdue.
    let born = w
        .today()
        .checked_sub_months(chrono::Months::new(20))
        .expect("date");
    for query in [
        vec![],
        vec![("overdue", "true")],
        vec![("risk_level", "medium")],
        vec![("name", "oZo")],
        vec![("born", &born.to_string()[..7])],
    ] {
        let a = w.call("GET", "/children", &query, &nurse, None, None).await;
        assert_eq!(a.status, 200, "{query:?}: {}", a.body);
        let items = a.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{query:?}: {}", a.body);
        assert_eq!(items[0]["id"], child.as_str());
        assert_eq!(items[0]["overall_risk"], "medium");
        assert_eq!(items[0]["overdue_items"], 1);
    }
    for query in [
        vec![("overdue", "false")],
        vec![("risk_level", "high")],
        vec![("name", "berz")],
        vec![("born", "2019")],
    ] {
        let a = w.call("GET", "/children", &query, &nurse, None, None).await;
        assert_eq!(a.body["items"], json!([]), "{query:?}");
    }
    // A teacher's view has no risk level, and may not filter by it.
    let school = token(Role::EducationSpecialist, "clinic");
    let a = w.call("GET", "/children", &[], &school, None, None).await;
    assert_eq!(a.body["items"][0]["needs_support"], true, "{}", a.body);
    assert!(a.body["items"][0].get("overall_risk").is_none());
    assert!(a.body["items"][0].get("personal_code").is_none());
    let a = w
        .call(
            "GET",
            "/children",
            &[("risk_level", "high")],
            &school,
            None,
            None,
        )
        .await;
    assert_eq!(
        (a.status, a.body["errors"][0]["field"].as_str()),
        (422, Some("risk_level"))
    );
    // Filters.
    for (query, n) in [
        (vec![("overdue", "true")], 1),
        (vec![("overdue", "false")], 0),
        (vec![("kind", "rescreen")], 0),
        (vec![("assignee", "me")], 1),
    ] {
        let l = w.worklist(&nurse, &query).await;
        assert_eq!(l["items"].as_array().expect("items").len(), n, "{query:?}");
    }
    for (name, value) in [("kind", "nap"), ("organisation", "0.5"), ("overdue", "yes")] {
        let bad = w
            .call("GET", "/worklist", &[(name, value)], &nurse, None, None)
            .await;
        assert_eq!(bad.status, 422, "{name}={value}");
        assert_eq!(bad.body["errors"][0]["field"], name);
    }
    // Another organisation's list is not the nurse's to read.
    let other = w
        .call(
            "GET",
            "/worklist",
            &[("organisation", "provider")],
            &nurse,
            None,
            None,
        )
        .await;
    assert_eq!(other.status, 403);
    // The provider has nothing.
    let provider = token(Role::ProgrammeProvider, "provider");
    assert!(kinds(&w.worklist(&provider, &[]).await).is_empty());

    // The Follow-Up, today: the item is gone.
    let failing: Value = [1u8, 3, 4, 6]
        .iter()
        .map(|i| (i.to_string(), json!(0)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let a = w
        .call(
            "POST",
            "/screenings",
            &[],
            &nurse,
            Some(
                json!({"child_id": child, "instrument": "mchat-rf", "administered_on": w.today(),
                        "initial_screening_id": initial, "answers": failing}),
            ),
            None,
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    w.score_queued().await;
    let list = w.worklist(&nurse, &[]).await;
    assert!(kinds(&list).is_empty(), "{list}");
    assert_eq!(list["counts"]["follow_up_interview"], 0);
}

/// `proposed → sent → accepted → started → completed`; the provider sees the child only
/// from acceptance until the grace period after the end; every step is audited.
pub async fn a_referral_through_its_life<R: RecordStore + Clone, Q: Queue + Clone>(
    records: R,
    queue: Q,
) {
    let w = World::new(records.clone(), queue);
    let child = setup(&w).await;
    let nurse = token(Role::HealthSpecialist, "clinic");
    let provider = token(Role::ProgrammeProvider, "provider");
    let a = w
        .call(
            "POST",
            "/referrals",
            &[],
            &nurse,
            Some(
                json!({"child_id": child, "basis": {"reason": {"text": "parents ask for support"}},
                        "programme": "early-intervention-psychomotor", "provider_org": "provider",
                        "urgency": "soon", "family_agreement": "agreed"}),
            ),
            None,
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["state"], "proposed");
    assert_eq!(a.body["due_on"], json!(w.today() + Days::new(14)));
    let id = a.body["id"].as_str().expect("id").to_owned();
    let mut etag = a.etag.expect("etag");
    assert_eq!(kinds(&w.worklist(&nurse, &[]).await), ["referral_to_send"]);
    assert_eq!(w.children_listed(&provider).await, 0);
    // Before it is sent the provider sees neither the referral nor the child.
    assert_eq!(
        w.call(
            "GET",
            &format!("/referrals/{id}"),
            &[],
            &provider,
            None,
            None
        )
        .await
        .status,
        404
    );
    assert!(!w.sees_child(&provider, &child).await);

    // Sent: the provider sees a preview, and the child only by id on its worklist.
    let a = w.step(&nurse, &id, &etag, json!({"to": "sent"})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    etag = a.etag.expect("etag");
    let preview = w
        .call(
            "GET",
            &format!("/referrals/{id}"),
            &[],
            &provider,
            None,
            None,
        )
        .await;
    assert_eq!(preview.status, 200);
    assert!(preview.body.get("basis").is_none(), "{}", preview.body);
    assert!(preview.body.get("history").is_none());
    assert!(!w.sees_child(&provider, &child).await);
    let list = w.worklist(&provider, &[]).await;
    assert_eq!(kinds(&list), ["referral_response"]);
    assert_eq!(list["items"][0]["child"], json!({"id": child}));
    assert!(kinds(&w.worklist(&nurse, &[]).await).is_empty());

    // Accepting needs If-Match; without it nothing changes.
    let a = w
        .call(
            "POST",
            &format!("/referrals/{id}/transitions"),
            &[],
            &provider,
            Some(json!({"to": "accepted"})),
            None,
        )
        .await;
    assert_eq!(a.status, 428, "{}", a.body);
    // The referring side cannot accept for the provider.
    assert_eq!(
        w.step(&nurse, &id, &etag, json!({"to": "accepted"}))
            .await
            .status,
        403
    );
    let a = w
        .step(&provider, &id, &etag, json!({"to": "accepted"}))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    etag = a.etag.expect("etag");
    assert!(
        w.sees_child(&provider, &child).await,
        "accepted: the provider sees the child"
    );
    assert_eq!(w.children_listed(&provider).await, 1, "and lists it");
    assert_eq!(kinds(&w.worklist(&provider, &[]).await), ["referral_start"]);

    // Started: an episode of the programme at the provider, linked to the referral.
    let a = w
        .step(
            &provider,
            &id,
            &etag,
            json!({"to": "started", "planned_end_date": w.today() + Days::new(100)}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    etag = a.etag.expect("etag");
    let episode = a.body["episode_id"].as_str().expect("episode").to_owned();
    let e = w
        .call(
            "GET",
            &format!("/support-episodes/{episode}"),
            &[],
            &provider,
            None,
            None,
        )
        .await;
    assert_eq!(e.status, 200, "{}", e.body);
    assert_eq!(e.body["programme"], "early-intervention-psychomotor");
    assert_eq!(e.body["referring_org"], "clinic");
    assert_eq!(e.body["start_date"], json!(w.today()));
    // Under 3 years: the first review is due in 3 months; the outcome at the planned end.
    let list = w.worklist(&provider, &[]).await;
    let mut got = kinds(&list);
    got.sort();
    assert_eq!(got, ["episode_outcome", "support_review"]);
    let review = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["kind"] == "support_review")
        .expect("review");
    assert_eq!(
        review["due_on"],
        json!(w.today().checked_add_months(chrono::Months::new(3)))
    );
    assert_eq!(review["link"], format!("/support-episodes/{episode}"));

    // Completed with an outcome: the episode is closed with it, nothing is left to do.
    let a = w
        .step(
            &provider,
            &id,
            &etag,
            json!({"to": "completed", "outcome": "goals_met"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["state"], "completed");
    assert!(a.body["care_until"].is_string());
    let e = w
        .call(
            "GET",
            &format!("/support-episodes/{episode}"),
            &[],
            &provider,
            None,
            None,
        )
        .await;
    assert_eq!(e.body["end_date"], json!(w.today()));
    assert_eq!(e.body["outcome"], "goals_met");
    assert_eq!(e.body["end_reason"], "completed");
    assert!(kinds(&w.worklist(&provider, &[]).await).is_empty());
    // Within the grace period the provider still sees the child; after it, no longer.
    w.clock.advance(Duration::days(29));
    assert!(w.sees_child(&provider, &child).await);
    w.clock.advance(Duration::days(2));
    assert!(!w.sees_child(&provider, &child).await, "grace period over");
    assert_eq!(w.children_listed(&provider).await, 0, "nor lists it");
    // Another provider never saw it.
    let other = token(Role::ProgrammeProvider, "other-provider");
    assert!(!w.sees_child(&other, &child).await);

    // Every step is in the child's audit trail.
    let dpo = token(Role::DataProtectionOfficer, "dpo");
    let trail = w
        .call("GET", "/audit", &[("child", &child)], &dpo, None, None)
        .await;
    assert_eq!(trail.status, 200, "{}", trail.body);
    let steps: Vec<(String, String)> = trail.body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["entity"] == "referral" && e["outcome"] == "success")
        .filter(|e| e["action"] != "read")
        .map(|e| {
            (
                e["action"].as_str().expect("action").to_owned(),
                e["actor"]["organisation"].as_str().expect("org").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("create".to_owned(), "clinic".to_owned()),
            ("update".to_owned(), "clinic".to_owned()),
            ("update".to_owned(), "provider".to_owned()),
            ("update".to_owned(), "provider".to_owned()),
            ("update".to_owned(), "provider".to_owned()),
        ]
    );
    let r = w
        .call("GET", &format!("/referrals/{id}"), &[], &nurse, None, None)
        .await;
    let history: Vec<&str> = r.body["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|s| s["state"].as_str().expect("state"))
        .collect();
    assert_eq!(
        history,
        ["proposed", "sent", "accepted", "started", "completed"]
    );
    // The list finds it by child, state and provider.
    let l = w
        .call(
            "GET",
            "/referrals",
            &[
                ("child", &child),
                ("state", "completed"),
                ("provider_org", "provider"),
            ],
            &nurse,
            None,
            None,
        )
        .await;
    assert_eq!(l.status, 200, "{}", l.body);
    assert_eq!(l.body["items"].as_array().expect("items").len(), 1);
}

/// Bad steps get a specific problem and change nothing.
pub async fn refused_steps_change_nothing<R: RecordStore + Clone, Q: Queue + Clone>(
    records: R,
    queue: Q,
) {
    let w = World::new(records, queue);
    let child = setup(&w).await;
    let nurse = token(Role::HealthSpecialist, "clinic");
    let provider = token(Role::ProgrammeProvider, "provider");
    let refer = |programme: &str, agreement: &str| {
        json!({"child_id": child, "basis": {"reason": {"text": "needs support"}},
               "programme": programme, "provider_org": "provider", "family_agreement": agreement})
    };
    // A programme outside the child's age (STOP 4–7: 48–95 months; the child is 20 months).
    let a = w
        .call(
            "POST",
            "/referrals",
            &[],
            &nurse,
            Some(refer("stop-4-7", "agreed")),
            None,
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["errors"][0]["field"], "programme");
    assert!(
        a.body["errors"][0]["reason"]
            .as_str()
            .expect("reason")
            .contains("20 months old"),
        "{}",
        a.body
    );
    // A retired programme.
    let admin = token(Role::RegistryAdministrator, "admin");
    let entry = w
        .call("GET", "/catalogue/entries/kiva", &[], &admin, None, None)
        .await;
    let retired = w
        .call(
            "POST",
            "/catalogue/entries/kiva/retire",
            &[],
            &admin,
            Some(json!({})),
            entry.etag.as_deref(),
        )
        .await;
    assert_eq!(retired.status, 200, "{}", retired.body);
    let a = w
        .call(
            "POST",
            "/referrals",
            &[],
            &nurse,
            Some(refer("kiva", "agreed")),
            None,
        )
        .await;
    assert_eq!(a.status, 422);
    assert_eq!(a.body["errors"][0]["field"], "programme");
    assert!(
        a.body["errors"][0]["reason"]
            .as_str()
            .expect("r")
            .contains("retired")
    );
    // Unknown fields, a screening of nobody, no reason.
    let a = w
        .call(
            "POST",
            "/referrals",
            &[],
            &nurse,
            Some(
                json!({"child_id": child, "basis": {"result": {"screening_id": child, "rule": "x"}},
                        "provider_org": "provider"}),
            ),
            None,
        )
        .await;
    assert_eq!(a.status, 422);
    assert_eq!(a.body["errors"][0]["field"], "basis.result.screening_id");
    let nothing_stored = w
        .call(
            "GET",
            "/referrals",
            &[("child", &child)],
            &nurse,
            None,
            None,
        )
        .await;
    assert_eq!(nothing_stored.body["items"], json!([]));

    // Not asked: it cannot be sent.
    let a = w
        .call(
            "POST",
            "/referrals",
            &[],
            &nurse,
            Some(refer("early-intervention-psychomotor", "not_asked")),
            None,
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.body["id"].as_str().expect("id").to_owned();
    let etag = a.etag.expect("etag");
    let a = w.step(&nurse, &id, &etag, json!({"to": "sent"})).await;
    assert_eq!(a.status, 409);
    assert_eq!(
        a.body["type"]
            .as_str()
            .map(|t| t.ends_with("family-agreement-missing")),
        Some(true),
        "{}",
        a.body
    );
    let a = w
        .call(
            "PUT",
            &format!("/referrals/{id}/family-agreement"),
            &[],
            &nurse,
            Some(json!({"status": "agreed"})),
            Some(&etag),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["family_agreement"]["recorded_at"].is_string());
    let etag = a.etag.expect("etag");
    // A stale version.
    let stale = w.step(&nurse, &id, "\"1\"", json!({"to": "sent"})).await;
    assert_eq!(stale.status, 412);
    let a = w.step(&nurse, &id, &etag, json!({"to": "sent"})).await;
    assert_eq!(a.status, 200);
    let etag = a.etag.expect("etag");
    // Declining needs a reason.
    let a = w
        .step(&provider, &id, &etag, json!({"to": "declined"}))
        .await;
    assert_eq!(a.status, 422);
    assert_eq!(a.body["errors"][0]["field"], "reason");
    let a = w
        .step(
            &provider,
            &id,
            &etag,
            json!({"to": "declined", "reason": "no places this term"}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let etag = a.etag.expect("etag");
    // Completing a declined referral: 409, and nothing changed.
    let a = w
        .step(
            &provider,
            &id,
            &etag,
            json!({"to": "completed", "outcome": "goals_met"}),
        )
        .await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(
        a.body["type"]
            .as_str()
            .map(|t| t.ends_with("invalid-transition")),
        Some(true)
    );
    assert!(
        a.body["detail"]
            .as_str()
            .expect("detail")
            .contains("declined")
    );
    let after = w
        .call("GET", &format!("/referrals/{id}"), &[], &nurse, None, None)
        .await;
    assert_eq!(after.body["state"], "declined");
    assert_eq!(after.body["decline_reason"], "no places this term");
    assert_eq!(after.etag.as_deref(), Some(etag.as_str()));
    assert!(after.body["episode_id"].is_null());
    // A declined referral never gave the provider the child.
    assert!(!w.sees_child(&provider, &child).await);
}

/// A change whose reconcile was lost (a crash after the commit) is repaired by the sweep,
/// which also stamps and counts overdue items.
pub async fn the_sweep_repairs_and_counts<R: RecordStore + Clone, Q: Queue + Clone>(
    records: R,
    queue: Q,
) {
    let w = World::new(records.clone(), queue);
    let child = setup(&w).await;
    let nurse = token(Role::HealthSpecialist, "clinic");
    let a = w
        .call(
            "POST",
            "/referrals",
            &[],
            &nurse,
            Some(
                json!({"child_id": child, "basis": {"reason": {"text": "needs support"}},
                        "programme": "early-intervention-psychomotor", "provider_org": "provider", "due_on": w.today()}),
            ),
            None,
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    // Simulate the crash: the item is lost and the change's marker is still there.
    let child_id: ChildId = child.parse().expect("id");
    let items = records
        .query_index(
            &keys::child_index(child_id),
            &SortKeyCondition::Prefix(keys::WORK_PREFIX.into()),
            100,
            false,
            None,
        )
        .await
        .expect("items")
        .records;
    assert_eq!(items.len(), 1);
    records
        .transact(vec![
            WriteOp::Delete {
                key: items[0].key.clone(),
                expected: items[0].version,
            },
            WriteOp::PutNew(ravis::ports::Record::new(
                keys::work_pending(child_id, "lost-event"),
                json!({"child_id": child}),
            )),
        ])
        .await
        .expect("crash");
    assert!(kinds(&w.worklist(&nurse, &[]).await).is_empty());
    // Two days later the sweep puts it back and finds it overdue.
    w.clock.advance(Duration::days(2));
    let report = w.app.worklist().sweep().await.expect("sweep");
    assert_eq!(report.reconciled, 1);
    assert_eq!(report.overdue.get("referral_to_send"), Some(&1));
    assert_eq!(report.newly_overdue, 1);
    let list = w.worklist(&nurse, &[]).await;
    assert_eq!(kinds(&list), ["referral_to_send"]);
    assert_eq!(list["items"][0]["days_overdue"], 2);
    // The marker is gone; a second sweep changes nothing and stamps nothing new.
    let again = w.app.worklist().sweep().await.expect("sweep");
    assert_eq!(again.reconciled, 0);
    assert_eq!(again.newly_overdue, 0);
    assert_eq!(again.overdue_total(), 1);
}

/// `GET /children?in_care=false`: the register of a territory, for roles that see every child
/// of their territory; a child's move to another territory moves it to that register.
pub async fn the_register_of_a_territory<R: RecordStore + Clone, Q: Queue + Clone>(
    records: R,
    queue: Q,
) {
    let w = World::new(records, queue);
    let child = setup(&w).await;
    let register = |token: String, query: Vec<(&'static str, &'static str)>| {
        let w = &w;
        async move {
            let mut query = query;
            query.push(("in_care", "false"));
            w.call("GET", "/children", &query, &token, None, None).await
        }
    };
    let ids = |a: &Answer| -> Vec<String> {
        a.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["id"].as_str().expect("id").to_owned())
            .collect()
    };
    // A municipal social service of Rīga, with no care link to the child, sees it there.
    let riga = token_in(Role::MunicipalitySocialService, "riga-social", "0001000");
    let a = register(riga.clone(), vec![]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(ids(&a), std::slice::from_ref(&child));
    assert!(
        a.body["items"][0].get("needs_support").is_some(),
        "{}",
        a.body
    );
    let none: Vec<String> = Vec::new();
    assert_eq!(
        w.call("GET", "/children", &[], &riga, None, None)
            .await
            .body["items"],
        json!([]),
        "in its own care: nothing"
    );
    // Another municipality does not.
    let other = token_in(Role::MunicipalitySocialService, "cesis-social", "0042000");
    assert_eq!(ids(&register(other, vec![]).await), none);
    // A national role names the territory; a specialist may not read a register.
    let admin = token(Role::RegistryAdministrator, "admin");
    let a = register(admin.clone(), vec![]).await;
    assert_eq!(
        (a.status, a.body["errors"][0]["field"].as_str()),
        (422, Some("territory"))
    );
    assert_eq!(
        ids(&register(admin.clone(), vec![("territory", "0001000")]).await),
        std::slice::from_ref(&child)
    );
    let nurse = token(Role::HealthSpecialist, "clinic");
    let a = register(nurse.clone(), vec![("territory", "0001000")]).await;
    assert_eq!(
        (a.status, a.body["errors"][0]["field"].as_str()),
        (422, Some("in_care"))
    );
    // The child moves to another territory: it leaves Rīga's register for the new one.
    let current = w
        .call(
            "GET",
            &format!("/children/{child}"),
            &[],
            &nurse,
            None,
            None,
        )
        .await;
    let mut moved = current.body.clone();
    for field in [
        "id",
        "version",
        "status",
        "created_at",
        "registered_by_org",
        "personal_code",
    ] {
        moved.as_object_mut().expect("object").remove(field);
    }
    moved["atvk"] = json!("0042000");
    let a = w
        .call(
            "PUT",
            &format!("/children/{child}"),
            &[],
            &nurse,
            Some(moved),
            current.etag.as_deref(),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(ids(&register(riga, vec![]).await), none);
    assert_eq!(
        ids(&register(admin, vec![("territory", "0042000")]).await),
        [child]
    );
}
