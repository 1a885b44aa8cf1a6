//! Where the FHIR mapping gets its identifier systems, canonical URLs and profiles.
//!
//! The receiver's screening profiles and the personal-code identifier system are not
//! published yet (they are to be agreed with LDVC, the operator of E-veselība), so every URI
//! here is configuration. The defaults suit local use: RAVIS URIs under the placeholder host
//! `ravis.example` (RFC 2606), the core R4B StructureDefinitions as profiles (every valid
//! resource conforms to them), and the NVD guide's signature Provenance profile.

use serde::Deserialize;

/// Core R4B StructureDefinitions, the default `meta.profile` of each resource type.
const CORE: &str = "http://hl7.org/fhir/StructureDefinition";

/// The settings of the FHIR mapping. Every field has a default (see [`FhirSettings::default`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FhirSettings {
    /// Identifier system of the Latvian personal code (`Patient.identifier.system` at the
    /// receiver). Default: the placeholder `https://ravis.example/fhir/sid/personal-code`;
    /// the real URI is to be agreed with LDVC (DOMAIN.md names none).
    pub personal_code_system: String,
    /// Canonical URL of the RAVIS CodeSystem (instrument, score, band and risk codes without
    /// a LOINC or SNOMED CT code). Default `https://ravis.example/fhir/CodeSystem/ravis`.
    pub code_system: String,
    /// Base of the RAVIS business identifier systems: `<base>/screening`,
    /// `<base>/observation`. Default `https://ravis.example/fhir/sid`.
    pub identifier_system_base: String,
    /// Base of the Questionnaire canonicals: `<base>/<instrument id>|<version>`.
    /// Default `https://ravis.example/fhir/Questionnaire`.
    pub questionnaire_base: String,
    /// Identifier system of RAVIS organisation ids (`author`, Provenance `agent.who`).
    /// Default `https://ravis.example/fhir/sid/organisation`.
    pub organisation_system: String,
    /// `meta.profile` of each resource type.
    pub profiles: FhirProfiles,
}

/// `meta.profile` per resource type: a list each (empty: no `meta` written).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FhirProfiles {
    /// Default: the core `…/StructureDefinition/QuestionnaireResponse`.
    pub questionnaire_response: Vec<String>,
    /// Default: the core `…/StructureDefinition/Observation`.
    pub observation: Vec<String>,
    /// Profile of the `X-Provenance` Provenance. Default:
    /// `https://vvis.gov.lv/fhir/StructureDefinition/SignatureProvenance-v1` (the NVD FHIR API
    /// guide's signature Provenance, under its canonical base; confirm with LDVC).
    pub provenance: Vec<String>,
}

impl Default for FhirSettings {
    fn default() -> Self {
        FhirSettings {
            personal_code_system: "https://ravis.example/fhir/sid/personal-code".to_owned(),
            code_system: "https://ravis.example/fhir/CodeSystem/ravis".to_owned(),
            identifier_system_base: "https://ravis.example/fhir/sid".to_owned(),
            questionnaire_base: "https://ravis.example/fhir/Questionnaire".to_owned(),
            organisation_system: "https://ravis.example/fhir/sid/organisation".to_owned(),
            profiles: FhirProfiles::default(),
        }
    }
}

impl Default for FhirProfiles {
    fn default() -> Self {
        FhirProfiles {
            questionnaire_response: vec![format!("{CORE}/QuestionnaireResponse")],
            observation: vec![format!("{CORE}/Observation")],
            provenance: vec![
                "https://vvis.gov.lv/fhir/StructureDefinition/SignatureProvenance-v1".to_owned(),
            ],
        }
    }
}

