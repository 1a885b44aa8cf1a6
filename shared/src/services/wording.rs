//! Licensed item wording (issue #16): `GET /catalogue/instruments/{id}/wording/{lang}`.
//!
//! Definitions hold no item wording; an operator loads a pack per instrument and language
//! from a licensed source (`ravis wording load`, or an object under `wording/` in the
//! bucket on AWS). It is served to the roles that administer screenings only, and checked
//! again on every read against the definition the engine scores now, so a pack that no
//! longer fits (a new definition version) is never shown.

use crate::domain::{Principal, Role};
use crate::ports::wording::WordingPacks;
use crate::scoring::Engine;
use crate::scoring::wording::{WordingPack, is_language, pack_file_name};
use crate::services::screenings::SCREENERS;
use crate::services::{Reply, ServiceError, require_role};
use std::sync::Arc;

/// Roles that may read item wording: the ones that administer screenings.
pub const WORDING_READERS: &[Role] = SCREENERS;

/// Reads wording packs for forms.
#[derive(Clone)]
pub struct WordingService {
    packs: Option<Arc<dyn WordingPacks>>,
    engine: Arc<Engine>,
}

impl WordingService {
    /// Packs from `packs` (`None`: this deployment has nowhere to load packs, so none is
    /// loaded), checked against `engine`'s definitions.
    pub fn new(packs: Option<Arc<dyn WordingPacks>>, engine: Arc<Engine>) -> Self {
        Self { packs, engine }
    }

    /// The pack of `instrument` in `language`, as [`WordingPack::served`] gives it.
    pub async fn get(
        &self,
        principal: &Principal,
        instrument: &str,
        language: &str,
    ) -> Result<Reply, ServiceError> {
        require_role(principal, WORDING_READERS, "read item wording")?;
        let Some(def) = self.engine.instrument(instrument) else {
            return Err(ServiceError::NotFound(format!(
                "no instrument '{}'",
                instrument.chars().take(100).collect::<String>()
            )));
        };
        if !is_language(language) {
            return Err(ServiceError::NotFound(format!(
                "no wording pack loaded for this instrument and language: '{}' is not a language of wording packs (lv, en)",
                language.chars().take(20).collect::<String>()
            )));
        }
        let not_loaded = || {
            ServiceError::NotFound(format!(
                "no wording pack loaded for this instrument and language ({instrument}, {language}); an operator loads one from a licensed source"
            ))
        };
        let Some(packs) = &self.packs else {
            return Err(not_loaded());
        };
        let Some(bytes) = packs.read(&pack_file_name(instrument, language)).await? else {
            return Err(not_loaded());
        };
        let pack = WordingPack::parse(&bytes, |id| self.engine.instrument(id)).map_err(|errors| {
            let reasons: Vec<String> = errors
                .iter()
                .take(5)
                .map(|e| format!("{}: {}", e.field, e.reason))
                .collect();
            tracing::warn!(instrument, language, problems = %reasons.join("; "), "stored wording pack refused");
            ServiceError::NotFound(format!(
                "no usable wording pack loaded for this instrument and language ({instrument}, {language}): the stored pack no longer fits ({}); an operator loads a new one",
                reasons.join("; ")
            ))
        })?;
        if pack.instrument != def.id || pack.language != language {
            return Err(ServiceError::NotFound(format!(
                "no usable wording pack loaded for this instrument and language ({instrument}, {language}): the stored pack is for {}, {}",
                pack.instrument, pack.language
            )));
        }
        Ok(Reply::ok(pack.served(def)))
    }
}
