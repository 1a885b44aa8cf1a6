//! Every integration test of the `tests` crate, one module per suite, compiled as one
//! binary (the AWS SDK is linked once). Run one suite with a filter, e.g.
//! `cargo test -p ravis-tests --test all contract::`.

mod access_matrix;
mod audit;
mod audit_archive;
mod aws_adapters;
mod aws_audit;
mod aws_care_pathway;
mod aws_catalogue;
mod aws_exports;
mod aws_registry;
mod aws_slice;
mod care_access;
mod care_pathway;
mod catalogue;
mod contract;
mod events;
mod exports;
mod intake;
mod intake_jobs;
mod lake;
mod merge;
mod merge_list;
mod openapi;
mod population_register;
mod possible_duplicates;
mod programme_outcomes;
mod properties;
mod registry;
mod registry_intake;
mod reports;
mod rescore;
mod wording;

/// With `autotests = false` a new file in a folder of integration tests runs only once it
/// is a module of that folder's `main.rs`: fail when one is missing, so no suite is
/// silently left out. Checks this crate's `tests/` and the CLI's `cli/tests/`.
#[test]
fn every_file_here_is_a_module_of_this_binary() {
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in [crate_dir.join("tests"), crate_dir.join("../cli/tests")] {
        let main = std::fs::read_to_string(dir.join("main.rs")).expect("read main.rs");
        for entry in std::fs::read_dir(&dir).expect("read the tests folder") {
            let path = entry.expect("dir entry").path();
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let is_module = (path.extension().is_some_and(|e| e == "rs") && stem != "main")
                || path.join("mod.rs").is_file();
            if is_module {
                assert!(
                    main.contains(&format!("mod {stem};")),
                    "{}/{stem} is not declared in its main.rs (add `mod {stem};`)",
                    dir.display()
                );
            }
        }
    }
}
