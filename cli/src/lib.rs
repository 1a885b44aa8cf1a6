//! The `ravis` command: runs the whole system locally on the embedded backend
//! (`serve`), mints development tokens (`token`), scores screenings offline (`score`),
//! imports partner files (`import`), verifies the audit trail (`audit verify`), writes
//! pseudonymised analytics exports (`export analytics`) and the analytics lake (`lake`),
//! and runs one-off data migrations (`migrate merges`).

pub mod audit;
pub mod export;
pub mod exports_local;
pub mod http_bridge;
pub mod import;
pub mod keys;
pub mod local;
pub mod migrate;
pub mod report;
pub mod results_mirror;
pub mod token;
pub mod web;
pub mod wording;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ravis::domain::{Atvk, Role};
use std::path::PathBuf;

/// RAVIS — risk analysis and management information system for early identification of
/// children's development needs.
#[derive(Debug, Parser)]
#[command(name = "ravis", version)]
pub struct Cli {
    /// Data directory of the embedded backend [env: RAVIS_DATA_DIR] [default: ./.ravis]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole system locally: API, queue consumers and partner inbox.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Port to listen on (0: any free port).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Do not run the queue consumers (API only; queued work waits).
        #[arg(long)]
        no_workers: bool,
        /// With --inline-archive: append every audit entry and copy it to the archive on its
        /// own, instead of through the audit group commit, which shares one write and one
        /// archive copy among concurrent requests (for comparisons: scripts/load-bench.sh
        /// --compare). Without --inline-archive there is no audit group commit: each append is
        /// one write, shared with the writes waiting beside it by the record store itself.
        #[arg(long)]
        no_group_commit: bool,
        /// Copy every audit entry to the write-once archive before its request is answered,
        /// instead of leaving the copy to the archive drain that runs beside the server
        /// (for comparisons: scripts/load-bench.sh --compare).
        #[arg(long)]
        inline_archive: bool,
        /// Send results to this FHIR server (https, or http on loopback) instead of writing
        /// them to <data-dir>/outbox/health/.
        #[arg(long, value_name = "URL")]
        fhir_url: Option<String>,
        /// Send VIIS batches to this support-needs interface (https, or http on loopback;
        /// docs/EXPORTS.md, "VIIS over HTTP") instead of writing them to
        /// <data-dir>/outbox/viis/.
        #[arg(long, value_name = "URL")]
        viis_url: Option<String>,
        /// Push open-data releases to this CKAN portal's site root (https, or http on
        /// loopback; docs/REPORTS.md, "Pushing to data.gov.lv (CKAN)"), with the API token in
        /// RAVIS_CKAN_TOKEN; without it nothing is pushed.
        #[arg(long, value_name = "URL", requires = "ckan_organisation")]
        ckan_url: Option<String>,
        /// The CKAN organisation the datasets belong to (with --ckan-url).
        #[arg(long, value_name = "NAME", requires = "ckan_url")]
        ckan_organisation: Option<String>,
        /// Also accept the access tokens of this OpenID Connect issuer (their `iss`), besides
        /// the development tokens: verified with the keys of --jwt-jwks-url (RS256) and
        /// the audience of --jwt-audience, as the deployed API's authorizer does.
        #[arg(long, value_name = "URL", requires_all = ["jwt_jwks_url", "jwt_audience"])]
        jwt_issuer: Option<String>,
        /// The issuer's key set (https, or http on loopback), fetched on first use.
        #[arg(long, value_name = "URL", requires = "jwt_issuer")]
        jwt_jwks_url: Option<String>,
        /// An audience accepted in the issuer's tokens (repeat for several).
        #[arg(long, value_name = "AUD", requires = "jwt_issuer")]
        jwt_audience: Vec<String>,
        /// Serve this file as the web client's app/config.json: the client then signs in at
        /// the OpenID Connect issuer it names (docs/WEB.md, "Sign-in") instead of the
        /// development sign-in, and may connect to that issuer.
        #[arg(long, value_name = "FILE")]
        web_config: Option<PathBuf>,
    },
    /// Score screenings offline: one JSON object per line in, one result per line out.
    Score {
        /// Read from this file instead of standard input.
        #[arg(long, value_name = "FILE")]
        input: Option<PathBuf>,
    },
    /// Import a partner file into the local data directory (the intake worker's code).
    Import {
        /// The kind of rows: children, population-register, organisations, specialists,
        /// certifications or support-episodes.
        #[arg(long)]
        kind: String,
        /// The file: .csv (`,` or `;`, header row) or .jsonl / .ndjson.
        file: PathBuf,
        /// Write the rejected rows (JSON Lines) to this file.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Commit nothing when any row fails.
        #[arg(long)]
        strict: bool,
    },
    /// The audit trail: `ravis audit verify` checks the chains against the write-once archive.
    Audit {
        /// What to do.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Worklists: `ravis worklist sweep` reconciles what a crash left and counts overdue items.
    Worklist {
        /// What to do.
        #[command(subcommand)]
        command: WorklistCommand,
    },
    /// One-off data migrations: `ravis migrate merges` indexes merges made before the
    /// merge list (`GET /children/merges`) existed.
    Migrate {
        /// What to migrate.
        #[command(subcommand)]
        command: MigrateCommand,
    },
    /// Exports for analytics: `ravis export analytics --out FILE` (pseudonymised JSON Lines);
    /// the JWKS of the FHIR signing keys: `ravis export jwks --public-key-der FILE`.
    Export {
        /// What to export.
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// Write the analytics lake: every scored result, support episode and referral as
    /// Parquet keyed by the analytics pseudonym, one file per table and year under
    /// <data-dir>/blobs/analytics/ (keys lake/<table>/year=YYYY/part-0.parquet), replacing
    /// the previous snapshot. Prints the counts as one JSON line.
    Lake,
    /// Make a report (issue #13) on the embedded backend: rewrite the lake, compute the
    /// action plan's indicators for the period, protect them (counts of 1 up to the threshold
    /// hidden, with complementary suppression), and write the report (one CSV per dataset,
    /// indicators.json, targets.csv, an HTML report in Latvian and English) to
    /// OUT/reports/<id>/ and — for all of Latvia — the open-data release with its codelists
    /// and DCAT-AP metadata to OUT/open-data/<period>/. Prints the report as one JSON line.
    Report {
        /// The period: a year (2026), a quarter (2026-Q1) or a month (2026-01).
        #[arg(long)]
        period: String,
        /// A municipality's report (its ATVK code) instead of all of Latvia.
        #[arg(long)]
        territory: Option<String>,
        /// Counts from 1 up to this (exclusive) are hidden.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(2..=100))]
        threshold: u64,
        /// Load this region classifier first (CSV `municipality,region,region_name`; kept in
        /// the analytics bucket for later reports). Without one loaded, municipalities roll
        /// up straight to Latvia.
        #[arg(long, value_name = "FILE")]
        regions: Option<PathBuf>,
        /// Directory the files are copied to.
        #[arg(long)]
        out: PathBuf,
        /// Also push the release (all of Latvia) to this CKAN portal's site root (https, or
        /// http on loopback), with the API token in RAVIS_CKAN_TOKEN.
        #[arg(long, value_name = "URL", requires = "ckan_organisation")]
        ckan_url: Option<String>,
        /// The CKAN organisation the datasets belong to (with --ckan-url).
        #[arg(long, value_name = "NAME", requires = "ckan_url")]
        ckan_organisation: Option<String>,
    },
    /// Licensed item wording packs (docs/SCORING.md, "Item wording"): `ravis wording load
    /// FILE` checks a pack against the instrument definitions and copies it to
    /// <data-dir>/wording/; `ravis wording check FILE` only checks it and prints its bucket key.
    Wording {
        /// What to do.
        #[command(subcommand)]
        command: WordingCommand,
    },
    /// Mint a development bearer token for the local host.
    Token {
        /// Role (repeat for several): health_specialist, education_specialist, programme_provider,
        /// municipality_social_service, ministry_analyst, registry_administrator, partner_system.
        #[arg(long = "role", required = true, value_parser = parse_role)]
        roles: Vec<Role>,
        /// Organisation the caller acts for.
        #[arg(long)]
        org: String,
        /// Subject (user id).
        #[arg(long, default_value = "dev-user")]
        subject: String,
        /// Territory scope (7-digit ATVK).
        #[arg(long, value_parser = parse_atvk)]
        atvk: Option<Atvk>,
        /// Purpose of processing.
        #[arg(long)]
        purpose: Option<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 8 * 3600)]
        ttl: u64,
    },
}

