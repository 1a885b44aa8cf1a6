//! `ravis token`: mints a development bearer token for the local host.

use crate::keys::{LOCAL_AUDIENCE, LOCAL_ISSUER, LocalKeys};
use anyhow::{Context, Result};
use ravis::domain::{Atvk, Role};
use ravis::inbound::auth::{DevTokenRequest, mint_dev_token};
use std::path::Path;

/// What to put in the token.
#[derive(Debug, Clone)]
pub struct TokenOptions {
    /// Roles (at least one).
    pub roles: Vec<Role>,
    /// Organisation.
    pub organisation: String,
    /// Subject.
    pub subject: String,
    /// Territory scope.
    pub territory: Option<Atvk>,
    /// Purpose of processing.
    pub purpose: Option<String>,
    /// Lifetime in seconds.
    pub lifetime_seconds: u64,
}

/// Mints a token signed with the data directory's dev key.
pub fn mint(data_dir: &Path, options: &TokenOptions) -> Result<String> {
    let keys = LocalKeys::load_or_create(data_dir)?;
    let issued_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("system clock before 1970")?
        .as_secs();
    let token = mint_dev_token(
        &keys.jwt_secret,
        &DevTokenRequest {
            issuer: LOCAL_ISSUER,
            audience: LOCAL_AUDIENCE,
            subject: &options.subject,
            roles: &options.roles,
            organisation: &options.organisation,
            territory: options.territory.as_ref(),
            purpose: options.purpose.as_deref(),
            issued_at,
            lifetime_seconds: options.lifetime_seconds,
        },
    )?;
    Ok(token)
}
