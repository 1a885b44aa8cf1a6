//! Configuration: the ONLY place environment variables are read.
//!
//! Lambdas build [`Settings::from_env`] once at cold start; the local host builds
//! [`Settings::local`] from its data directory. Everything else receives values.

use crate::fhir::{FhirProfiles, FhirSettings};
use jsonwebtoken::Algorithm;
use std::collections::HashMap;
use std::path::PathBuf;

/// A missing or malformed setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    /// A variable is set to something unusable.
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

/// How bearer tokens are verified.
#[derive(Clone)]
pub struct AuthSettings {
    /// Expected `iss`.
    pub issuer: String,
    /// Accepted `aud` values.
    pub audience: Vec<String>,
    /// Algorithm allow-list; a token with any other `alg` is refused.
    pub algorithms: Vec<Algorithm>,
    /// The verification key.
    pub key: JwtKey,
    /// Clock skew tolerated on `exp`/`nbf`, in seconds.
    pub leeway_seconds: u64,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("algorithms", &self.algorithms)
            .field("leeway_seconds", &self.leeway_seconds)
            .finish_non_exhaustive()
    }
}

/// A token verification key.
#[derive(Clone)]
pub enum JwtKey {
    /// Shared secret for HS256 — the local development host only.
    Hs256Secret(Vec<u8>),
    /// PEM public key for RS256/ES256.
    PublicKeyPem(String),
    /// URL of the identity provider's JWKS document (RS256/ES256 keys by `kid`).
    JwksUrl(String),
}

/// Settings of a deployed function.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Deployment environment name (`dev`, `prod`, `local`).
    pub environment: String,
    /// The DynamoDB table.
    pub table_name: String,
    /// The scoring queue's URL (functions that send to or consume it).
    pub scoring_queue_url: Option<String>,
    /// The scoring dead-letter queue's URL (the scoring worker puts poison messages there).
    pub scoring_dlq_url: Option<String>,
    /// The intake queue's URL (the intake worker's trigger).
    pub intake_queue_url: Option<String>,
    /// The intake dead-letter queue's URL (the intake worker puts poison messages there).
    pub intake_dlq_url: Option<String>,
    /// The partner bucket (intake worker: reads `inbox/`, writes `results/`).
    pub partner_bucket: Option<String>,
    /// Token verification.
    pub auth: AuthSettings,
    /// Key of the keyed hash that indexes personal codes (never stored raw as a key).
    pub identity_hmac_key: Vec<u8>,
    /// Key of the pseudonyms in the audit trail and in analytics (`RAVIS_PSEUDONYM_KEY`).
    pub pseudonym_key: Vec<u8>,
    /// How long audit entries are kept (`RAVIS_AUDIT_RETENTION_DAYS`); `None` keeps them.
    pub audit_retention_days: Option<u32>,
    /// How long a break-the-glass grant lasts (`RAVIS_BREAK_GLASS_MINUTES`, default 240).
    pub break_glass_minutes: u32,
    /// How long a provider keeps seeing a child after a referral ends
    /// (`RAVIS_REFERRAL_GRACE_DAYS`, default 30, 0 to 365).
    pub referral_grace_days: u32,
    /// The follow-up cadence of children in support: months between reviews under 3 years
    /// and from 3 years (`RAVIS_REVIEW_MONTHS_UNDER_3`, default 3, and
    /// `RAVIS_REVIEW_MONTHS_FROM_3`, default 6; each 1 to 24).
    pub review_months: (u32, u32),
    /// Bucket of the write-once audit archive (`RAVIS_AUDIT_ARCHIVE_BUCKET`; S3 Object Lock).
    pub audit_archive_bucket: Option<String>,
    /// The export queue's URL (`RAVIS_EXPORT_QUEUE_URL`): the functions that record export
    /// jobs queue them there after their commit; the exports worker consumes it.
    pub export_queue_url: Option<String>,
    /// The export dead-letter queue's URL (`RAVIS_EXPORT_DLQ_URL`; the exports worker puts
    /// poison messages and jobs whose attempts ran out there).
    pub export_dlq_url: Option<String>,
    /// The exchange bucket (`RAVIS_EXCHANGE_BUCKET`): `outbox/viis/` for VIIS, and
    /// `outbox/health/` for the health Bundles when no FHIR server is configured.
    pub exchange_bucket: Option<String>,
    /// The bucket holding item wording packs under `wording/` (`RAVIS_WORDING_BUCKET`;
    /// `docs/DEPLOY.md`, "Item wording packs"); `None`: no pack is loaded.
    pub wording_bucket: Option<String>,
    /// Base URL of the e-health system's FHIR API (`RAVIS_FHIR_URL`); `None` writes the
    /// Bundles to the exchange bucket instead.
    pub fhir_url: Option<String>,
    /// The KMS key that signs the `X-Provenance` JWS (`RAVIS_FHIR_SIGNING_KEY_ID`: key id,
    /// key ARN or alias).
    pub fhir_signing_key_id: Option<String>,
    /// OAuth2 client credentials for the FHIR API (`RAVIS_FHIR_TOKEN_URL`,
    /// `RAVIS_FHIR_CLIENT_ID`, `RAVIS_FHIR_CLIENT_SECRET`, `RAVIS_FHIR_SCOPE`); `None` when
    /// no token URL is set.
    pub fhir_client: Option<ClientSettings>,
    /// Base URL of VIIS's support-needs interface on the VISS integration platform
    /// (`RAVIS_VIIS_URL`; `docs/EXPORTS.md`, "VIIS over HTTP"); `None` writes the batches to
    /// the exchange bucket's `outbox/viis/` for the VISS side to collect.
    pub viis_url: Option<String>,
    /// OAuth2 client credentials for VIIS (`RAVIS_VIIS_TOKEN_URL`, `RAVIS_VIIS_CLIENT_ID`,
    /// `RAVIS_VIIS_CLIENT_SECRET`, `RAVIS_VIIS_SCOPE`); `None` when no token URL is set.
    pub viis_client: Option<ClientSettings>,
    /// The FHIR mapping's settings (`RAVIS_FHIR_PERSONAL_CODE_SYSTEM`,
    /// `RAVIS_FHIR_CODE_SYSTEM`, `RAVIS_FHIR_IDENTIFIER_SYSTEM_BASE`,
    /// `RAVIS_FHIR_QUESTIONNAIRE_BASE`, `RAVIS_FHIR_ORGANISATION_SYSTEM`, and
    /// `RAVIS_FHIR_PROFILES` as JSON, e.g. `{"observation": ["https://…"]}`), validated.
    pub fhir: FhirSettings,
    /// Reports and open data (issue #13; `docs/REPORTS.md`).
    pub reports: ReportSettings,
    /// Log filter (e.g. `info`, `ravis=debug`).
    pub log: String,
    /// Endpoint override for AWS-API-compatible emulators (`AWS_ENDPOINT_URL`).
    pub aws_endpoint_url: Option<String>,
}