/// A setting that cannot be used; `setting` is the field path (`profiles.observation[1]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("FHIR setting {setting}: {reason}")]
pub struct FhirSettingsError {
    /// Path of the setting, e.g. `personal_code_system`, `profiles.observation[0]`.
    pub setting: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FhirSettings {
    /// Checks every URI: absolute (`https://`, `http://`, `urn:oid:`, `urn:uuid:`), no
    /// whitespace, no `|` (it separates system and value in search tokens) and no `?`/`#`
    /// (they would break conditional URLs); profile entries non-empty and not repeated.
    pub fn validate(&self) -> Result<(), FhirSettingsError> {
        let uris = [
            ("personal_code_system", &self.personal_code_system),
            ("code_system", &self.code_system),
            ("identifier_system_base", &self.identifier_system_base),
            ("questionnaire_base", &self.questionnaire_base),
            ("organisation_system", &self.organisation_system),
        ];
        for (name, value) in uris {
            check_uri(name, value)?;
        }
        let lists = [
            (
                "profiles.questionnaire_response",
                &self.profiles.questionnaire_response,
            ),
            ("profiles.observation", &self.profiles.observation),
            ("profiles.provenance", &self.profiles.provenance),
        ];
        for (name, list) in lists {
            for (i, profile) in list.iter().enumerate() {
                let setting = format!("{name}[{i}]");
                if profile.trim().is_empty() {
                    return Err(FhirSettingsError {
                        setting,
                        reason: "empty profile".to_owned(),
                    });
                }
                check_uri(&setting, profile)?;
                if list[..i].contains(profile) {
                    return Err(FhirSettingsError {
                        setting,
                        reason: format!("{profile} is listed twice"),
                    });
                }
            }
        }
        Ok(())
    }

    /// The business identifier system of screenings (the QuestionnaireResponse).
    pub fn screening_system(&self) -> String {
        format!("{}/screening", self.identifier_system_base)
    }

    /// The business identifier system of RAVIS Observations (`<screening id>/<score id>`,
    /// `<screening id>/risk`).
    pub fn observation_system(&self) -> String {
        format!("{}/observation", self.identifier_system_base)
    }
}

fn check_uri(setting: &str, value: &str) -> Result<(), FhirSettingsError> {
    let fail = |reason: String| {
        Err(FhirSettingsError {
            setting: setting.to_owned(),
            reason,
        })
    };
    if value.is_empty() {
        return fail("empty; an absolute URI is needed".to_owned());
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '|' | '?' | '#'))
    {
        return fail(format!("'{value}' contains {c:?}"));
    }
    let rest = ["https://", "http://"]
        .iter()
        .find_map(|scheme| value.strip_prefix(scheme));
    match rest {
        Some(rest) => {
            let host = rest.split('/').next().unwrap_or_default();
            if host.is_empty() || !host.contains('.') && !host.starts_with("localhost") {
                return fail(format!("'{value}' has no host"));
            }
            if value.ends_with('/') {
                return fail(format!("'{value}' ends with '/'"));
            }
            Ok(())
        }
        None if value.starts_with("urn:oid:") || value.starts_with("urn:uuid:") => Ok(()),
        None => fail(format!(
            "'{value}' is not an absolute http(s), urn:oid or urn:uuid URI"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(FhirSettings::default().validate(), Ok(()));
    }

    #[test]
    fn a_bad_uri_is_named() {
        let mut s = FhirSettings {
            personal_code_system: "personal-code".to_owned(),
            ..FhirSettings::default()
        };
        let e = s.validate().unwrap_err();
        assert_eq!(e.setting, "personal_code_system");
        assert!(e.to_string().contains("not an absolute"), "{e}");

        s = FhirSettings::default();
        s.code_system = "https://ravis.example/cs|1".to_owned();
        assert_eq!(s.validate().unwrap_err().setting, "code_system");
        s = FhirSettings::default();
        s.identifier_system_base = "https:///sid".to_owned();
        assert_eq!(s.validate().unwrap_err().setting, "identifier_system_base");
        s = FhirSettings::default();
        s.organisation_system = "urn:oid:1.2.3".to_owned();
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn an_empty_or_repeated_profile_is_named() {
        let mut s = FhirSettings::default();
        s.profiles.observation.push(" ".to_owned());
        let e = s.validate().unwrap_err();
        assert_eq!(e.setting, "profiles.observation[1]");
        assert_eq!(e.reason, "empty profile");

        let mut s = FhirSettings::default();
        s.profiles.provenance = vec!["x".to_owned()];
        assert_eq!(s.validate().unwrap_err().setting, "profiles.provenance[0]");

        let mut s = FhirSettings::default();
        let p = s.profiles.questionnaire_response[0].clone();
        s.profiles.questionnaire_response.push(p);
        assert_eq!(
            s.validate().unwrap_err().setting,
            "profiles.questionnaire_response[1]"
        );
        // No profile at all is allowed: the resources then carry no meta.
        s.profiles.questionnaire_response.clear();
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn deserialises_partially_with_defaults() {
        let s: FhirSettings = serde_json::from_str(
            r#"{"personal_code_system": "urn:oid:1.3.6.1.4.1.0", "profiles": {"observation": []}}"#,
        )
        .unwrap();
        assert_eq!(s.personal_code_system, "urn:oid:1.3.6.1.4.1.0");
        assert!(s.profiles.observation.is_empty());
        assert_eq!(
            s.profiles.provenance,
            FhirProfiles::default().provenance,
            "unnamed lists keep their defaults"
        );
        assert!(serde_json::from_str::<FhirSettings>(r#"{"nope": 1}"#).is_err());
    }
}
