//! `ravis serve`: the whole system in one process on the embedded backend — every HTTP
//! route on one port (the same handling code as the Lambdas), the queue consumers as
//! background tasks (the same handler code as the SQS-triggered Lambdas), and an inbox
//! directory standing in for the partner bucket.

use crate::http_bridge::{HttpState, router};
use crate::keys::{LOCAL_AUDIENCE, LOCAL_ISSUER, LocalKeys};
use anyhow::{Context, Result};
use jsonwebtoken::Algorithm::HS256;
use ravis::adapters::embedded::{EmbeddedBackend, ObjectEvents, QueueOptions};
use ravis::app::App;
use ravis::config::{AuthSettings, JwtKey};
use ravis::inbound::auth::Authenticator;
use ravis::inbound::intake_worker::IntakeWorker;
use ravis::inbound::sqs::{ConsumerOptions, run_consumer};
use ravis::ports::BlobStore;
use ravis::services::audit::ArchiveDrain;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// Queue names of the embedded backend (the SQS queues of the SAM template).
pub mod queues {
    /// Scoring work.
    pub const SCORING: &str = "scoring";
    /// Partner-bucket object events.
    pub const INTAKE: &str = "intake";
    /// Export jobs (`services/exports/`).
    pub const EXPORTS: &str = "exports";
    /// Report requests (the report queue).
    pub const REPORTS: &str = "reports";
}

/// Bucket standing in for the reports bucket (`reports/<id>/`).
pub const REPORTS_BUCKET: &str = "reports";

/// Deliveries before a message is dead-lettered (the template's maxReceiveCount).
pub const MAX_RECEIVES: u32 = 5;
/// Bucket standing in for the partner bucket.
pub const PARTNER_BUCKET: &str = "partner";

/// The intake consumer takes one file at a time and hides it long enough for a large file
/// (as the template's IntakeQueue does); a crash resumes from the import's checkpoint.
const INTAKE_CONSUMER: ConsumerOptions = ConsumerOptions {
    batch_size: 1,
    visibility: Duration::from_secs(900),
    wait: Duration::from_secs(1),
};

/// Options of `ravis serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// Whether to run the queue consumers (off: API only, work waits in the queues).
    pub workers: bool,
    /// Whether concurrent requests share their audit writes and archive copies through one
    /// committing task (`App::with_group_commit`) when the archive copy is inline.
    pub group_commit: bool,
    /// Whether the audit archive is fed by a drain off the request path
    /// (`App::with_deferred_archive`) rather than by each request.
    pub deferred_archive: bool,
    /// The e-health system's FHIR base URL (`None`: Bundles go to `<data-dir>/outbox/health/`).
    pub fhir_url: Option<String>,
    /// VIIS's support-needs interface (`None`: batches go to `<data-dir>/outbox/viis/`).
    pub viis_url: Option<String>,
    /// The CKAN portal open-data releases are pushed to (`None`: no push).
    pub ckan_url: Option<String>,
    /// The CKAN organisation of the datasets (with `ckan_url`).
    pub ckan_organisation: Option<String>,
    /// An OpenID Connect issuer whose tokens are accepted beside the development tokens.
    pub issuer: Option<TrustedIssuer>,
    /// The web client's `app/config.json` (`--web-config`).
    pub web_config: Option<PathBuf>,
}

/// An identity provider `ravis serve` trusts (`--jwt-issuer`, `--jwt-jwks-url`,
/// `--jwt-audience`): its RS256 tokens are verified with its key set, as the deployed
/// API's authorizer verifies them.
#[derive(Debug, Clone)]
pub struct TrustedIssuer {
    /// The tokens' `iss`.
    pub issuer: String,
    /// The key set's URL (https, or http on loopback).
    pub jwks_url: String,
    /// Accepted `aud` values.
    pub audience: Vec<String>,
}

