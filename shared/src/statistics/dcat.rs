//! The open-data metadata of a release: DCAT-AP 3.0.1 as JSON-LD.
//!
//! Specification: *DCAT-AP 3.0.1*, SEMIC (Interoperable Europe),
//! <https://semiceu.github.io/DCAT-AP/releases/3.0.1/>, and its SHACL shapes
//! (`releases/3.0.1/html/shacl/shapes.ttl` in the SEMICeu/DCAT-AP repository). What it
//! makes, per class (anchors of the specification in brackets):
//!
//! - one `dcat:Catalog` (`#Catalogue`): mandatory `dct:title` and `dct:description`
//!   (`#Catalogue.title`, `#Catalogue.description`, in Latvian and English, each a literal
//!   with its `@language`) and `dct:publisher` (`#Catalogue.publisher`, exactly one Agent);
//!   `dcat:dataset` (`#Catalogue.dataset`), `dct:issued` (`#Catalogue.releasedate`);
//! - the publisher, a `foaf:Agent` (`#Agent`) with its mandatory `foaf:name` (`#Agent.name`);
//! - one `dcat:Dataset` (`#Dataset`) per dataset of the release (one CSV file): mandatory
//!   `dct:title` and `dct:description` (`#Dataset.title`, `#Dataset.description`) in both
//!   languages; the recommended `dcat:keyword` (lv and en), `dcat:theme` (the EU data
//!   theme HEAL, from the data-theme authority table the specification names),
//!   `dct:spatial` (Latvia from the country authority table), `dct:temporal` (a
//!   `dct:PeriodOfTime` with `dcat:startDate` and `dcat:endDate`, both `xsd:date`, `#PeriodOfTime`),
//!   `dcat:contactPoint` (a `vcard:Kind` with `vcard:hasEmail`, `#Kind`), `dct:publisher`,
//!   `dcat:distribution`; the optional `dct:identifier`, `dct:issued` and `dct:conformsTo`
//!   (a `dct:Standard` naming the version of the ATVK classifier the territories are coded in);
//! - one `dcat:Distribution` (`#Distribution`) per dataset: the mandatory `dcat:accessURL`
//!   (`#Distribution.accessURL`; for a plain file the same address as `dcat:downloadURL`, as
//!   the specification's usage note advises), `dct:format` (file type CSV), `dcat:mediaType`
//!   (IANA `text/csv`), `dct:license` (CC BY 4.0 from the licence authority table) and, when
//!   the caller knows it, `dcat:byteSize` (`xsd:nonNegativeInteger`).
//!
//! Every node has an IRI: `<base_url>/metadata.jsonld#…`, so the document is stable and the
//! graph has no blank nodes except the ATVK standard. The files of a release are served
//! under [`Publication::base_url`]: `<id>.csv` for each dataset, `metadata.jsonld` for this.

use super::release::Release;
use chrono::{Datelike, NaiveDate};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;

/// EU data theme "Health" (Publications Office authority table `data-theme`).
pub const THEME_HEALTH: &str = "http://publications.europa.eu/resource/authority/data-theme/HEAL";
/// Latvia (authority table `country`).
pub const COUNTRY_LATVIA: &str = "http://publications.europa.eu/resource/authority/country/LVA";
/// File type CSV (authority table `file-type`).
pub const FILE_TYPE_CSV: &str = "http://publications.europa.eu/resource/authority/file-type/CSV";
/// The IANA media type `text/csv`.
pub const MEDIA_TYPE_CSV: &str = "https://www.iana.org/assignments/media-types/text/csv";
/// Creative Commons Attribution 4.0 (authority table `licence`).
pub const LICENCE_CC_BY_4_0: &str =
    "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0";

/// The name of the metadata file among a release's files.
pub const METADATA_FILE: &str = "metadata.jsonld";

/// Who publishes a release and where its files are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// Where the release's files are served (`https://…/2026-Q1`); a trailing `/` is allowed.
    pub base_url: String,
    /// The publishing organisation.
    pub publisher_name: String,
    /// The address for comments about the datasets.
    pub contact_email: String,
    /// The catalogue's title in Latvian.
    pub catalog_title_lv: String,
    /// The catalogue's title in English.
    pub catalog_title_en: String,
    /// The catalogue's description in Latvian.
    pub catalog_description_lv: String,
    /// The catalogue's description in English.
    pub catalog_description_en: String,
}

