//! Lambda hosting written once: HTTP functions (API Gateway HTTP API, payload v2) and SQS
//! consumers and scheduled jobs. Binaries call [`serve_http`], [`serve_sqs`],
//! [`serve_worklist_sweep`], [`serve_audit_archiver`], [`serve_exports`] or [`serve_reports`]
//! and nothing else.

use crate::inbound::auth::Authenticator;
use crate::inbound::http::{ApiRequest, ApiResponse, parse_query};
use crate::inbound::routes::{Api, handle};
use crate::inbound::sqs::{MessageHandler, handle_event_with_dead_letters};
use crate::ports::Queue;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use bytes::Bytes;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use std::sync::Arc;

/// Converts an API Gateway request into the host-independent form.
pub fn to_api_request(req: lambda_http::Request) -> ApiRequest {
    let request_id = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    }
    .or_else(|| req.lambda_context_ref().map(|c| c.request_id.clone()))
    .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let (parts, body) = req.into_parts();
    let body = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    ApiRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parse_query(parts.uri.query()),
        headers: parts.headers,
        body,
        request_id,
    }
}

/// Converts a response for API Gateway.
pub fn to_lambda_response(response: ApiResponse) -> lambda_http::Response<Body> {
    let mut out = lambda_http::Response::new(if response.body.is_empty() {
        Body::Empty
    } else {
        Body::Text(String::from_utf8_lossy(&response.body).into_owned())
    });
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    out
}

/// Runs an HTTP function: every request goes through the shared route handling.
pub async fn serve_http<A: Api>(auth: Authenticator, api: A) -> Result<(), lambda_http::Error> {
    let state = Arc::new((auth, api));
    lambda_http::run(lambda_http::service_fn(move |req: lambda_http::Request| {
        let state = Arc::clone(&state);
        async move {
            let response = handle(&state.0, &state.1, to_api_request(req)).await;
            Ok::<_, lambda_http::Error>(to_lambda_response(response))
        }
    }))
    .await
}

/// Runs an SQS-triggered function: each batch goes to `handler`, the failed messages are
/// reported as batch item failures, and poison messages go to `queue`'s dead-letter queue
/// at once (see [`handle_event_with_dead_letters`]).
pub async fn serve_sqs<H: MessageHandler, Q: Queue>(
    handler: H,
    queue: Q,
) -> Result<(), lambda_runtime::Error> {
    let state = Arc::new((handler, queue));
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
            let state = Arc::clone(&state);
            async move {
                Ok::<SqsBatchResponse, lambda_runtime::Error>(
                    handle_event_with_dead_letters(&state.0, &state.1, event.payload).await,
                )
            }
        },
    ))
    .await
}

/// A scheduled job's run, boxed (its future is too deep to inline into the runtime's): its
/// report and its Embedded Metric Format line.
type Reported<'a, E = crate::services::ServiceError> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(serde_json::Value, String), E>> + Send + 'a>,
>;

/// The CloudWatch namespace of RAVIS's own metrics.
pub const METRICS_NAMESPACE: &str = "RAVIS";

/// What one scheduled sweep answers and logs: its report, and the Embedded Metric Format line
/// with `OverdueWorkItems` (the alarm's metric), `NewlyOverdueWorkItems` and
/// `ReconciledChildren`.
pub async fn sweep_once<R: crate::ports::RecordStore>(
    worklist: &crate::services::worklist::Worklist<R>,
    environment: &str,
    now_ms: i64,
) -> Result<(serde_json::Value, String), crate::services::ServiceError> {
    let report = worklist.sweep().await?;
    let line = crate::inbound::metrics::emf_line(
        METRICS_NAMESPACE,
        environment,
        now_ms,
        &[
            ("OverdueWorkItems", report.overdue_total() as u64),
            ("NewlyOverdueWorkItems", report.newly_overdue as u64),
            ("ReconciledChildren", report.reconciled as u64),
        ],
    );
    let body = serde_json::to_value(&report).map_err(crate::ports::StoreError::Encode)?;
    Ok((body, line))
}

/// Runs the scheduled worklist sweep: each invocation (an EventBridge schedule event, whose
/// content is not needed) sweeps once, prints the metrics line to standard output and
/// answers the report; a failure fails the invocation, and the next schedule sweeps again.
pub async fn serve_worklist_sweep<R: crate::ports::RecordStore>(
    worklist: crate::services::worklist::Worklist<R>,
    environment: String,
) -> Result<(), lambda_runtime::Error> {
    let worklist = Arc::new(worklist);
    let environment = Arc::new(environment);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |_event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let worklist = Arc::clone(&worklist);
            let environment = Arc::clone(&environment);
            async move {
                // Boxed: the sweep's future is too deep to inline into the runtime's.
                let sweep: Reported<'_> = Box::pin(sweep_once(
                    &worklist,
                    &environment,
                    chrono::Utc::now().timestamp_millis(),
                ));
                let (report, line) = sweep.await?;
                println!("{line}");
                tracing::info!(%report, "worklist sweep");
                Ok::<serde_json::Value, lambda_runtime::Error>(report)
            }
        },
    ))
    .await
}