/// OAuth2 client credentials of a receiver (the FHIR API, VIIS; the secret comes from Secrets
/// Manager through the template's dynamic reference).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// The token endpoint.
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
    /// The scope asked for, if any.
    pub scope: Option<String>,
}

impl std::fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSettings")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// The FHIR settings' variables: each field of [`FhirSettings`] from its own variable
/// (unset: the default), validated with [`FhirSettings::validate`]; an error names the
/// variable.
fn fhir_settings(vars: &impl Vars) -> Result<FhirSettings, ConfigError> {
    let mut fhir = FhirSettings::default();
    for (name, field) in [
        (
            "RAVIS_FHIR_PERSONAL_CODE_SYSTEM",
            &mut fhir.personal_code_system,
        ),
        ("RAVIS_FHIR_CODE_SYSTEM", &mut fhir.code_system),
        (
            "RAVIS_FHIR_IDENTIFIER_SYSTEM_BASE",
            &mut fhir.identifier_system_base,
        ),
        (
            "RAVIS_FHIR_QUESTIONNAIRE_BASE",
            &mut fhir.questionnaire_base,
        ),
        (
            "RAVIS_FHIR_ORGANISATION_SYSTEM",
            &mut fhir.organisation_system,
        ),
    ] {
        if let Some(value) = vars.get(name) {
            *field = value.trim().to_owned();
        }
    }
    if let Some(json) = vars.get("RAVIS_FHIR_PROFILES") {
        fhir.profiles =
            serde_json::from_str::<FhirProfiles>(&json).map_err(|e| ConfigError::Invalid {
                name: "RAVIS_FHIR_PROFILES",
                reason: format!(
                    "must be a JSON object of profile lists \
                     (questionnaire_response, observation, provenance): {e}"
                ),
            })?;
    }
    fhir.validate().map_err(|e| {
        let name = match e.setting.split(['.', '[']).next().unwrap_or_default() {
            "personal_code_system" => "RAVIS_FHIR_PERSONAL_CODE_SYSTEM",
            "code_system" => "RAVIS_FHIR_CODE_SYSTEM",
            "identifier_system_base" => "RAVIS_FHIR_IDENTIFIER_SYSTEM_BASE",
            "questionnaire_base" => "RAVIS_FHIR_QUESTIONNAIRE_BASE",
            "organisation_system" => "RAVIS_FHIR_ORGANISATION_SYSTEM",
            _ => "RAVIS_FHIR_PROFILES",
        };
        ConfigError::Invalid {
            name,
            reason: e.to_string(),
        }
    })?;
    Ok(fhir)
}