/// Why the metadata of a release cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DcatError {
    /// The release period is none of `2026`, `2026-Q1`, `2026-01`.
    #[error("period {0:?} is not a year (2026), a quarter (2026-Q1) or a month (2026-01)")]
    Period(String),
    /// The base URL is not an absolute `http(s)` URL.
    #[error("base URL {0:?} is not an absolute http or https URL")]
    BaseUrl(String),
}

/// The first and last day of a period: a year `2026`, a quarter `2026-Q1` or a month
/// `2026-01`. `None` for anything else.
pub fn period_range(period: &str) -> Option<(NaiveDate, NaiveDate)> {
    let year_text = period.get(..4)?;
    if !year_text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = year_text.parse().ok()?;
    let (first_month, months) = match period.get(4..)? {
        "" => (1, 12),
        rest => {
            let rest = rest.strip_prefix('-')?;
            if let Some(q) = rest.strip_prefix('Q') {
                match q {
                    "1" | "2" | "3" | "4" => (3 * q.parse::<u32>().ok()? - 2, 3),
                    _ => return None,
                }
            } else if rest.len() == 2 && rest.bytes().all(|b| b.is_ascii_digit()) {
                let month: u32 = rest.parse().ok()?;
                if !(1..=12).contains(&month) {
                    return None;
                }
                (month, 1)
            } else {
                return None;
            }
        }
    };
    let start = NaiveDate::from_ymd_opt(year, first_month, 1)?;
    let last_month = first_month + months - 1;
    let after = if last_month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, last_month + 1, 1)?
    };
    let end = after.pred_opt()?;
    debug_assert_eq!(end.month(), last_month);
    Some((start, end))
}

/// The address of a dataset's CSV file.
pub fn csv_url(publication: &Publication, dataset_id: &str) -> String {
    format!("{}/{dataset_id}.csv", base(publication))
}

fn base(publication: &Publication) -> &str {
    publication.base_url.trim_end_matches('/')
}

fn lang_pair(lv: &str, en: &str) -> Json {
    json!([{ "@value": lv, "@language": "lv" }, { "@value": en, "@language": "en" }])
}

fn iri(value: &str) -> Json {
    json!({ "@id": value })
}

fn typed(value: &str, datatype: &str) -> Json {
    json!({ "@value": value, "@type": datatype })
}

const KEYWORDS_LV: [&str; 4] = ["bērnu attīstība", "skrīnings", "veselība", "statistika"];
const KEYWORDS_EN: [&str; 4] = ["child development", "screening", "health", "statistics"];

/// The JSON-LD `@context`: the prefixes used as compact IRIs.
fn context() -> Json {
    json!({
        "dcat": "http://www.w3.org/ns/dcat#",
        "dct": "http://purl.org/dc/terms/",
        "foaf": "http://xmlns.com/foaf/0.1/",
        "vcard": "http://www.w3.org/2006/vcard/ns#",
        "owl": "http://www.w3.org/2002/07/owl#",
        "xsd": "http://www.w3.org/2001/XMLSchema#"
    })
}

