//! `docs/openapi.json` and the implementation cannot drift apart: the documented operations
//! are exactly the route table, every operation documents its problem answers, the request
//! schemas accept exactly what the request types accept, and the problem schema matches the
//! bodies the code builds.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use ravis::inbound::problem::{FieldError, Problem};
use ravis::inbound::routes::ROUTES;
use ravis::services::children::{ChildUpdateInput, NewChildInput, SearchInput};
use ravis::services::registry::{
    EpisodeUpdateInput, NewCertificationInput, NewEpisodeInput, NewOrganisationInput,
    NewRepresentativeInput, NewSpecialistInput, OrganisationUpdateInput, RepresentativeUpdateInput,
    SpecialistUpdateInput,
};
use ravis::services::screenings::NewScreeningInput;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

fn spec() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json"))
            .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn documented_operations_are_exactly_the_routes() {
    let spec = spec();
    assert_eq!(spec["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let implemented: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, implemented);
}

#[test]
fn every_operation_documents_authentication_and_problem_answers() {
    let spec = spec();
    assert_eq!(spec["security"][0]["bearer"], Value::Array(vec![]));
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            for code in ["401", "403"] {
                assert!(responses.contains_key(code), "{method} {path} lacks {code}");
            }
            for (code, response) in responses {
                if code.starts_with('4') || code.starts_with('5') {
                    assert_eq!(
                        response["$ref"], "#/components/responses/Problem",
                        "{method} {path} {code}"
                    );
                }
            }
        }
    }
}

/// A body with every property of `schema` set to its first example.
fn full_body(schema: &Value) -> Map<String, Value> {
    schema["properties"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, prop)| {
            let example = prop["examples"][0].clone();
            assert!(!example.is_null(), "property {name} has no example");
            (name.clone(), example)
        })
        .collect()
}

/// Whether a property schema admits `null`.
fn allows_null(prop: &Value) -> bool {
    let in_type = match &prop["type"] {
        Value::String(t) => t == "null",
        Value::Array(types) => types.iter().any(|t| t == "null"),
        _ => false,
    };
    let in_enum = prop["enum"]
        .as_array()
        .is_some_and(|values| values.contains(&Value::Null));
    let in_branch = ["oneOf", "anyOf"].iter().any(|k| {
        prop[*k]
            .as_array()
            .is_some_and(|branches| branches.iter().any(allows_null))
    });
    in_type || in_enum || in_branch
}

fn accepts<T: DeserializeOwned>(body: &Map<String, Value>) -> bool {
    serde_json::from_value::<T>(Value::Object(body.clone())).is_ok()
}

/// The schema and the Rust request type agree on every property, on which are required, and
/// on refusing unknown ones.
fn schema_matches<T: DeserializeOwned>(name: &str) {
    let spec = spec();
    let schema = &spec["components"]["schemas"][name];
    assert_eq!(
        schema["additionalProperties"], false,
        "{name} must refuse unknown fields"
    );
    let body = full_body(schema);
    assert!(
        accepts::<T>(&body),
        "{name}: the documented example body is refused"
    );
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for field in body.keys() {
        let mut without = body.clone();
        without.remove(field);
        assert_eq!(
            !accepts::<T>(&without),
            required.contains(field.as_str()),
            "{name}.{field}: documented as {}required",
            if required.contains(field.as_str()) {
                ""
            } else {
                "not "
            }
        );
    }
    // An optional field the type reads as absent when it is null must be nullable in the
    // schema, and the other way round.
    let mismatched: Vec<&String> = schema["properties"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(field, _)| !required.contains(field.as_str()))
        .filter(|(field, prop)| {
            let mut with_null = body.clone();
            with_null.insert((*field).clone(), Value::Null);
            accepts::<T>(&with_null) != allows_null(prop)
        })
        .map(|(field, _)| field)
        .collect();
    assert!(
        mismatched.is_empty(),
        "{name}: null accepted by the type but not the schema, or the other way round: {mismatched:?}"
    );
    let mut extra = body.clone();
    extra.insert("undocumented".into(), Value::from(1));
    let refusal = serde_json::from_value::<T>(Value::Object(extra))
        .err()
        .unwrap_or_else(|| panic!("{name} accepts an undocumented field"))
        .to_string();
    // serde names every field the type knows: each must be documented.
    // (Two fields are listed as "`a` or `b`", more as "one of `a`, `b`, `c`".)
    let listed = refusal
        .split("expected ")
        .nth(1)
        .unwrap_or_default()
        .replace("` or `", "`, `");
    let known: BTreeSet<String> = listed
        .strip_prefix("one of ")
        .unwrap_or(&listed)
        .split(", ")
        .map(|f| f.trim_matches('`').to_owned())
        .collect();
    let documented: BTreeSet<String> = body.keys().cloned().collect();
    assert_eq!(
        known, documented,
        "{name}: fields of the type vs the schema"
    );
}