/// The FHIR API's client credentials: none without `RAVIS_FHIR_TOKEN_URL`; with it, the
/// client id and secret are required.
/// The variables of one receiver's OAuth2 client: token URL, client id, secret, scope.
type ClientVars = [&'static str; 4];

/// The FHIR API's client variables.
const FHIR_CLIENT: ClientVars = [
    "RAVIS_FHIR_TOKEN_URL",
    "RAVIS_FHIR_CLIENT_ID",
    "RAVIS_FHIR_CLIENT_SECRET",
    "RAVIS_FHIR_SCOPE",
];

/// VIIS's client variables.
const VIIS_CLIENT: ClientVars = [
    "RAVIS_VIIS_TOKEN_URL",
    "RAVIS_VIIS_CLIENT_ID",
    "RAVIS_VIIS_CLIENT_SECRET",
    "RAVIS_VIIS_SCOPE",
];

/// A receiver's OAuth2 client, when its token URL is set (then id and secret are required).
fn client_settings(
    vars: &impl Vars,
    [token_url, client_id, client_secret, scope]: ClientVars,
) -> Result<Option<ClientSettings>, ConfigError> {
    let Some(url) = vars.get(token_url) else {
        return Ok(None);
    };
    Ok(Some(ClientSettings {
        token_url: url,
        client_id: vars.get(client_id).ok_or(ConfigError::Missing(client_id))?,
        client_secret: vars
            .get(client_secret)
            .ok_or(ConfigError::Missing(client_secret))?,
        scope: vars.get(scope),
    }))
}

/// A source of variables: the process environment, or a map in tests.
pub trait Vars {
    /// The value of `name`, if set and not empty.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy)]
pub struct ProcessEnv;

impl Vars for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl Vars for HashMap<&str, &str> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name)
            .map(|v| (*v).to_owned())
            .filter(|v| !v.trim().is_empty())
    }
}

/// Reports and open data settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSettings {
    /// The report queue (`RAVIS_REPORT_QUEUE_URL`): report requests for the worker.
    pub queue_url: Option<String>,
    /// Its dead-letter queue (`RAVIS_REPORT_DLQ_URL`).
    pub dlq_url: Option<String>,
    /// The reports bucket (`RAVIS_REPORTS_BUCKET`): `reports/<id>/`.
    pub bucket: Option<String>,
    /// The open-data bucket (`RAVIS_OPEN_DATA_BUCKET`): `open-data/<period>/`, served through
    /// CloudFront.
    pub open_data_bucket: Option<String>,
    /// The analytics bucket (`RAVIS_ANALYTICS_BUCKET`): the lake under `lake/`, and the
    /// region classifier at `classifiers/atvk-regions.csv`.
    pub analytics_bucket: Option<String>,
    /// Counts from 1 up to this (exclusive) are not published (`RAVIS_DISCLOSURE_THRESHOLD`,
    /// default 3, 2 to 100).
    pub threshold: u32,
    /// Where the open-data files are served (`RAVIS_OPEN_DATA_BASE_URL`, the CloudFront
    /// domain), for the metadata's access URLs.
    pub open_data_base_url: Option<String>,
    /// The publisher named in the metadata (`RAVIS_OPEN_DATA_PUBLISHER`).
    pub publisher: String,
    /// The metadata's contact e-mail (`RAVIS_OPEN_DATA_CONTACT`).
    pub contact_email: String,
    /// The open-data portal every release is pushed to (`RAVIS_CKAN_URL`, with
    /// `RAVIS_CKAN_TOKEN` and `RAVIS_CKAN_ORGANISATION` then required); `None`: no push.
    pub ckan: Option<CkanSettings>,
}

/// The CKAN portal (data.gov.lv) open-data releases are pushed to (`docs/REPORTS.md`,
/// "Pushing to data.gov.lv (CKAN)"; the token comes from Secrets Manager through the
/// template's dynamic reference).
#[derive(Clone, PartialEq, Eq)]
pub struct CkanSettings {
    /// The portal's site root (`RAVIS_CKAN_URL`, e.g. `https://data.gov.lv/dati`).
    pub url: String,
    /// The API token of an editor of the organisation (`RAVIS_CKAN_TOKEN`).
    pub token: String,
    /// The organisation the datasets belong to, its name or id (`RAVIS_CKAN_ORGANISATION`).
    pub organisation: String,
}

impl std::fmt::Debug for CkanSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CkanSettings")
            .field("url", &self.url)
            .field("organisation", &self.organisation)
            .finish_non_exhaustive()
    }
}