/// `ravis audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Compare every audit chain (or one child's) with the archive; exit 1 on any difference.
    Verify {
        /// Only this child (RAVIS child id).
        #[arg(long)]
        child: Option<ravis::domain::ChildId>,
    },
}

/// `ravis worklist` subcommands.
#[derive(Debug, Subcommand)]
pub enum WorklistCommand {
    /// Reconcile every child a change left pending, stamp newly overdue items, and print
    /// the counts as one JSON line (what the scheduled job does; `ravis serve` runs it hourly).
    Sweep,
}

/// `ravis migrate` subcommands.
#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Index the merge records written before `GET /children/merges` existed, so every
    /// merge in effect is listed (idempotent); prints `{"indexed": N}`.
    Merges,
}

/// `ravis wording` subcommands.
#[derive(Debug, Subcommand)]
pub enum WordingCommand {
    /// Check a pack and copy it to <data-dir>/wording/<instrument>.<language>.json; a bad
    /// pack is refused with every problem named by its field, and nothing is copied.
    Load {
        /// The pack (JSON).
        file: PathBuf,
    },
    /// Check a pack only; prints the object key it takes in the bucket on AWS.
    Check {
        /// The pack (JSON).
        file: PathBuf,
    },
}

/// `ravis export` subcommands.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// One row per scoring result with the child's analytics pseudonym, age band, sex,
    /// municipality, instrument, risk level and month — never ids, codes or names.
    Analytics {
        /// Write the JSON Lines here.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// The JWKS publishing the X-Provenance signing keys, from their public keys as
    /// `aws kms get-public-key` gives them (DER, or its base64 text); repeat for a key
    /// rotated out whose signatures may still be checked. Prints the JWKS or writes it to
    /// `--out`.
    Jwks {
        /// A public key (DER SubjectPublicKeyInfo, or base64 of it).
        #[arg(long = "public-key-der", value_name = "FILE", required = true)]
        public_keys: Vec<PathBuf>,
        /// Write the JWKS here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse::<Role>().map_err(|e| e.to_string())
}

fn parse_atvk(s: &str) -> Result<Atvk, String> {
    Atvk::parse(s).map_err(|e| e.to_string())
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let data_dir = ravis::config::local_data_dir(cli.data_dir);
    match cli.command {
        Command::Serve {
            host,
            port,
            no_workers,
            no_group_commit,
            inline_archive,
            fhir_url,
            viis_url,
            ckan_url,
            ckan_organisation,
            jwt_issuer,
            jwt_jwks_url,
            jwt_audience,
            web_config,
        } => {
            ravis::telemetry::init(
                &ravis::config::local_log_filter(),
                ravis::telemetry::LogFormat::Pretty,
            );
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(local::serve(
                &data_dir,
                local::ServeOptions {
                    addr: std::net::SocketAddr::new(host, port),
                    workers: !no_workers,
                    group_commit: !no_group_commit,
                    deferred_archive: !inline_archive,
                    fhir_url,
                    viis_url,
                    ckan_url,
                    ckan_organisation,
                    issuer: jwt_issuer.zip(jwt_jwks_url).map(|(issuer, jwks_url)| {
                        local::TrustedIssuer {
                            issuer,
                            jwks_url,
                            audience: jwt_audience,
                        }
                    }),
                    web_config,
                },
                async {
                    let _ = tokio::signal::ctrl_c().await;
                },
            ))
        }
        Command::Score { input } => {
            let stdout = std::io::stdout().lock();
            let out = std::io::BufWriter::with_capacity(1 << 16, stdout);
            let summary = match input {
                Some(path) => {
                    let file = std::fs::File::open(&path)
                        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
                    ravis::scoring::score_lines(
                        std::io::BufReader::with_capacity(1 << 16, file),
                        out,
                    )?
                }
                None => ravis::scoring::score_lines(std::io::stdin().lock(), out)?,
            };
            eprintln!(
                "ravis score: {} lines, {} scored, {} with errors",
                summary.lines, summary.scored, summary.failed
            );
            Ok(())
        }
        Command::Import {
            kind,
            file,
            report,
            strict,
        } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let outcome = runtime.block_on(import::import(
                &data_dir,
                &import::ImportOptions {
                    kind,
                    file,
                    report,
                    strict,
                },
            ))?;
            import::report_outcome(&outcome)
        }
        Command::Audit {
            command: AuditCommand::Verify { child },
        } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let reports = runtime.block_on(audit::verify(&data_dir, child))?;
            audit::report(&reports)
        }
        Command::Worklist {
            command: WorklistCommand::Sweep,
        } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let report = runtime.block_on(async {
                let keys = keys::LocalKeys::load_or_create(&data_dir)?;
                let backend = ravis::adapters::embedded::EmbeddedBackend::open(&data_dir)
                    .with_context(|| {
                        format!("opening the data directory {}", data_dir.display())
                    })?;
                let app = ravis::app::App::embedded(
                    &backend,
                    &keys.identity_hmac_key,
                    &keys.pseudonym_key,
                )?;
                anyhow::Ok(
                    app.worklist()
                        .sweep()
                        .await
                        .context("sweeping the worklists")?,
                )
            })?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Command::Migrate {
            command: MigrateCommand::Merges,
        } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let indexed = runtime.block_on(migrate::merges(&data_dir))?;
            println!("{}", serde_json::json!({ "indexed": indexed }));
            Ok(())
        }
        Command::Export {
            command: ExportCommand::Analytics { out },
        } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let summary = runtime.block_on(export::analytics(&data_dir, &out))?;
            eprintln!(
                "ravis export analytics: {} children, {} rows written to {}",
                summary.children,
                summary.rows,
                out.display()
            );
            Ok(())
        }
        Command::Export {
            command: ExportCommand::Jwks { public_keys, out },
        } => {
            let mut files = Vec::with_capacity(public_keys.len());
            for path in &public_keys {
                let bytes =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                files.push((path.display().to_string(), bytes));
            }
            let jwks = serde_json::to_string_pretty(&export::jwks_from_public_keys(&files)?)?;
            match out {
                Some(path) => std::fs::write(&path, jwks + "\n")
                    .with_context(|| format!("writing {}", path.display()))?,
                None => println!("{jwks}"),
            }
            Ok(())
        }
        Command::Report {
            period,
            territory,
            threshold,
            regions,
            out,
            ckan_url,
            ckan_organisation,
        } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let portal = report::ckan_portal(
                ckan_url.as_deref(),
                ckan_organisation.as_deref(),
                std::env::var("RAVIS_CKAN_TOKEN").ok(),
            )?;
            let done = runtime.block_on(report::report(
                &data_dir,
                &period,
                territory.as_deref(),
                threshold,
                regions.as_deref(),
                &out,
                portal,
            ))?;
            println!("{}", serde_json::to_string(&done)?);
            Ok(())
        }
        Command::Wording {
            command: WordingCommand::Load { file },
        } => {
            let target = wording::load(&data_dir, &file)?;
            println!("loaded {}", target.display());
            Ok(())
        }
        Command::Wording {
            command: WordingCommand::Check { file },
        } => {
            let pack = wording::check(&file)?;
            println!(
                "{} is a usable wording pack; on AWS its object key is {}",
                file.display(),
                wording::bucket_key(&pack)
            );
            Ok(())
        }
        Command::Lake => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let summary = runtime.block_on(export::lake(&data_dir))?;
            println!("{}", serde_json::to_string(&summary)?);
            Ok(())
        }
        Command::Token {
            roles,
            org,
            subject,
            atvk,
            purpose,
            ttl,
        } => {
            let token = token::mint(
                &data_dir,
                &token::TokenOptions {
                    roles,
                    organisation: org,
                    subject,
                    territory: atvk,
                    purpose,
                    lifetime_seconds: ttl,
                },
            )?;
            println!("{token}");
            Ok(())
        }
    }
}
