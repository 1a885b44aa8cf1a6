//! Programme outcomes in `GET /children/{id}/risk-profile` (issue #14, item 4): the child's
//! support episodes, read from the child's index, with the SDQ before and after, on both
//! backends (the AWS one through `scripts/moto.sh run -- cargo test ...`); the summary view
//! leaves them out. Episodes are written with the registry's key layout directly (their
//! creation rules are the registry suite's).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use ravis::adapters::embedded::{EmbeddedBackend, QueueOptions};
use ravis::app::App;
use ravis::domain::registry::SupportEpisode;
use ravis::domain::{ChildId, EpisodeId, Principal, Role};
use ravis::inbound::sqs::handle_event;
use ravis::ports::{Queue, Record, RecordStore};
use ravis::services::scoring_worker::ScoringWorker;
use ravis::services::screenings::ScreeningsService;
use ravis::store::keys;
use ravis_tests::aws::{fresh_queue, fresh_record_store};
use serde_json::{Value, json};
use std::time::Duration;

const IDENTITY_KEY: &[u8] = b"outcome-test-identity-key-0123456789";
const PSEUDONYM_KEY: &[u8] = &[7; 32];

fn principal(role: Role) -> Principal {
    Principal {
        subject: format!("{role}"),
        roles: vec![role],
        organisation: "ravis".into(),
        territory: None,
        purpose: None,
    }
}

fn admin() -> Principal {
    principal(Role::RegistryAdministrator)
}

/// SDQ parent answers with scale values `[emotional, conduct, hyperactivity, peer,
/// prosocial]` (item scores 2,2,..,rest in each scale's item order; reversed items 7, 11,
/// 14, 21, 25 answered 2 − item score).
fn sdq_answers(values: [i64; 5]) -> Value {
    let scales: [[u8; 5]; 5] = [
        [3, 8, 13, 16, 24],
        [5, 7, 12, 18, 22],
        [2, 10, 15, 21, 25],
        [6, 11, 14, 19, 23],
        [1, 4, 9, 17, 20],
    ];
    let mut answers = serde_json::Map::new();
    for (items, value) in scales.iter().zip(values) {
        let mut rest = value;
        for item in items {
            let s = rest.min(2);
            rest -= s;
            let answer = if [7, 11, 14, 21, 25].contains(item) {
                2 - s
            } else {
                s
            };
            answers.insert(item.to_string(), json!(answer));
        }
    }
    answers.insert("difficulties".into(), json!(0));
    Value::Object(answers)
}

struct World<R, Q> {
    records: R,
    screenings: ScreeningsService<R, Q>,
    worker: ScoringWorker<R>,
    queue: Q,
    app: App<R>,
}

impl<R: RecordStore + Clone, Q: Queue + Clone> World<R, Q> {
    fn new(records: R, queue: Q) -> Self {
        let app = App::new(records.clone(), IDENTITY_KEY, PSEUDONYM_KEY).unwrap();
        Self {
            screenings: app.screenings(queue.clone()),
            worker: app.scoring_worker(),
            queue,
            records,
            app,
        }
    }

    async fn child(&self) -> ChildId {
        let body = json!({"given_name": "Anna", "family_name": "B", "birth_date": "2018-01-15", "sex": "female"});
        let reply = self
            .app
            .children()
            .register(&admin(), "r", serde_json::from_value(body).unwrap(), None)
            .await
            .unwrap();
        reply.body["id"].as_str().unwrap().parse().unwrap()
    }

    /// Submits an SDQ parent screening and scores it.
    async fn sdq(&self, child: ChildId, on: &str, scales: [i64; 5]) {
        let input =
            serde_json::from_value(json!({"child_id": child, "instrument": "sdq-parent-4-17",
            "administered_on": on, "answers": sdq_answers(scales)}))
            .unwrap();
        self.screenings
            .submit(&principal(Role::PartnerSystem), "s", input, None)
            .await
            .unwrap();
        let received = self
            .queue
            .receive(10, Duration::from_secs(60), Duration::from_millis(500))
            .await
            .unwrap();
        assert_eq!(received.len(), 1);
        let mut event = SqsEvent::default();
        event.records = received
            .iter()
            .map(|m| {
                let mut r = SqsMessage::default();
                r.message_id = Some(m.id.clone());
                r.body = Some(m.body.clone());
                r
            })
            .collect();
        assert!(
            handle_event(&self.worker, event)
                .await
                .batch_item_failures
                .is_empty()
        );
        for m in &received {
            self.queue.ack(&m.receipt).await.unwrap();
        }
    }

