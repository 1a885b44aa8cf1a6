//! Identifier newtypes. UUID v7 where creation order helps (listing, pagination).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Defines a UUID-backed identifier newtype with parsing, display and serde.
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an existing UUID.
            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
            /// Short human prefix used in logs and storage keys.
            pub const PREFIX: &'static str = $prefix;
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| InvalidId {
                    kind: stringify!($name),
                    value: s.chars().take(64).collect(),
                })
            }
        }
    };
}

/// Defines a code-like identifier newtype over a `String`, made only by `$check` (which
/// returns `Result<(), $error>`), serialised as the bare string.
macro_rules! checked_string_id {
    ($(#[$meta:meta])* $name:ident, $error:ty, $check:path) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
        )]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks `raw`.
            pub fn parse(raw: &str) -> Result<Self, $error> {
                $check(raw).map(|()| Self(raw.to_owned()))
            }

            /// The identifier.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $error;

            fn try_from(raw: String) -> Result<Self, Self::Error> {
                $check(&raw).map(|()| Self(raw))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
pub(crate) use checked_string_id;

/// A string that is not a valid identifier of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a valid {kind} (expected a UUID)")]
pub struct InvalidId {
    /// Which identifier kind was expected.
    pub kind: &'static str,
    /// The offending value (truncated).
    pub value: String,
}

uuid_id!(
    /// Identifies a child in RAVIS (never the personal code, which can change).
    ChildId,
    "CHILD"
);
uuid_id!(
    /// Identifies one screening submission.
    ScreeningId,
    "SCREENING"
);
uuid_id!(
    /// Identifies one scoring result (a screening can be re-scored; old results are kept).
    ResultId,
    "RESULT"
);
uuid_id!(
    /// Identifies a specialist in the registry (no personal code is kept for staff).
    SpecialistId,
    "SPECIALIST"
);

uuid_id!(
    /// Identifies one support episode (a child in a programme or service).
    EpisodeId,
    "EPISODE"
);

uuid_id!(
    /// Identifies a legal representative (parent, guardian, foster parent).
    RepresentativeId,
    "REPRESENTATIVE"
);

uuid_id!(
    /// Identifies one referral (a child sent to a programme or service at a provider).
    ReferralId,
    "REFERRAL"
);

uuid_id!(
    /// Identifies one export job (a result or a support need sent to a national system).
    ExportId,
    "EXPORT"
);

uuid_id!(
    /// Identifies one report (indicators of a period, issue #13).
    ReportId,
    "REPORT"
);

uuid_id!(
    /// Identifies one request, for logs and problem responses.
    RequestId,
    "REQUEST"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_round_trip() {
        let id: ChildId = "0190f3c4-6d1e-7a3b-8c2d-123456789abc".parse().unwrap();
        assert_eq!(id.to_string(), "0190f3c4-6d1e-7a3b-8c2d-123456789abc");
    }

    #[test]
    fn rejects_garbage_naming_the_kind() {
        let err = "nope".parse::<ScreeningId>().unwrap_err();
        assert_eq!(err.kind, "ScreeningId");
        assert!(err.to_string().contains("not a valid ScreeningId"));
    }
}
