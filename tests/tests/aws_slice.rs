//! The first slice end to end on the AWS adapters (DynamoDB + SQS on the moto emulator):
//! register a child and submit a screening through the routes the Lambdas serve, receive
//! the scoring message from SQS, run the scoring worker's batch handler on it exactly as
//! the SQS trigger would, and read the scored result back.
//! Run through `scripts/moto.sh run -- cargo test ...` (or `make test`).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use ravis::app::App;
use ravis::domain::Role;
use ravis::inbound::auth::Authenticator;
use ravis::inbound::children_api::ChildrenApi;
use ravis::inbound::http::{ApiRequest, ApiResponse};
use ravis::inbound::routes::{Api, handle};
use ravis::inbound::sqs::handle_event;
use ravis::ports::{Queue, RandomIds};
use ravis::services::scoring_worker::ScoringWorker;
use ravis_tests::aws::{fresh_queue, fresh_record_store};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

fn auth() -> (Authenticator, String) {
    ravis_tests::auth::verifier_and_token(Role::HealthSpecialist, "clinic")
}

fn request(method: &str, path: &str, token: &str, body: Option<Value>) -> ApiRequest {
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    ApiRequest {
        method: method.parse().unwrap(),
        path: path.into(),
        query: vec![],
        headers,
        body: body.map(|b| b.to_string().into()).unwrap_or_default(),
        request_id: uuid::Uuid::now_v7().to_string(),
    }
}

fn json_of(r: &ApiResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

async fn call<A: Api>(auth: &Authenticator, api: &A, req: ApiRequest) -> ApiResponse {
    handle(auth, api, req).await
}

#[tokio::test]
async fn register_submit_score_on_dynamodb_and_sqs() {
    let records = fresh_record_store().await;
    let queue = fresh_queue(5).await;
    let app = App::new(records.clone(), &[9; 32], &[5; 32]).unwrap();
    let (clock, engine) = (app.clock.clone(), app.engine.clone());
    let (auth, token) = auth();
    let children = ChildrenApi(app.children());
    let screenings = app.screenings_routes(queue.clone()).unwrap();

    let child = json!({"given_name": "Jānis", "family_name": "Ozols", "birth_date": "2024-10-01", "sex": "male"});
    let r = call(
        &auth,
        &children,
        request("POST", "/children", &token, Some(child)),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", json_of(&r));
    let child_id = json_of(&r)["id"].as_str().unwrap().to_owned();

    let answers: serde_json::Map<String, Value> =
        (1..=20).map(|i| (i.to_string(), json!(1))).collect();
    let submission = json!({"child_id": child_id, "instrument": "mchat-r",
                            "administered_on": "2026-11-20", "answers": answers});
    let r = call(
        &auth,
        &screenings,
        request("POST", "/screenings", &token, Some(submission.clone())),
    )
    .await;
    assert_eq!(r.status, 202, "{:?}", json_of(&r));
    let location = r.headers["location"].to_str().unwrap().to_owned();

    // The SQS trigger: receive, hand the batch to the worker, delete what succeeded.
    let received = queue
        .receive(10, Duration::from_secs(30), Duration::from_secs(2))
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
    let worker = ScoringWorker::new(records.clone(), clock.clone(), Arc::new(RandomIds), engine);
    let response = handle_event(&worker, event.clone()).await;
    assert!(response.batch_item_failures.is_empty());
    queue.ack(&received[0].receipt).await.unwrap();

    let r = call(&auth, &screenings, request("GET", &location, &token, None)).await;
    let scored = json_of(&r);
    assert_eq!(scored["status"], "scored", "{scored}");
    assert_eq!(scored["result"]["scores"]["total"]["value"], 3);

    // A redelivery of the same message changes nothing (one result per version).
    let again = handle_event(&worker, event).await;
    assert!(again.batch_item_failures.is_empty());
    let r = call(&auth, &screenings, request("GET", &location, &token, None)).await;
    assert_eq!(json_of(&r)["result"], scored["result"]);
}