/// How long before its deadline an archive drain invocation stops starting rounds.
const DRAIN_MARGIN_MS: i64 = 15_000;

/// What one scheduled audit archive drain answers and logs: rounds of
/// [`AuditTrail::drain_archive`](crate::services::audit::AuditTrail::drain_archive) until
/// one finds nothing pending or `deadline_ms` (Unix milliseconds) is near; its report
/// (`archived`, `rounds`, `more`: whether it stopped with work left for the next run) and
/// the Embedded Metric Format line with `AuditEntriesArchived`.
pub async fn drain_archive_once<R: crate::ports::RecordStore>(
    trail: &crate::services::audit::AuditTrail<R>,
    environment: &str,
    deadline_ms: i64,
) -> Result<(serde_json::Value, String), crate::services::ServiceError> {
    let (mut archived, mut rounds, mut more) = (0usize, 0u32, false);
    loop {
        let n = trail.drain_archive().await?;
        archived += n;
        rounds += 1;
        if n == 0 {
            break;
        }
        if chrono::Utc::now().timestamp_millis() + DRAIN_MARGIN_MS >= deadline_ms {
            more = true;
            break;
        }
    }
    let line = crate::inbound::metrics::emf_line(
        METRICS_NAMESPACE,
        environment,
        chrono::Utc::now().timestamp_millis(),
        &[("AuditEntriesArchived", archived as u64)],
    );
    let report = serde_json::json!({"archived": archived, "rounds": rounds, "more": more});
    Ok((report, line))
}

/// Runs the scheduled audit archive drain: each invocation (an EventBridge schedule event,
/// whose content is not needed) drains until nothing is pending or its time is nearly up,
/// prints the metrics line and answers the report; a failure fails the invocation, and the
/// next schedule drains again (the entries stay pending until they are archived).
pub async fn serve_audit_archiver<R: crate::ports::RecordStore + Clone>(
    trail: crate::services::audit::AuditTrail<R>,
    environment: String,
) -> Result<(), lambda_runtime::Error> {
    let state = Arc::new((trail, environment));
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let state = Arc::clone(&state);
            async move {
                let deadline = i64::try_from(event.context.deadline).unwrap_or(i64::MAX);
                // Boxed: the drain's future is too deep to inline into the runtime's.
                let drain: Reported<'_> =
                    Box::pin(drain_archive_once(&state.0, &state.1, deadline));
                let (report, line) = drain.await?;
                println!("{line}");
                tracing::info!(%report, "audit archive drain");
                Ok::<serde_json::Value, lambda_runtime::Error>(report)
            }
        },
    ))
    .await
}

/// What one scheduled exports sweep answers and logs: its report (`queued`, `unqueued`,
/// `failed`), and the Embedded Metric Format line with `ExportsQueued` and `ExportsFailed`
/// (jobs in `failed`, the `ExportsFailedAlarm`'s metric).
pub async fn exports_sweep_once<R: crate::ports::RecordStore>(
    records: &R,
    notify: &dyn crate::services::exports::ExportNotify,
    environment: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(serde_json::Value, String), crate::ports::StoreError> {
    let report = crate::services::exports::sweep::sweep(records, notify, now).await?;
    let line = crate::inbound::metrics::emf_line(
        METRICS_NAMESPACE,
        environment,
        now.timestamp_millis(),
        &[
            ("ExportsQueued", report.queued as u64),
            ("ExportsFailed", report.failed as u64),
        ],
    );
    let body = serde_json::json!({
        "queued": report.queued,
        "unqueued": report.unqueued,
        "failed": report.failed,
    });
    Ok((body, line))
}

/// One invocation of the `exports-worker` function, whose two triggers are told apart by the
/// event's shape: an SQS event (a `Records` array) from the export queue goes to `worker`
/// (failed messages reported as batch item failures, malformed ones to `queue`'s DLQ at once,
/// see [`handle_event_with_dead_letters`]); any other event (the EventBridge schedule's)
/// runs the exports sweep once over `records` at `now`, queuing due jobs on `notify`. Answers
/// what the invocation returns and, for a sweep, the Embedded Metric Format line to print.
pub async fn exports_event<H, R, Q>(
    worker: &H,
    queue: &Q,
    records: &R,
    notify: &dyn crate::services::exports::ExportNotify,
    environment: &str,
    payload: serde_json::Value,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(serde_json::Value, Option<String>), lambda_runtime::Error>
where
    H: MessageHandler,
    R: crate::ports::RecordStore,
    Q: Queue,
{
    if payload.get("Records").is_some_and(|r| r.is_array()) {
        let sqs: SqsEvent = serde_json::from_value(payload)?;
        let response = handle_event_with_dead_letters(worker, queue, sqs).await;
        return Ok((serde_json::to_value(response)?, None));
    }
    // Boxed: the sweep's future is too deep to inline into the runtime's.
    let sweep: Reported<'_, crate::ports::StoreError> =
        Box::pin(exports_sweep_once(records, notify, environment, now));
    let (report, line) = sweep.await?;
    Ok((report, Some(line)))
}

/// Runs the `exports-worker` function: each invocation is [`exports_event`]; a sweep's
/// metrics line goes to standard output. A failed sweep fails the invocation; the next
/// minute's runs again.
pub async fn serve_exports<H, R, Q>(
    worker: H,
    records: R,
    queue: Q,
    environment: String,
) -> Result<(), lambda_runtime::Error>
where
    H: MessageHandler,
    R: crate::ports::RecordStore,
    Q: Queue + Clone,
{
    let notify = crate::services::exports::QueueNotify(queue.clone());
    let state = Arc::new((worker, queue, records, notify, environment));
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let state = Arc::clone(&state);
            async move {
                let (worker, queue, records, notify, environment) = &*state;
                let (answer, line) = Box::pin(exports_event(
                    worker,
                    queue,
                    records,
                    notify,
                    environment,
                    event.payload,
                    chrono::Utc::now(),
                ))
                .await?;
                if let Some(line) = line {
                    println!("{line}");
                    tracing::info!(report = %answer, "exports sweep");
                }
                Ok::<serde_json::Value, lambda_runtime::Error>(answer)
            }
        },
    ))
    .await
}

