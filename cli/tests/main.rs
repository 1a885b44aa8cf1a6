//! The `ravis` command's integration tests, one module per suite, compiled as one binary.
//! Run one suite with a filter, e.g. `cargo test -p ravis --test cli serve::`.

mod audit_verify;
mod export_analytics;
mod import;
mod same_engine;
mod serve;
mod support;

/// With `autotests = false` a new file here runs only once it is a module above: fail
/// when one is missing, so no suite is silently left out.
#[test]
fn every_file_here_is_a_module_of_this_binary() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let main = std::fs::read_to_string(dir.join("main.rs")).expect("read tests/main.rs");
    for entry in std::fs::read_dir(&dir).expect("read tests/") {
        let path = entry.expect("dir entry").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let is_module = (path.extension().is_some_and(|e| e == "rs") && stem != "main")
            || path.join("mod.rs").is_file();
        if is_module {
            assert!(
                main.contains(&format!("mod {stem};")),
                "tests/{stem} is not declared in tests/main.rs (add `mod {stem};`)"
            );
        }
    }
}
