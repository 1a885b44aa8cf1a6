//! Territories of a release: municipalities (ATVK 2021 administrative territories: state
//! cities and novadi), statistical regions, Latvia.
//!
//! ATVK 2021 (Cabinet Regulation No. 379 of 15 June 2021; the Central Statistical Bureau's
//! description) reserves the code's positions 1–2 for regions but does not fill them, so the
//! municipality → statistical region assignment (NUTS 3: Rīga, Pierīga, Vidzeme, Kurzeme,
//! Zemgale, Latgale) is a separate classifier the operator loads: a CSV
//! `municipality,region,region_name` (one row per administrative territory, codes as the
//! CSB publishes them), with its version. Without one, municipalities roll up straight to
//! Latvia and the release says so. A child whose municipality is not known counts under
//! [`UNASSIGNED`], a child of Latvia, so every level still adds up.

use super::release::{Codelist, TerritoryLevel};
use crate::domain::FieldError;
use std::collections::BTreeMap;

/// Code of Latvia.
pub const LATVIA: &str = "LV";
/// Code of "municipality not known" (no declared address).
pub const UNASSIGNED: &str = "unassigned";

/// The region classifier in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Territories {
    /// Version of the classifier, recorded with every release (`ATVK-2021` plus the region
    /// file's version, or `ATVK-2021` alone).
    pub version: String,
    region_of: BTreeMap<String, String>,
    region_names: BTreeMap<String, String>,
}

/// ATVK version of the territory codes children are registered with.
pub const ATVK_VERSION: &str = "ATVK-2021";

impl Territories {
    /// No region classifier: municipalities roll up straight to Latvia.
    pub fn without_regions() -> Self {
        Self {
            version: ATVK_VERSION.to_string(),
            ..Self::default()
        }
    }

    /// Reads a region classifier CSV (`municipality,region,region_name` header, then one
    /// row per municipality). Every bad row is reported with its line number.
    pub fn from_csv(version: &str, text: &str) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut region_of = BTreeMap::new();
        let mut region_names = BTreeMap::new();
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, header))
                if header.trim().trim_start_matches('\u{feff}')
                    == "municipality,region,region_name" => {}
            _ => errors.push(FieldError::new(
                "line 1",
                "the header must be municipality,region,region_name",
            )),
        }
        for (i, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let field = format!("line {}", i + 1);
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            let [municipality, region, name] = cells[..] else {
                errors.push(FieldError::new(&field, "expected 3 comma-separated values"));
                continue;
            };
            let is_territory = municipality.len() == 7
                && municipality.bytes().all(|b| b.is_ascii_digit())
                && &municipality[4..6] == "00";
            if !is_territory {
                errors.push(FieldError::new(
                    &field,
                    "municipality must be a 7-digit ATVK code of an administrative territory (positions 5-6 are 00)",
                ));
                continue;
            }
            if region.is_empty() || region == LATVIA || region == UNASSIGNED || region.len() > 16 {
                errors.push(FieldError::new(
                    &field,
                    "region must be a code of 1 to 16 characters other than LV and unassigned",
                ));
                continue;
            }
            if region_of
                .insert(municipality.to_string(), region.to_string())
                .is_some()
            {
                errors.push(FieldError::new(&field, "municipality listed twice"));
            }
            region_names.insert(region.to_string(), name.to_string());
        }
        if errors.is_empty() {
            Ok(Self {
                version: format!("{ATVK_VERSION}+regions-{version}"),
                region_of,
                region_names,
            })
        } else {
            Err(errors)
        }
    }

    /// The name of a region, if the classifier names it.
    pub fn region_name(&self, region: &str) -> Option<&str> {
        self.region_names.get(region).map(String::as_str)
    }

    /// The level of a territory code of a release.
    pub fn level(&self, code: &str) -> TerritoryLevel {
        if code == LATVIA {
            TerritoryLevel::Country
        } else if code == UNASSIGNED {
            TerritoryLevel::Unassigned
        } else if self.region_names.contains_key(code) {
            TerritoryLevel::Region
        } else {
            TerritoryLevel::Municipality
        }
    }

    /// The parent of a territory code: a municipality's region (Latvia when it has none),
    /// a region's Latvia; none for Latvia.
    pub fn parent(&self, code: &str) -> Option<&str> {
        if code == LATVIA {
            return None;
        }
        Some(
            self.region_of
                .get(code)
                .map(String::as_str)
                .unwrap_or(LATVIA),
        )
    }

    /// The territory a child counts under: its municipality, or [`UNASSIGNED`].
    pub fn leaf<'a>(&self, municipality: Option<&'a str>) -> &'a str {
        municipality.unwrap_or(UNASSIGNED)
    }

    /// The codelist over `leaves` (municipalities seen, plus every municipality of the
    /// classifier, plus [`UNASSIGNED`]): each code → its parent.
    pub fn codelist<'a>(&self, leaves: impl IntoIterator<Item = &'a str>) -> Codelist {
        let mut parent = BTreeMap::new();
        let leaves: Vec<String> = leaves.into_iter().map(str::to_string).collect();
        for code in leaves
            .into_iter()
            .chain(self.region_of.keys().cloned())
            .chain([UNASSIGNED.to_string()])
        {
            let mut code = code;
            while let Some(up) = self.parent(&code) {
                parent.insert(code, up.to_string());
                code = up.to_string();
            }
        }
        Codelist { parent }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGIONS: &str = "municipality,region,region_name\n0001000,LV006,Rīga\n0020000,LV007,Pierīga\n0021000,LV007,Pierīga\n";

    #[test]
    fn municipalities_roll_up_through_their_region_to_latvia() {
        let t = Territories::from_csv("2024", REGIONS).unwrap();
        assert_eq!(t.version, "ATVK-2021+regions-2024");
        assert_eq!(t.parent("0020000"), Some("LV007"));
        assert_eq!(t.parent("LV007"), Some(LATVIA));
        assert_eq!(t.parent(LATVIA), None);
        assert_eq!(
            t.parent("0099000"),
            Some(LATVIA),
            "an unlisted municipality"
        );
        assert_eq!(t.level("LV006"), TerritoryLevel::Region);
        assert_eq!(t.level("0001000"), TerritoryLevel::Municipality);
        let list = t.codelist(["0099000"]);
        assert_eq!(list.children("LV007"), vec!["0020000", "0021000"]);
        assert_eq!(
            list.children(LATVIA),
            vec!["0099000", "LV006", "LV007", UNASSIGNED]
        );
    }

    #[test]
    fn without_regions_municipalities_are_children_of_latvia() {
        let t = Territories::without_regions();
        assert_eq!(
            t.codelist(["0001000"]).children(LATVIA),
            vec!["0001000", UNASSIGNED]
        );
        assert_eq!(t.leaf(None), UNASSIGNED);
    }

    #[test]
    fn bad_rows_are_named_by_line() {
        let errors = Territories::from_csv(
            "x",
            "municipality,region,region_name\n0001234,LV006,Rīga\n0001000,LV,Latvia\n0001000\n0020000,LV007,P\n0020000,LV007,P\n",
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["line 2", "line 3", "line 4", "line 6"]);
        assert!(Territories::from_csv("x", "a,b\n").is_err());
    }
}