/// The DCAT-AP 3.0.1 metadata of `release` as a JSON-LD document (`@context` and
/// `@graph`). `byte_sizes` gives the size of a dataset's CSV file by dataset id, where known
/// (`dcat:byteSize` is optional).
pub fn catalog(
    release: &Release,
    publication: &Publication,
    byte_sizes: &BTreeMap<String, u64>,
) -> Result<Json, DcatError> {
    let (start, end) =
        period_range(&release.period).ok_or_else(|| DcatError::Period(release.period.clone()))?;
    let root = base(publication);
    if !(root.starts_with("https://") || root.starts_with("http://"))
        || root.contains(char::is_whitespace)
    {
        return Err(DcatError::BaseUrl(publication.base_url.clone()));
    }
    let doc = format!("{root}/{METADATA_FILE}");
    let publisher_id = format!("{doc}#publisher");
    let contact_id = format!("{doc}#contact-point");
    let period_id = format!("{doc}#period-{}", release.period);
    let issued = typed(&release.generated_at, "xsd:dateTime");

    let mut graph = vec![
        json!({
            "@id": publisher_id,
            "@type": "foaf:Agent",
            "foaf:name": publication.publisher_name,
        }),
        json!({
            "@id": contact_id,
            "@type": "vcard:Kind",
            "vcard:fn": publication.publisher_name,
            "vcard:hasEmail": iri(&format!("mailto:{}", publication.contact_email)),
        }),
        json!({
            "@id": period_id,
            "@type": "dct:PeriodOfTime",
            "dcat:startDate": typed(&start.to_string(), "xsd:date"),
            "dcat:endDate": typed(&end.to_string(), "xsd:date"),
        }),
    ];

    let mut dataset_ids = Vec::with_capacity(release.datasets.len());
    for dataset in &release.datasets {
        let dataset_id = format!("{doc}#dataset-{}", dataset.id);
        let distribution_id = format!("{doc}#distribution-{}", dataset.id);
        let url = csv_url(publication, &dataset.id);
        let mut keywords: Vec<Json> = KEYWORDS_LV
            .iter()
            .map(|k| json!({ "@value": k, "@language": "lv" }))
            .collect();
        keywords.extend(
            KEYWORDS_EN
                .iter()
                .map(|k| json!({ "@value": k, "@language": "en" })),
        );
        graph.push(json!({
            "@id": dataset_id,
            "@type": "dcat:Dataset",
            "dct:identifier": format!("{}-{}", dataset.id, release.period),
            "dct:title": lang_pair(&dataset.title_lv, &dataset.title_en),
            "dct:description": lang_pair(&dataset.description_lv, &dataset.description_en),
            "dcat:keyword": keywords,
            "dcat:theme": iri(THEME_HEALTH),
            "dct:spatial": iri(COUNTRY_LATVIA),
            "dct:conformsTo": {
                "@type": "dct:Standard",
                "dct:title": lang_pair(
                    &format!(
                        "Administratīvo teritoriju un teritoriālo vienību klasifikators (ATVK), versija {}",
                        release.atvk_version
                    ),
                    &format!(
                        "Classification of administrative territories and territorial units (ATVK), version {}",
                        release.atvk_version
                    ),
                ),
                "owl:versionInfo": release.atvk_version,
            },
            "dct:temporal": iri(&period_id),
            "dcat:contactPoint": iri(&contact_id),
            "dct:publisher": iri(&publisher_id),
            "dct:issued": issued.clone(),
            "dcat:distribution": iri(&distribution_id),
        }));
        let mut distribution = json!({
            "@id": distribution_id,
            "@type": "dcat:Distribution",
            "dct:title": lang_pair(&dataset.title_lv, &dataset.title_en),
            "dcat:accessURL": iri(&url),
            "dcat:downloadURL": iri(&url),
            "dct:format": iri(FILE_TYPE_CSV),
            "dcat:mediaType": iri(MEDIA_TYPE_CSV),
            "dct:license": iri(LICENCE_CC_BY_4_0),
            "dct:issued": issued.clone(),
        });
        if let (Some(size), Some(node)) =
            (byte_sizes.get(&dataset.id), distribution.as_object_mut())
        {
            node.insert(
                "dcat:byteSize".into(),
                typed(&size.to_string(), "xsd:nonNegativeInteger"),
            );
        }
        graph.push(distribution);
        dataset_ids.push(iri(&dataset_id));
    }

    graph.insert(
        0,
        json!({
            "@id": format!("{doc}#catalog"),
            "@type": "dcat:Catalog",
            "dct:title": lang_pair(&publication.catalog_title_lv, &publication.catalog_title_en),
            "dct:description": lang_pair(
                &publication.catalog_description_lv,
                &publication.catalog_description_en
            ),
            "dct:publisher": iri(&publisher_id),
            "dct:issued": issued,
            "dct:spatial": iri(COUNTRY_LATVIA),
            "dcat:dataset": dataset_ids,
        }),
    );
    Ok(json!({ "@context": context(), "@graph": graph }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statistics::release::{CellKey, ConfStatus, Dataset, Row, TerritoryLevel, Value};

    fn publication() -> Publication {
        Publication {
            base_url: "https://data.example.lv/ravis/2026-Q1/".into(),
            publisher_name: "Slimību profilakses un kontroles centrs".into(),
            contact_email: "dati@example.lv".into(),
            catalog_title_lv: "RAVIS statistika".into(),
            catalog_title_en: "RAVIS statistics".into(),
            catalog_description_lv: "Bērnu attīstības skrīninga rādītāji".into(),
            catalog_description_en: "Child development screening indicators".into(),
        }
    }

    fn dataset(id: &str) -> Dataset {
        Dataset {
            id: id.into(),
            title_lv: format!("{id} (lv)"),
            title_en: format!("{id} (en)"),
            description_lv: format!("Apraksts {id}"),
            description_en: format!("Description {id}"),
            rows: vec![Row {
                key: CellKey {
                    period: "2026-Q1".into(),
                    atvk: "LV".into(),
                    age_band: "total".into(),
                    sex: "total".into(),
                    instrument: "total".into(),
                    indicator: "children_screened".into(),
                },
                territory_level: TerritoryLevel::Country,
                value: Some(Value::Count(12)),
                conf_status: ConfStatus::F,
            }],
        }
    }

    fn release(period: &str) -> Release {
        Release {
            period: period.into(),
            atvk_version: "2024-07".into(),
            threshold: 3,
            generated_at: "2026-04-02T06:00:00Z".into(),
            datasets: vec![dataset("screening"), dataset("referrals")],
            codelists: BTreeMap::new(),
        }
    }

    fn graph(doc: &Json) -> &Vec<Json> {
        doc["@graph"].as_array().expect("a @graph array")
    }

    fn of_type<'a>(doc: &'a Json, kind: &str) -> Vec<&'a Json> {
        graph(doc).iter().filter(|n| n["@type"] == kind).collect()
    }

    fn node<'a>(doc: &'a Json, id: &Json) -> &'a Json {
        let id = id["@id"].as_str().expect("a reference");
        graph(doc)
            .iter()
            .find(|n| n["@id"] == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    fn languages(values: &Json) -> Vec<(String, String)> {
        values
            .as_array()
            .expect("a list of literals")
            .iter()
            .map(|v| {
                let text = v["@value"].as_str().expect("@value").to_string();
                let lang = v["@language"].as_str().expect("@language").to_string();
                (lang, text)
            })
            .collect()
    }

    fn make(period: &str) -> Json {
        catalog(&release(period), &publication(), &BTreeMap::new()).expect("metadata")
    }

    #[test]
    fn every_dataset_has_title_and_description_in_latvian_and_english() {
        let doc = make("2026-Q1");
        let datasets = of_type(&doc, "dcat:Dataset");
        assert_eq!(datasets.len(), 2);
        for d in datasets {
            for property in ["dct:title", "dct:description"] {
                let found = languages(&d[property]);
                let langs: Vec<&str> = found.iter().map(|(l, _)| l.as_str()).collect();
                assert_eq!(langs, ["lv", "en"], "{property} of {}", d["@id"]);
                assert!(found.iter().all(|(_, text)| !text.is_empty()));
            }
            let keywords = languages(&d["dcat:keyword"]);
            assert!(
                keywords.iter().any(|(l, _)| l == "lv") && keywords.iter().any(|(l, _)| l == "en")
            );
            assert_eq!(d["dcat:theme"]["@id"], THEME_HEALTH);
            assert_eq!(d["dct:spatial"]["@id"], COUNTRY_LATVIA);
            assert_eq!(d["dct:conformsTo"]["owl:versionInfo"], "2024-07");
            let contact = node(&doc, &d["dcat:contactPoint"]);
            assert_eq!(contact["@type"], "vcard:Kind");
            assert_eq!(contact["vcard:hasEmail"]["@id"], "mailto:dati@example.lv");
        }
        let titles: Vec<String> = of_type(&doc, "dcat:Dataset")
            .iter()
            .map(|d| languages(&d["dct:title"])[1].1.clone())
            .collect();
        assert_eq!(titles, ["screening (en)", "referrals (en)"]);
    }

    #[test]
    fn every_distribution_has_an_access_url_to_its_csv() {
        let mut sizes = BTreeMap::new();
        sizes.insert("screening".to_string(), 1234u64);
        let doc = catalog(&release("2026"), &publication(), &sizes).expect("metadata");
        let datasets = of_type(&doc, "dcat:Dataset");
        let distributions = of_type(&doc, "dcat:Distribution");
        assert_eq!(distributions.len(), datasets.len());
        for d in &datasets {
            let dist = node(&doc, &d["dcat:distribution"]);
            let access = dist["dcat:accessURL"]["@id"].as_str().expect("accessURL");
            let id = d["dct:identifier"].as_str().expect("identifier");
            let stem = id
                .strip_suffix("-2026")
                .expect("identifier ends with the period");
            assert_eq!(
                access,
                format!("https://data.example.lv/ravis/2026-Q1/{stem}.csv")
            );
            assert_eq!(dist["dcat:downloadURL"]["@id"], access);
            assert_eq!(dist["dct:format"]["@id"], FILE_TYPE_CSV);
            assert_eq!(dist["dcat:mediaType"]["@id"], MEDIA_TYPE_CSV);
            assert_eq!(dist["dct:license"]["@id"], LICENCE_CC_BY_4_0);
        }
        let screening = node(&doc, &datasets[0]["dcat:distribution"]);
        assert_eq!(screening["dcat:byteSize"]["@value"], "1234");
        let referrals = node(&doc, &datasets[1]["dcat:distribution"]);
        assert!(referrals.get("dcat:byteSize").is_none());
    }

    #[test]
    fn catalog_lists_every_dataset_and_names_its_publisher() {
        let doc = make("2026-01");
        let catalogs = of_type(&doc, "dcat:Catalog");
        assert_eq!(catalogs.len(), 1);
        let cat = catalogs[0];
        assert_eq!(
            languages(&cat["dct:title"])[0],
            ("lv".into(), "RAVIS statistika".into())
        );
        assert_eq!(languages(&cat["dct:description"]).len(), 2);
        let listed: Vec<&str> = cat["dcat:dataset"]
            .as_array()
            .expect("datasets")
            .iter()
            .filter_map(|d| d["@id"].as_str())
            .collect();
        let defined: Vec<&str> = of_type(&doc, "dcat:Dataset")
            .iter()
            .filter_map(|d| d["@id"].as_str())
            .collect();
        assert_eq!(listed, defined);
        let publisher = node(&doc, &cat["dct:publisher"]);
        assert_eq!(publisher["@type"], "foaf:Agent");
        assert_eq!(
            publisher["foaf:name"],
            "Slimību profilakses un kontroles centrs"
        );
        assert_eq!(cat["dct:issued"]["@value"], "2026-04-02T06:00:00Z");
    }

    fn temporal(period: &str) -> (String, String) {
        let doc = make(period);
        let d = of_type(&doc, "dcat:Dataset")[0];
        let t = node(&doc, &d["dct:temporal"]);
        assert_eq!(t["@type"], "dct:PeriodOfTime");
        assert_eq!(t["dcat:startDate"]["@type"], "xsd:date");
        let start = t["dcat:startDate"]["@value"]
            .as_str()
            .expect("start")
            .to_string();
        let end = t["dcat:endDate"]["@value"]
            .as_str()
            .expect("end")
            .to_string();
        (start, end)
    }

    #[test]
    fn the_temporal_range_covers_the_whole_period() {
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(temporal("2026-Q1"), pair("2026-01-01", "2026-03-31"));
        assert_eq!(temporal("2026-Q2"), pair("2026-04-01", "2026-06-30"));
        assert_eq!(temporal("2026-Q4"), pair("2026-10-01", "2026-12-31"));
        assert_eq!(temporal("2026"), pair("2026-01-01", "2026-12-31"));
        assert_eq!(temporal("2026-01"), pair("2026-01-01", "2026-01-31"));
        assert_eq!(temporal("2026-02"), pair("2026-02-01", "2026-02-28"));
        assert_eq!(temporal("2028-02"), pair("2028-02-01", "2028-02-29"));
        assert_eq!(temporal("2026-12"), pair("2026-12-01", "2026-12-31"));
    }

    #[test]
    fn unknown_periods_and_relative_urls_are_refused() {
        for period in [
            "2026-Q5", "2026-Q0", "2026-13", "2026-00", "26", "2026-1", "2026Q1", "abcd", "",
        ] {
            assert_eq!(period_range(period), None, "{period}");
            assert_eq!(
                catalog(&release(period), &publication(), &BTreeMap::new()),
                Err(DcatError::Period(period.into()))
            );
        }
        let mut relative = publication();
        relative.base_url = "ravis/2026-Q1".into();
        assert_eq!(
            catalog(&release("2026"), &relative, &BTreeMap::new()),
            Err(DcatError::BaseUrl("ravis/2026-Q1".into()))
        );
    }
}
