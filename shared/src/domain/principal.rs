//! Who is calling: the authenticated principal and their roles.
//!
//! Roles follow `docs/SECURITY.md` (issue: access control). Claims come from the verified
//! bearer token: `sub`, `ravis:role` (string or list), `ravis:org`, `ravis:atvk`, `ravis:purpose`.

use crate::domain::Atvk;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A role a user or partner system acts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Doctor, nurse or other health professional.
    HealthSpecialist,
    /// Pre-school or school specialist (teacher, psychologist, speech therapist).
    EducationSpecialist,
    /// Provider of an intervention programme.
    ProgrammeProvider,
    /// Municipality social service.
    MunicipalitySocialService,
    /// Ministry analyst: aggregates only, never a person.
    MinistryAnalyst,
    /// Administrator of the registries.
    RegistryAdministrator,
    /// A partner information system (machine client).
    PartnerSystem,
    /// Data protection officer: reads the audit trail, never a child's record.
    DataProtectionOfficer,
    /// Integration operator: watches and retries the exports to the national systems; sees
    /// the jobs (child ids, states, receivers' answers), never a child's record.
    IntegrationOperator,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 9] = [
        Role::HealthSpecialist,
        Role::EducationSpecialist,
        Role::ProgrammeProvider,
        Role::MunicipalitySocialService,
        Role::MinistryAnalyst,
        Role::RegistryAdministrator,
        Role::PartnerSystem,
        Role::DataProtectionOfficer,
        Role::IntegrationOperator,
    ];

    /// The claim value of this role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::HealthSpecialist => "health_specialist",
            Role::EducationSpecialist => "education_specialist",
            Role::ProgrammeProvider => "programme_provider",
            Role::MunicipalitySocialService => "municipality_social_service",
            Role::MinistryAnalyst => "ministry_analyst",
            Role::RegistryAdministrator => "registry_administrator",
            Role::PartnerSystem => "partner_system",
            Role::DataProtectionOfficer => "data_protection_officer",
            Role::IntegrationOperator => "integration_operator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role '{0}'")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.chars().take(64).collect()))
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Token subject (user or system id at the identity provider).
    pub subject: String,
    /// Roles granted by the token (at least one).
    pub roles: Vec<Role>,
    /// The organisation the caller acts for.
    pub organisation: String,
    /// Territory scope, for territory-scoped roles.
    pub territory: Option<Atvk>,
    /// Declared purpose of processing, if any.
    pub purpose: Option<String>,
}

impl Principal {
    /// Whether the caller holds any of the given roles.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.roles.iter().any(|r| roles.contains(r))
    }
}