#[test]
fn request_schemas_match_the_request_types() {
    schema_matches::<NewChildInput>("NewChild");
    schema_matches::<NewScreeningInput>("NewScreening");
    schema_matches::<SearchInput>("ChildSearch");
    schema_matches::<ChildUpdateInput>("ChildUpdate");
    schema_matches::<ravis::domain::catalogue_entry::EntryInput>("CatalogueEntryInput");
    schema_matches::<NewOrganisationInput>("NewOrganisation");
    schema_matches::<OrganisationUpdateInput>("OrganisationUpdate");
    schema_matches::<NewSpecialistInput>("NewSpecialist");
    schema_matches::<SpecialistUpdateInput>("SpecialistUpdate");
    schema_matches::<NewCertificationInput>("NewCertification");
    schema_matches::<NewEpisodeInput>("NewSupportEpisode");
    schema_matches::<EpisodeUpdateInput>("SupportEpisodeUpdate");
    schema_matches::<NewRepresentativeInput>("NewRepresentative");
    schema_matches::<RepresentativeUpdateInput>("RepresentativeUpdate");
    schema_matches::<ravis::services::break_glass::BreakGlassInput>("BreakGlass");
    schema_matches::<ravis::services::merge::MergeInput>("MergeRequest");
    schema_matches::<ravis::domain::referral::NewReferralInput>("NewReferral");
    schema_matches::<ravis::domain::referral::TransitionInput>("ReferralTransition");
    schema_matches::<ravis::domain::referral::AgreementInput>("FamilyAgreementInput");
}

#[test]
fn the_problem_schema_matches_the_bodies_the_code_builds() {
    let spec = spec();
    let schema = &spec["components"]["schemas"]["Problem"];
    let body = Problem::validation(vec![FieldError::new(
        "birth_date",
        "must not be in the future",
    )])
    .with("existing_id", "0190f3c4-6d1e-7a3b-8c2d-123456789abc")
    .body("/children", "req-1");
    let properties: BTreeSet<&String> = schema["properties"].as_object().unwrap().keys().collect();
    let built: BTreeSet<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(properties, built);
    for required in schema["required"].as_array().unwrap() {
        assert!(body.get(required.as_str().unwrap()).is_some(), "{required}");
    }
}

/// The parameters of an operation (its own and its path item's), `$ref`s resolved.
fn parameters_of<'a>(spec: &'a Value, item: &'a Value, op: &'a Value) -> Vec<&'a Value> {
    let resolve = |p: &'a Value| -> &'a Value {
        match p["$ref"].as_str() {
            Some(r) => spec.pointer(r.trim_start_matches('#')).unwrap(),
            None => p,
        }
    };
    let own = op["parameters"].as_array().into_iter().flatten();
    let shared = item["parameters"].as_array().into_iter().flatten();
    own.chain(shared).map(resolve).collect()
}

#[test]
fn conditional_operations_share_if_match_and_declare_428_and_412() {
    let spec = spec();
    let mut conditional = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let inline = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["name"] == "If-Match")
                .count();
            assert_eq!(
                inline, 0,
                "{method} {path}: If-Match must be #/components/parameters/IfMatch"
            );
            let uses = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["$ref"] == "#/components/parameters/IfMatch");
            if uses {
                conditional += 1;
                for code in ["412", "428"] {
                    assert!(
                        op["responses"].get(code).is_some(),
                        "{method} {path} lacks {code}"
                    );
                }
            }
        }
    }
    assert!(conditional >= 8, "{conditional}");
}

/// Every link names an existing operation and only parameters that operation has, so a
/// stateful run can follow created ids.
#[test]
fn links_name_existing_operations_and_their_parameters() {
    let spec = spec();
    let mut operations = std::collections::BTreeMap::new();
    for item in spec["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            let params: BTreeSet<String> = parameters_of(&spec, item, op)
                .iter()
                .map(|p| {
                    format!(
                        "{}.{}",
                        p["in"].as_str().unwrap(),
                        p["name"].as_str().unwrap()
                    )
                })
                .collect();
            operations.insert(op["operationId"].as_str().unwrap().to_owned(), params);
        }
    }
    let mut links = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (code, response) in op["responses"].as_object().unwrap() {
                for (name, link) in response["links"].as_object().into_iter().flatten() {
                    links += 1;
                    let target = link["operationId"].as_str().unwrap();
                    let params = operations
                        .get(target)
                        .unwrap_or_else(|| panic!("{method} {path} {code} {name}: no {target}"));
                    let named = link["parameters"].as_object().into_iter().flatten();
                    assert!(
                        link.get("parameters").is_some() || link.get("requestBody").is_some(),
                        "{method} {path} {code} {name}: passes nothing"
                    );
                    for (param, _) in named {
                        assert!(
                            params.contains(param),
                            "{method} {path} {code} {name}: {target} has no {param}"
                        );
                    }
                }
            }
        }
    }
    assert!(links >= 20, "{links}");
}