    /// Stores an episode as the registry does: under `EPISODES`, indexed under the child.
    async fn episode(&self, child: ChildId, id: u128, start: Option<&str>, end: Option<&str>) {
        let id = EpisodeId::from_uuid(uuid::Uuid::from_u128(id));
        let ended = end.is_some();
        let episode: SupportEpisode = serde_json::from_value(json!({
            "id": id, "child_id": child, "programme": "incredible-years-parents",
            "provider_org": "provider-a", "specialist_id": null, "referring_org": null,
            "referral_date": "2025-12-10", "referral_source": {"text": "family doctor"},
            "start_date": start, "end_date": end,
            "outcome": if ended { json!("goals_met") } else { Value::Null },
            "end_reason": if ended { json!("completed") } else { Value::Null },
            "created_at": "2025-12-10T09:00:00Z"}))
        .unwrap();
        let record = Record::new(keys::episode(id), serde_json::to_value(&episode).unwrap())
            .with_index(keys::child_index(child), keys::child_episode_index(id));
        self.records.put_new(record).await.unwrap();
    }
}

async fn outcomes_in_the_risk_profile<R: RecordStore + Clone, Q: Queue + Clone>(
    records: R,
    queue: Q,
) {
    let w = World::new(records, queue);
    let child = w.child().await;
    // Without episodes: an empty list.
    let profile = w
        .screenings
        .risk_profile(&admin(), "p", child)
        .await
        .unwrap()
        .body;
    assert_eq!(profile["programme_outcomes"], json!([]));

    // Before: conduct 6, hyperactivity 8 (total 6+8 = 14 with the rest 0, prosocial 10).
    w.sdq(child, "2025-12-01", [0, 6, 8, 0, 10]).await;
    // During the episode: ignored. After: conduct 2, hyperactivity 5 (total 7).
    w.sdq(child, "2026-03-01", [0, 5, 8, 0, 10]).await;
    w.sdq(child, "2026-08-01", [0, 2, 5, 0, 10]).await;
    w.episode(child, 1, Some("2026-01-05"), Some("2026-06-30"))
        .await;
    w.episode(child, 2, None, None).await; // not started: no outcome

    let profile = w
        .screenings
        .risk_profile(&admin(), "p", child)
        .await
        .unwrap()
        .body;
    let outcomes = profile["programme_outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    let o = &outcomes[0];
    assert_eq!(
        o["episode_id"],
        json!(EpisodeId::from_uuid(uuid::Uuid::from_u128(1)))
    );
    assert_eq!(o["programme"], "incredible-years-parents");
    assert_eq!(
        (o["start_date"].clone(), o["end_date"].clone()),
        (json!("2026-01-05"), json!("2026-06-30"))
    );
    let sdq = &o["instruments"][0];
    assert_eq!(sdq["instrument"], "sdq-parent-4-17");
    assert_eq!(sdq["before"]["administered_on"], "2025-12-01");
    assert_eq!(sdq["after"]["administered_on"], "2026-08-01");
    let score = |id: &str| {
        sdq["scores"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["score"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        score("total_difficulties"),
        json!({"score": "total_difficulties", "before": 14, "after": 7, "change": -7, "direction": "improved"})
    );
    assert_eq!(
        score("externalising"),
        json!({"score": "externalising", "before": 14, "after": 7, "change": -7, "direction": "improved"})
    );
    assert_eq!(
        score("internalising"),
        json!({"score": "internalising", "before": 0, "after": 0, "change": 0, "direction": "unchanged"})
    );
    assert_eq!(score("prosocial")["direction"], "unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_backend() {
    let dir = tempfile::tempdir().unwrap();
    let backend = EmbeddedBackend::open(dir.path()).unwrap();
    let queue = backend.queue("scoring", QueueOptions::default()).unwrap();
    outcomes_in_the_risk_profile(backend.records(), queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_backend() {
    outcomes_in_the_risk_profile(fresh_record_store().await, fresh_queue(3).await).await;
}