/// The CKAN portal's settings, when `RAVIS_CKAN_URL` is set (then the token and the
/// organisation are required).
fn ckan_settings(vars: &impl Vars) -> Result<Option<CkanSettings>, ConfigError> {
    let Some(url) = vars.get("RAVIS_CKAN_URL") else {
        return Ok(None);
    };
    Ok(Some(CkanSettings {
        url,
        token: vars
            .get("RAVIS_CKAN_TOKEN")
            .ok_or(ConfigError::Missing("RAVIS_CKAN_TOKEN"))?,
        organisation: vars
            .get("RAVIS_CKAN_ORGANISATION")
            .ok_or(ConfigError::Missing("RAVIS_CKAN_ORGANISATION"))?,
    }))
}

/// Minimum length of HMAC keys and HS256 secrets.
pub const MIN_KEY_BYTES: usize = 32;

impl Settings {
    /// Reads the settings of a deployed function from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&ProcessEnv)
    }

    /// Reads the settings from any variable source.
    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        let required = |name: &'static str| vars.get(name).ok_or(ConfigError::Missing(name));
        let algorithms = parse_algorithms(
            &vars
                .get("RAVIS_JWT_ALGORITHMS")
                .unwrap_or_else(|| "RS256".into()),
        )?;
        let key = match (
            vars.get("RAVIS_JWT_JWKS_URL"),
            vars.get("RAVIS_JWT_PUBLIC_KEY_PEM"),
            vars.get("RAVIS_JWT_HS256_SECRET"),
        ) {
            (Some(url), _, _) => JwtKey::JwksUrl(url),
            (None, Some(pem), _) => JwtKey::PublicKeyPem(pem),
            (None, None, Some(secret)) => {
                JwtKey::Hs256Secret(key_bytes("RAVIS_JWT_HS256_SECRET", secret)?)
            }
            (None, None, None) => return Err(ConfigError::Missing("RAVIS_JWT_JWKS_URL")),
        };
        let key_var = |name: &'static str| key_bytes(name, required(name)?);
        let identity_hmac_key = key_var("RAVIS_IDENTITY_HMAC_KEY")?;
        let pseudonym_key = key_var("RAVIS_PSEUDONYM_KEY")?;
        let audit_retention_days = match vars.get("RAVIS_AUDIT_RETENTION_DAYS") {
            None => None,
            Some(v) => Some(v.parse::<u32>().ok().filter(|d| *d > 0).ok_or(
                ConfigError::Invalid {
                    name: "RAVIS_AUDIT_RETENTION_DAYS",
                    reason: "must be a positive whole number of days".into(),
                },
            )?),
        };
        let bounded = |name: &'static str, default: u32, min: u32, max: u32, unit: &str| match vars
            .get(name)
        {
            None => Ok(default),
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or(ConfigError::Invalid {
                    name,
                    reason: format!("must be a whole number of {unit} from {min} to {max}"),
                }),
        };
        let break_glass_minutes = bounded(
            "RAVIS_BREAK_GLASS_MINUTES",
            crate::domain::break_glass::DEFAULT_TTL_MINUTES,
            1,
            24 * 60,
            "minutes",
        )?;
        let referral_grace_days = bounded(
            "RAVIS_REFERRAL_GRACE_DAYS",
            crate::domain::referral::DEFAULT_GRACE_DAYS,
            0,
            365,
            "days",
        )?;
        let reports = ReportSettings {
            queue_url: vars.get("RAVIS_REPORT_QUEUE_URL"),
            dlq_url: vars.get("RAVIS_REPORT_DLQ_URL"),
            bucket: vars.get("RAVIS_REPORTS_BUCKET"),
            open_data_bucket: vars.get("RAVIS_OPEN_DATA_BUCKET"),
            analytics_bucket: vars.get("RAVIS_ANALYTICS_BUCKET"),
            threshold: bounded("RAVIS_DISCLOSURE_THRESHOLD", 3, 2, 100, "units")?,
            open_data_base_url: vars.get("RAVIS_OPEN_DATA_BASE_URL"),
            publisher: vars
                .get("RAVIS_OPEN_DATA_PUBLISHER")
                .unwrap_or_else(|| "RAVIS".into()),
            contact_email: vars
                .get("RAVIS_OPEN_DATA_CONTACT")
                .unwrap_or_else(|| "dati@example.invalid".into()),
            ckan: ckan_settings(vars)?,
        };
        let review_months = (
            bounded("RAVIS_REVIEW_MONTHS_UNDER_3", 3, 1, 24, "months")?,
            bounded("RAVIS_REVIEW_MONTHS_FROM_3", 6, 1, 24, "months")?,
        );
        let leeway_seconds = match vars.get("RAVIS_JWT_LEEWAY_SECONDS") {
            None => 30,
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                name: "RAVIS_JWT_LEEWAY_SECONDS",
                reason: "must be a whole number of seconds".into(),
            })?,
        };
        Ok(Self {
            environment: vars.get("RAVIS_ENV").unwrap_or_else(|| "dev".into()),
            table_name: required("RAVIS_TABLE_NAME")?,
            scoring_queue_url: vars.get("RAVIS_SCORING_QUEUE_URL"),
            scoring_dlq_url: vars.get("RAVIS_SCORING_DLQ_URL"),
            intake_queue_url: vars.get("RAVIS_INTAKE_QUEUE_URL"),
            intake_dlq_url: vars.get("RAVIS_INTAKE_DLQ_URL"),
            partner_bucket: vars.get("RAVIS_PARTNER_BUCKET"),
            auth: AuthSettings {
                issuer: required("RAVIS_JWT_ISSUER")?,
                audience: required("RAVIS_JWT_AUDIENCE")?
                    .split(',')
                    .map(|a| a.trim().to_owned())
                    .filter(|a| !a.is_empty())
                    .collect(),
                algorithms,
                key,
                leeway_seconds,
            },
            identity_hmac_key,
            pseudonym_key,
            audit_retention_days,
            break_glass_minutes,
            referral_grace_days,
            review_months,
            audit_archive_bucket: vars.get("RAVIS_AUDIT_ARCHIVE_BUCKET"),
            export_queue_url: vars.get("RAVIS_EXPORT_QUEUE_URL"),
            export_dlq_url: vars.get("RAVIS_EXPORT_DLQ_URL"),
            exchange_bucket: vars.get("RAVIS_EXCHANGE_BUCKET"),
            wording_bucket: vars.get("RAVIS_WORDING_BUCKET"),
            fhir_url: vars.get("RAVIS_FHIR_URL"),
            fhir_signing_key_id: vars.get("RAVIS_FHIR_SIGNING_KEY_ID"),
            fhir_client: client_settings(vars, FHIR_CLIENT)?,
            viis_url: vars.get("RAVIS_VIIS_URL"),
            viis_client: client_settings(vars, VIIS_CLIENT)?,
            fhir: fhir_settings(vars)?,
            reports,
            log: vars.get("RAVIS_LOG").unwrap_or_else(|| "info".into()),
            aws_endpoint_url: vars.get("AWS_ENDPOINT_URL"),
        })
    }

    /// The report queue and its dead-letter queue, the reports bucket (API and worker).
    pub fn require_reports(&self) -> Result<(&str, &str, &str), ConfigError> {
        let r = &self.reports;
        Ok((
            require(&r.queue_url, "RAVIS_REPORT_QUEUE_URL")?,
            require(&r.dlq_url, "RAVIS_REPORT_DLQ_URL")?,
            require(&r.bucket, "RAVIS_REPORTS_BUCKET")?,
        ))
    }

    /// The buckets the reports worker reads and writes: analytics lake and open data.
    pub fn require_report_buckets(&self) -> Result<(&str, &str), ConfigError> {
        let r = &self.reports;
        Ok((
            require(&r.analytics_bucket, "RAVIS_ANALYTICS_BUCKET")?,
            require(&r.open_data_bucket, "RAVIS_OPEN_DATA_BUCKET")?,
        ))
    }

    /// The scoring queue URL, required by functions that use the queue.
    pub fn require_scoring_queue(&self) -> Result<&str, ConfigError> {
        require(&self.scoring_queue_url, "RAVIS_SCORING_QUEUE_URL")
    }

    /// The scoring dead-letter queue URL, required by the scoring worker.
    pub fn require_scoring_dlq(&self) -> Result<&str, ConfigError> {
        require(&self.scoring_dlq_url, "RAVIS_SCORING_DLQ_URL")
    }

    /// The intake queue and its dead-letter queue URLs, required by the intake worker.
    pub fn require_intake_queues(&self) -> Result<(&str, &str), ConfigError> {
        Ok((
            require(&self.intake_queue_url, "RAVIS_INTAKE_QUEUE_URL")?,
            require(&self.intake_dlq_url, "RAVIS_INTAKE_DLQ_URL")?,
        ))
    }

    /// The audit archive bucket, required by every function that appends audit entries.
    pub fn require_audit_archive_bucket(&self) -> Result<&str, ConfigError> {
        require(&self.audit_archive_bucket, "RAVIS_AUDIT_ARCHIVE_BUCKET")
    }

    /// The export queue and its dead-letter queue URLs, the exchange bucket and the signing
    /// key, required by the exports worker.
    pub fn require_exports(&self) -> Result<(&str, &str, &str, &str), ConfigError> {
        Ok((
            require(&self.export_queue_url, "RAVIS_EXPORT_QUEUE_URL")?,
            require(&self.export_dlq_url, "RAVIS_EXPORT_DLQ_URL")?,
            require(&self.exchange_bucket, "RAVIS_EXCHANGE_BUCKET")?,
            require(&self.fhir_signing_key_id, "RAVIS_FHIR_SIGNING_KEY_ID")?,
        ))
    }

    /// The partner bucket name, required by the intake worker.
    pub fn require_partner_bucket(&self) -> Result<&str, ConfigError> {
        require(&self.partner_bucket, "RAVIS_PARTNER_BUCKET")
    }
}