/// Runs the local host until `shutdown` resolves.
pub async fn serve(
    data_dir: &Path,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let keys = LocalKeys::load_or_create(data_dir)?;
    let backend = EmbeddedBackend::open(data_dir)?;
    let records = backend.records();
    let queue_options = QueueOptions {
        max_receives: MAX_RECEIVES,
        ..QueueOptions::default()
    };
    let scoring_queue = backend.queue(queues::SCORING, queue_options.clone())?;
    let intake_queue = backend.queue(queues::INTAKE, queue_options.clone())?;
    let export_queue = backend.queue(queues::EXPORTS, queue_options.clone())?;
    let report_queue = backend.queue(queues::REPORTS, queue_options.clone())?;
    let report_files = backend.blobs(REPORTS_BUCKET)?;
    // The service graph, built once (every audit entry also goes to the archive bucket that
    // `ravis audit verify` compares with).
    let app = App::embedded(&backend, &keys.identity_hmac_key, &keys.pseudonym_key)?
        .with_export_queue(export_queue.clone());
    let app = if options.deferred_archive {
        app.with_deferred_archive()
    } else {
        app
    };
    // The audit group commit only where each append also waits for its archive copy: it
    // batches those copies. With the deferred archive an append is one write, which the
    // record store's own group commit already shares with the writes waiting beside it
    // (one task committing every request's append would only serialise them: about 15 %
    // fewer audited reads per second, docs/BENCHMARKS.md).
    let app = if options.group_commit && !options.deferred_archive {
        app.with_group_commit()
    } else {
        app
    };
    // The archive drain: first what a previous run left pending, then each entry shortly
    // after its request (a quiet server checks every 200 ms).
    let archive_drain = options
        .deferred_archive
        .then(|| ArchiveDrain::start(app.audit(), Duration::from_millis(200)));
    // Built before the server starts, so a bad --fhir-url, --viis-url, --ckan-url or key
    // file stops the start.
    let portal = crate::report::ckan_portal(
        options.ckan_url.as_deref(),
        options.ckan_organisation.as_deref(),
        std::env::var("RAVIS_CKAN_TOKEN").ok(),
    )?;
    let exports_worker = crate::exports_local::worker(
        &app,
        data_dir,
        options.fhir_url.as_deref(),
        options.viis_url.as_deref(),
    )?;

    tracing::warn!(
        "local host: accepting HS256 development tokens signed with the data directory's key"
    );
    let auth = Authenticator::new(&AuthSettings {
        issuer: LOCAL_ISSUER.into(),
        audience: vec![LOCAL_AUDIENCE.into()],
        algorithms: vec![HS256],
        key: JwtKey::Hs256Secret(keys.jwt_secret.clone()),
        leeway_seconds: 30,
    })?;
    let auth = match &options.issuer {
        Some(trusted) => {
            tracing::warn!(issuer = %trusted.issuer, "local host: also accepting the tokens of this issuer");
            Authenticator::new(&AuthSettings {
                issuer: trusted.issuer.clone(),
                audience: trusted.audience.clone(),
                algorithms: vec![jsonwebtoken::Algorithm::RS256],
                key: JwtKey::JwksUrl(trusted.jwks_url.clone()),
                leeway_seconds: 30,
            })
            .and_then(|issuer| auth.also_trust(issuer))
            .map_err(option_error)?
        }
        None => auth,
    };
    let web_config = match &options.web_config {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            Some(
                crate::web::WebConfig::parse(&bytes)
                    .map_err(|e| anyhow::anyhow!("--web-config {}: {e}", path.display()))?,
            )
        }
        None => None,
    };
    let api = app.all_routes(
        scoring_queue.clone(),
        report_queue.clone(),
        report_files.clone(),
        // GET /intake/jobs/{id}/errors reads the row reports the intake worker wrote.
        backend.blobs(PARTNER_BUCKET)?,
    )?;
    // The catalogue's built-in entries are in the store from the start (never overwriting edits).
    ravis::services::catalogue::seed_catalogue(&records, app.clock.as_ref())
        .await
        .context("seeding the catalogue")?;

    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .with_context(|| format!("binding {}", options.addr))?;
    let addr = listener.local_addr()?;
    let inbox = data_dir.join("inbox");
    std::fs::create_dir_all(&inbox)?;
    for kind in ravis::intake::Kind::ALL {
        std::fs::create_dir_all(inbox.join(kind.as_str()))?;
    }
    let token = crate::token::mint(
        data_dir,
        &crate::token::TokenOptions {
            roles: vec![
                ravis::domain::Role::RegistryAdministrator,
                ravis::domain::Role::HealthSpecialist,
            ],
            organisation: "local-dev".into(),
            subject: "local-dev-user".into(),
            territory: None,
            purpose: None,
            lifetime_seconds: 8 * 3600,
        },
    )?;
    println!("RAVIS is running at http://{addr}");
    if !crate::web::is_built() {
        println!("Web client: not built into this binary (run `make web`, then build ravis again)");
    } else if options.web_config.is_some() {
        println!("Web client: open http://{addr}/ and sign in at the issuer of --web-config");
    } else if addr.ip().is_loopback() {
        println!("Web client: open http://{addr}/ and sign in as a development user");
    } else {
        println!("Web client: http://{addr}/ (development sign-in is off: not a loopback address)");
    }
    println!("Data directory: {}", data_dir.display());
    println!(
        "Partner inbox: {}/<kind>/ (files are imported; summaries and reports in {})",
        inbox.display(),
        data_dir.join("results").display()
    );
    println!("Dev token (registry_administrator + health_specialist, 8 h):\n{token}");

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    if options.workers {
        let worker = Arc::new(app.scoring_worker());
        let queue = scoring_queue.clone();
        let rx = stop_rx.clone();
        tasks.spawn(async move {
            run_consumer(
                queues::SCORING,
                &queue,
                ConsumerOptions::default(),
                rx,
                &*worker,
            )
            .await;
        });
    }
    if options.workers {
        // The exports worker, and the sweep that queues due retries, polls and any job
        // whose message a crash lost.
        let worker = Arc::new(exports_worker);
        let queue = export_queue.clone();
        let rx = stop_rx.clone();
        tasks.spawn(async move {
            run_consumer(
                queues::EXPORTS,
                &queue,
                ConsumerOptions::default(),
                rx,
                &*worker,
            )
            .await;
        });
        tasks.spawn(crate::exports_local::sweep_loop(
            records.clone(),
            export_queue.clone(),
            EXPORT_SWEEP_EVERY,
            stop_rx.clone(),
        ));
    }
    if options.workers {
        // The reports worker (a function on the report queue in AWS): reports asked for
        // with POST /reports, the lake rewritten first when it is more than a minute old;
        // open-data releases pushed to --ckan-url when given.
        let worker = app.report_worker(
            backend.blobs(ravis::services::lake::LOCAL_ANALYTICS_BUCKET)?,
            report_files.clone(),
            backend.blobs(crate::report::OPEN_DATA_BUCKET)?,
            crate::report::local_settings(3),
        );
        let worker = Arc::new(match portal.clone() {
            Some(portal) => worker.with_portal(portal),
            None => worker,
        });
        let queue = report_queue.clone();
        let rx = stop_rx.clone();
        tasks.spawn(async move {
            run_consumer(
                queues::REPORTS,
                &queue,
                ConsumerOptions::default(),
                rx,
                &*worker,
            )
            .await;
        });
    }
    if options.workers {
        // The worklist sweep (a scheduled function in AWS): at start, then hourly.
        let worklist = app.worklist();
        let mut rx = stop_rx.clone();
        tasks.spawn(async move {
            loop {
                match worklist.sweep().await {
                    Ok(report) => tracing::info!(
                        reconciled = report.reconciled,
                        overdue = report.overdue_total(),
                        newly_overdue = report.newly_overdue,
                        "worklist sweep"
                    ),
                    Err(e) => tracing::error!(error = %e, "worklist sweep failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(SWEEP_EVERY) => {}
                    _ = rx.changed() => return,
                }
            }
        });
    }
    // The partner bucket notifies the intake queue of objects under inbox/, like S3 → SQS.
    let partner = backend
        .blobs(PARTNER_BUCKET)?
        .with_events(ObjectEvents::new(
            "partner-inbox",
            "inbox/",
            intake_queue.clone(),
        ));
    // Events of puts that were stored but not yet sent before a crash go out now.
    partner.deliver_events().await?;
    if options.workers {
        let worker = Arc::new(IntakeWorker::new(
            app.intake(),
            crate::results_mirror::ResultsMirror::new(partner.clone(), data_dir.join("results")),
            PARTNER_BUCKET,
        ));
        let rx = stop_rx.clone();
        tasks.spawn(async move {
            run_consumer(queues::INTAKE, &intake_queue, INTAKE_CONSUMER, rx, &*worker).await;
        });
    }
    {
        let rx = stop_rx.clone();
        let inbox = inbox.clone();
        tasks.spawn(async move { watch_inbox(&inbox, &partner, rx).await });
    }

    let web = crate::web::WebHost {
        // Development sign-in only where no one else can reach it.
        dev_sign_in: addr.ip().is_loopback().then(|| data_dir.to_path_buf()),
        config: web_config,
    };
    let state = Arc::new(HttpState { auth, api, web });
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server failed")?;
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    if let Some(drain) = archive_drain {
        drain.stop().await;
    }
    Ok(())
}