/// What one monthly run of the reports schedule answers: the lake it wrote, and the
/// open-data reports it queued (none when their periods were scheduled before).
#[cfg(feature = "lake")]
pub async fn reports_schedule_once<R, Q, B>(
    writer: &crate::services::lake::LakeWriter<R, B>,
    reports: &crate::services::reports::Reports<R, Q, B>,
) -> Result<serde_json::Value, lambda_runtime::Error>
where
    R: crate::ports::RecordStore,
    Q: Queue,
    B: crate::ports::BlobStore,
{
    let lake = writer.write().await?;
    let queued = reports.schedule().await?;
    let queued: Vec<serde_json::Value> = queued
        .iter()
        .map(|r| serde_json::json!({"id": r.id, "period": r.period}))
        .collect();
    Ok(serde_json::json!({"lake": lake, "queued": queued}))
}

/// One invocation of the `reports` function, whose two triggers are told apart by the
/// event's shape: an SQS event (a `Records` array) from the report queue goes to `worker`
/// (failed messages reported as batch item failures, malformed ones to `queue`'s DLQ at once,
/// see [`handle_event_with_dead_letters`]); any other event (the monthly EventBridge
/// schedule's) rewrites the lake with `writer`, then queues the open-data reports of the
/// periods that ended (`Reports::schedule`). A failure of either fails the invocation.
#[cfg(feature = "lake")]
pub async fn reports_event<H, Q, R, RQ, B>(
    worker: &H,
    queue: &Q,
    writer: &crate::services::lake::LakeWriter<R, B>,
    reports: &crate::services::reports::Reports<R, RQ, B>,
    payload: serde_json::Value,
) -> Result<serde_json::Value, lambda_runtime::Error>
where
    H: MessageHandler,
    Q: Queue,
    R: crate::ports::RecordStore,
    RQ: Queue,
    B: crate::ports::BlobStore,
{
    if payload.get("Records").is_some_and(|r| r.is_array()) {
        let sqs: SqsEvent = serde_json::from_value(payload)?;
        let response = handle_event_with_dead_letters(worker, queue, sqs).await;
        return Ok(serde_json::to_value(response)?);
    }
    type Run<'a> = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<serde_json::Value, lambda_runtime::Error>>
                + Send
                + 'a,
        >,
    >;
    // Boxed: the lake writer's future is too deep to inline into the runtime's.
    let run: Run<'_> = Box::pin(reports_schedule_once(writer, reports));
    run.await
}

/// Runs the `reports` function: each invocation is [`reports_event`]; a schedule run logs
/// what it wrote and queued.
#[cfg(feature = "lake")]
pub async fn serve_reports<H, Q, R, RQ, B>(
    worker: H,
    queue: Q,
    writer: crate::services::lake::LakeWriter<R, B>,
    reports: crate::services::reports::Reports<R, RQ, B>,
) -> Result<(), lambda_runtime::Error>
where
    H: MessageHandler,
    Q: Queue,
    R: crate::ports::RecordStore,
    RQ: Queue,
    B: crate::ports::BlobStore,
{
    let state = Arc::new((worker, queue, writer, reports));
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let state = Arc::clone(&state);
            async move {
                let (worker, queue, writer, reports) = &*state;
                let scheduled = !event.payload.get("Records").is_some_and(|r| r.is_array());
                let answer =
                    Box::pin(reports_event(worker, queue, writer, reports, event.payload)).await?;
                if scheduled {
                    tracing::info!(report = %answer, "reports schedule");
                }
                Ok::<serde_json::Value, lambda_runtime::Error>(answer)
            }
        },
    ))
    .await
}