/// An optional setting that the caller needs: its value, or `Missing(name)`.
fn require<'a>(value: &'a Option<String>, name: &'static str) -> Result<&'a str, ConfigError> {
    value.as_deref().ok_or(ConfigError::Missing(name))
}

/// A key read from `name`: at least [`MIN_KEY_BYTES`] long.
fn key_bytes(name: &'static str, value: String) -> Result<Vec<u8>, ConfigError> {
    if value.len() < MIN_KEY_BYTES {
        return Err(ConfigError::Invalid {
            name,
            reason: format!("must be at least {MIN_KEY_BYTES} bytes"),
        });
    }
    Ok(value.into_bytes())
}

fn parse_algorithms(list: &str) -> Result<Vec<Algorithm>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| match a {
            "RS256" => Ok(Algorithm::RS256),
            "ES256" => Ok(Algorithm::ES256),
            "HS256" => Ok(Algorithm::HS256),
            other => Err(ConfigError::Invalid {
                name: "RAVIS_JWT_ALGORITHMS",
                reason: format!("unsupported algorithm '{other}' (allowed: RS256, ES256, HS256)"),
            }),
        })
        .collect()
}

/// Where the local host keeps its data: `--data-dir`, else `RAVIS_DATA_DIR`, else `./.ravis`.
pub fn local_data_dir(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| ProcessEnv.get("RAVIS_DATA_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(".ravis"))
}

/// How long an export job claimed by a worker is left to it before the sweep hands it to
/// another (`RAVIS_EXPORT_LEASE_SECONDS`, 1 to 3600; default 120): what a crash mid-send
/// delays the job by. An unusable value is an error naming the variable.
pub fn export_lease() -> Result<std::time::Duration, ConfigError> {
    match ProcessEnv.get("RAVIS_EXPORT_LEASE_SECONDS") {
        None => Ok(std::time::Duration::from_secs(120)),
        Some(raw) => raw
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=3600).contains(s))
            .map(std::time::Duration::from_secs)
            .ok_or(ConfigError::Invalid {
                name: "RAVIS_EXPORT_LEASE_SECONDS",
                reason: format!("must be whole seconds from 1 to 3600, not {raw:?}"),
            }),
    }
}