/// A setting of the trusted issuer refused, named by its `ravis serve` option.
fn option_error(e: ravis::config::ConfigError) -> anyhow::Error {
    match e {
        ravis::config::ConfigError::Invalid { name, reason } => {
            let option = match name {
                "RAVIS_JWT_JWKS_URL" => "--jwt-jwks-url",
                "RAVIS_JWT_AUDIENCE" => "--jwt-audience",
                _ => "--jwt-issuer",
            };
            anyhow::anyhow!("{option}: {reason}")
        }
        other => other.into(),
    }
}

/// How often `ravis serve` queues due export jobs.
const EXPORT_SWEEP_EVERY: Duration = Duration::from_secs(2);

/// How often `ravis serve` sweeps the worklists.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// How long a file must stay unchanged before it is taken (a partner may still be writing).
const SETTLE: Duration = Duration::from_secs(1);

/// Moves files dropped under `inbox/<kind>/` into the partner bucket at `inbox/<kind>/<name>`;
/// the bucket emits the S3-style event that queues them for intake. A file is deleted only
/// after the object is stored, so a crash in between means a second event, never a loss.
async fn watch_inbox<B: BlobStore>(inbox: &Path, bucket: &B, mut stop: watch::Receiver<bool>) {
    loop {
        for file in settled_files(inbox) {
            let Ok(relative) = file.strip_prefix(inbox) else {
                continue;
            };
            let key = format!("inbox/{}", relative.to_string_lossy().replace('\\', "/"));
            match tokio::fs::read(&file).await {
                Ok(bytes) => match bucket.put(&key, bytes.into(), None).await {
                    Ok(meta) => {
                        tracing::info!(%key, size = meta.size, "inbox file stored in the partner bucket");
                        if let Err(e) = tokio::fs::remove_file(&file).await {
                            tracing::warn!(%key, error = %e, "stored, but could not remove the inbox file");
                        }
                    }
                    Err(e) => {
                        tracing::error!(%key, error = %e, "could not store inbox file; will retry")
                    }
                },
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "could not read inbox file")
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = stop.changed() => return,
        }
    }
}

fn settled_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        match entry.metadata() {
            Ok(m) if m.is_dir() => out.extend(settled_files(&path)),
            Ok(m) if m.is_file() => {
                let age = m
                    .modified()
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok());
                if age.is_some_and(|a| a >= SETTLE) {
                    out.push(path);
                }
            }
            _ => {}
        }
    }
    out
}
