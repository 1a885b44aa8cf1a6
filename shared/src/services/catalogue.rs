//! Reading the catalogue: programmes (`shared/catalogue/programmes.json`) and the screening
//! instruments the engine scores. No personal data: every authenticated role may read it.

use crate::domain::catalogue::Catalogue;
use crate::scoring::Engine;
use crate::services::{Reply, ServiceError};
use serde_json::{Value, json};
use std::sync::Arc;

/// The catalogue use cases.
#[derive(Debug, Clone)]
pub struct CatalogueService {
    catalogue: Arc<Catalogue>,
    engine: Arc<Engine>,
}

impl CatalogueService {
    /// Builds the service.
    pub fn new(catalogue: Arc<Catalogue>, engine: Arc<Engine>) -> Self {
        Self { catalogue, engine }
    }

    /// The shipped catalogue with the engine's instruments.
    pub fn builtin(engine: Arc<Engine>) -> Result<Self, crate::domain::catalogue::CatalogueError> {
        Ok(Self::new(Arc::new(Catalogue::builtin()?), engine))
    }

    /// Every programme.
    pub fn programmes(&self) -> Reply {
        Reply::ok(json!({
            "version": self.catalogue.version,
            "source": self.catalogue.source,
            "programmes": self.catalogue.programmes,
        }))
    }

    /// One programme.
    pub fn programme(&self, id: &str) -> Result<Reply, ServiceError> {
        let programme = self.catalogue.programme(id).ok_or_else(|| {
            ServiceError::NotFound(format!(
                "no programme with id '{}'",
                id.chars().take(64).collect::<String>()
            ))
        })?;
        Ok(Reply::ok(json!(programme)))
    }

    /// The screening instruments: id, version, name, informant, age range, source.
    pub fn instruments(&self) -> Reply {
        let instruments: Vec<Value> = self
            .engine
            .instrument_ids()
            .filter_map(|id| self.engine.instrument(id))
            .map(|d| {
                json!({"id": d.id, "version": d.version, "name": d.name, "informant": d.informant,
                       "demonstration": d.demonstration,
                       "age_months": {"min": d.age_range.min_months, "max": d.age_range.max_months},
                       "source": d.source})
            })
            .collect();
        Reply::ok(json!({"instruments": instruments}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_programmes_and_instruments() {
        let s = CatalogueService::new(
            Arc::new(Catalogue::builtin().unwrap()),
            Arc::new(Engine::builtin().unwrap()),
        );
        assert_eq!(
            s.programmes().body["programmes"].as_array().unwrap().len(),
            12
        );
        assert_eq!(s.programme("cool-kids").unwrap().body["annual_target"], 700);
        assert!(matches!(
            s.programme("nope"),
            Err(ServiceError::NotFound(_))
        ));
        let instruments = s.instruments().body;
        let ids: Vec<&str> = instruments["instruments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        for id in [
            "sdq-parent-4-17",
            "sdq-teacher-4-17",
            "sdq-parent-2-4",
            "mchat-r",
            "mchat-rf",
            "epds",
            "demo-asq-style",
        ] {
            assert!(ids.contains(&id), "{id}");
        }
        let mchat = instruments["instruments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == "mchat-r")
            .unwrap();
        assert_eq!(mchat["age_months"], json!({"min": 16, "max": 30}));
        assert!(
            mchat["source"]["citation"]
                .as_str()
                .unwrap()
                .contains("Robins")
        );
    }
}