/// The local host's log filter: `RAVIS_LOG`, else `info`.
pub fn local_log_filter() -> String {
    ProcessEnv.get("RAVIS_LOG").unwrap_or_else(|| "info".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("RAVIS_TABLE_NAME", "ravis-dev"),
            ("RAVIS_JWT_ISSUER", "https://idp.example"),
            ("RAVIS_JWT_AUDIENCE", "ravis-api, ravis-web"),
            ("RAVIS_JWT_PUBLIC_KEY_PEM", "-----BEGIN PUBLIC KEY-----"),
            (
                "RAVIS_IDENTITY_HMAC_KEY",
                "0123456789abcdef0123456789abcdef",
            ),
            ("RAVIS_PSEUDONYM_KEY", "fedcba9876543210fedcba9876543210"),
        ])
    }

    #[test]
    fn reads_a_complete_environment() {
        let s = Settings::from_vars(&base()).unwrap();
        assert_eq!(s.table_name, "ravis-dev");
        assert_eq!(s.auth.audience, vec!["ravis-api", "ravis-web"]);
        assert_eq!(s.auth.algorithms, vec![Algorithm::RS256]);
        assert_eq!(s.auth.leeway_seconds, 30);
        assert_eq!(s.environment, "dev");
        assert_eq!(s.pseudonym_key, b"fedcba9876543210fedcba9876543210");
        assert_eq!(s.audit_retention_days, None);
    }

    /// The base environment with `name` set to `value`.
    fn base_with(name: &'static str, value: &'static str) -> HashMap<&'static str, &'static str> {
        let mut vars = base();
        vars.insert(name, value);
        vars
    }

    /// `name=bad` is refused as invalid, the error naming `name`.
    fn assert_invalid(name: &'static str, bad: &'static str) {
        let err = Settings::from_vars(&base_with(name, bad)).unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { name: n, .. } if n == name),
            "{name}={bad}: {err}"
        );
    }

    #[test]
    fn pseudonym_key_and_audit_retention() {
        let mut vars = base();
        vars.remove("RAVIS_PSEUDONYM_KEY");
        assert!(matches!(
            Settings::from_vars(&vars),
            Err(ConfigError::Missing("RAVIS_PSEUDONYM_KEY"))
        ));
        assert_invalid("RAVIS_PSEUDONYM_KEY", "short");
        let vars = base_with("RAVIS_AUDIT_RETENTION_DAYS", "3650");
        assert_eq!(
            Settings::from_vars(&vars).unwrap().audit_retention_days,
            Some(3650)
        );
        let s = Settings::from_vars(&base()).unwrap();
        assert_eq!(s.break_glass_minutes, 240);
        assert_eq!(s.referral_grace_days, 30);
        assert_eq!(s.review_months, (3, 6));
        let vars = base_with("RAVIS_BREAK_GLASS_MINUTES", "30");
        assert_eq!(Settings::from_vars(&vars).unwrap().break_glass_minutes, 30);
        for (name, bad) in [
            ("RAVIS_REFERRAL_GRACE_DAYS", "366"),
            ("RAVIS_REVIEW_MONTHS_UNDER_3", "0"),
            ("RAVIS_REVIEW_MONTHS_FROM_3", "six"),
            ("RAVIS_BREAK_GLASS_MINUTES", "0"),
            ("RAVIS_BREAK_GLASS_MINUTES", "1441"),
            ("RAVIS_BREAK_GLASS_MINUTES", "an hour"),
            ("RAVIS_AUDIT_RETENTION_DAYS", "0"),
            ("RAVIS_AUDIT_RETENTION_DAYS", "-1"),
            ("RAVIS_AUDIT_RETENTION_DAYS", "ten"),
        ] {
            assert_invalid(name, bad);
        }
    }

    #[test]
    fn a_jwks_url_takes_precedence_over_a_pem_key() {
        let mut vars = base();
        vars.insert("RAVIS_JWT_JWKS_URL", "https://idp.example/jwks.json");
        let s = Settings::from_vars(&vars).unwrap();
        assert!(
            matches!(s.auth.key, JwtKey::JwksUrl(ref u) if u == "https://idp.example/jwks.json")
        );
        let mut vars = base();
        vars.remove("RAVIS_JWT_PUBLIC_KEY_PEM");
        assert_eq!(
            Settings::from_vars(&vars).unwrap_err().to_string(),
            "environment variable RAVIS_JWT_JWKS_URL is required but not set"
        );
    }

    #[test]
    fn names_the_missing_variable() {
        let mut vars = base();
        vars.remove("RAVIS_TABLE_NAME");
        let err = Settings::from_vars(&vars).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable RAVIS_TABLE_NAME is required but not set"
        );
    }

    #[test]
    fn refuses_unknown_algorithms_and_short_keys() {
        let mut vars = base();
        vars.insert("RAVIS_JWT_ALGORITHMS", "RS256,none");
        assert!(
            Settings::from_vars(&vars)
                .unwrap_err()
                .to_string()
                .contains("'none'")
        );
        assert_invalid("RAVIS_IDENTITY_HMAC_KEY", "short");
        let mut vars = base();
        vars.remove("RAVIS_JWT_PUBLIC_KEY_PEM");
        vars.insert("RAVIS_JWT_HS256_SECRET", "short");
        assert!(matches!(
            Settings::from_vars(&vars),
            Err(ConfigError::Invalid {
                name: "RAVIS_JWT_HS256_SECRET",
                ..
            })
        ));
    }

    #[test]
    fn the_partner_bucket_is_required_only_when_asked_for() {
        let s = Settings::from_vars(&base()).unwrap();
        assert_eq!(
            s.require_partner_bucket().unwrap_err().to_string(),
            "environment variable RAVIS_PARTNER_BUCKET is required but not set"
        );
        let mut vars = base();
        vars.insert("RAVIS_PARTNER_BUCKET", "ravis-dev-partner");
        let s = Settings::from_vars(&vars).unwrap();
        assert_eq!(s.require_partner_bucket().unwrap(), "ravis-dev-partner");
    }

    #[test]
    fn the_exports_settings_are_read_and_bad_fhir_settings_name_their_variable() {
        let s = Settings::from_vars(&base()).unwrap();
        assert_eq!(s.fhir, FhirSettings::default());
        assert!(s.fhir_client.is_none());
        assert_eq!(
            s.require_exports().unwrap_err().to_string(),
            "environment variable RAVIS_EXPORT_QUEUE_URL is required but not set"
        );
        let mut vars = base();
        vars.extend([
            ("RAVIS_EXPORT_QUEUE_URL", "https://sqs.example/q"),
            ("RAVIS_EXPORT_DLQ_URL", "https://sqs.example/dlq"),
            ("RAVIS_EXCHANGE_BUCKET", "ravis-dev-exchange"),
            (
                "RAVIS_FHIR_SIGNING_KEY_ID",
                "arn:aws:kms:eu-north-1:1:key/k",
            ),
            (
                "RAVIS_FHIR_PERSONAL_CODE_SYSTEM",
                "urn:oid:1.3.6.1.4.1.38760.2.1",
            ),
            (
                "RAVIS_FHIR_PROFILES",
                r#"{"observation": ["https://x.example/Obs"]}"#,
            ),
            ("RAVIS_FHIR_TOKEN_URL", "https://idp.example/token"),
            ("RAVIS_FHIR_CLIENT_ID", "ravis"),
            ("RAVIS_FHIR_CLIENT_SECRET", "s3cret"),
            ("RAVIS_VIIS_URL", "https://viss.example/viis"),
            ("RAVIS_VIIS_TOKEN_URL", "https://viss.example/token"),
            ("RAVIS_VIIS_CLIENT_ID", "ravis-viis"),
            ("RAVIS_VIIS_CLIENT_SECRET", "v1is-secret"),
        ]);
        let s = Settings::from_vars(&vars).unwrap();
        assert_eq!(
            s.require_exports().unwrap(),
            (
                "https://sqs.example/q",
                "https://sqs.example/dlq",
                "ravis-dev-exchange",
                "arn:aws:kms:eu-north-1:1:key/k"
            )
        );
        assert_eq!(s.fhir.personal_code_system, "urn:oid:1.3.6.1.4.1.38760.2.1");
        assert_eq!(s.fhir.profiles.observation, vec!["https://x.example/Obs"]);
        // Lists not given keep their defaults.
        let client = s.fhir_client.clone().unwrap();
        assert_eq!(
            (client.client_id.as_str(), client.client_secret.as_str()),
            ("ravis", "s3cret")
        );
        assert!(
            !format!("{s:?}").contains("s3cret"),
            "the secret is not in Debug"
        );
        assert_eq!(s.viis_url.as_deref(), Some("https://viss.example/viis"));
        let viis = s.viis_client.clone().unwrap();
        assert_eq!(
            (viis.token_url.as_str(), viis.client_id.as_str()),
            ("https://viss.example/token", "ravis-viis")
        );
        assert!(!format!("{s:?}").contains("v1is-secret"));
        assert_eq!(s.reports.ckan, None, "no CKAN URL: no push");
        let mut ckan = vars.clone();
        ckan.insert("RAVIS_CKAN_URL", "https://data.gov.lv/dati");
        ckan.insert("RAVIS_CKAN_TOKEN", "ckan-t0ken");
        ckan.insert("RAVIS_CKAN_ORGANISATION", "ravis");
        let with = Settings::from_vars(&ckan).unwrap();
        let c = with.reports.ckan.clone().unwrap();
        assert_eq!(
            (c.url.as_str(), c.organisation.as_str()),
            ("https://data.gov.lv/dati", "ravis")
        );
        assert!(!format!("{with:?}").contains("ckan-t0ken"));
        ckan.remove("RAVIS_CKAN_TOKEN");
        assert_eq!(
            Settings::from_vars(&ckan).unwrap_err().to_string(),
            "environment variable RAVIS_CKAN_TOKEN is required but not set"
        );
        let mut half = vars.clone();
        half.remove("RAVIS_VIIS_CLIENT_SECRET");
        assert_eq!(
            Settings::from_vars(&half).unwrap_err().to_string(),
            "environment variable RAVIS_VIIS_CLIENT_SECRET is required but not set"
        );
        for (name, bad) in [
            ("RAVIS_FHIR_PERSONAL_CODE_SYSTEM", "not a uri"),
            ("RAVIS_FHIR_QUESTIONNAIRE_BASE", "https://x.example/q/"),
            ("RAVIS_FHIR_PROFILES", r#"{"observation": [""]}"#),
            ("RAVIS_FHIR_PROFILES", r#"{"patient": []}"#),
            ("RAVIS_FHIR_PROFILES", "not json"),
        ] {
            assert_invalid(name, bad);
        }
        let v = base_with("RAVIS_FHIR_TOKEN_URL", "https://idp.example/token");
        assert_eq!(
            Settings::from_vars(&v).unwrap_err().to_string(),
            "environment variable RAVIS_FHIR_CLIENT_ID is required but not set"
        );
    }

    #[test]
    fn the_audit_archive_bucket_is_required_by_the_functions_that_audit() {
        let s = Settings::from_vars(&base()).unwrap();
        assert_eq!(
            s.require_audit_archive_bucket().unwrap_err().to_string(),
            "environment variable RAVIS_AUDIT_ARCHIVE_BUCKET is required but not set"
        );
        let mut vars = base();
        vars.insert("RAVIS_AUDIT_ARCHIVE_BUCKET", "ravis-dev-audit-archive");
        let s = Settings::from_vars(&vars).unwrap();
        assert_eq!(
            s.require_audit_archive_bucket().unwrap(),
            "ravis-dev-audit-archive"
        );
    }
}
