//! Embeds the built web client (`web/dist/`, made by `make web`) into the `ravis` binary,
//! so `ravis serve` serves it from any working directory. Without a build the binary still
//! builds and `ravis serve` says the client is missing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let web = manifest.join("..").join("web");
    let dist = web.join("dist");
    let mut files = Vec::new();
    if dist.is_dir() {
        // Cargo scans a directory recursively for changes.
        println!("cargo:rerun-if-changed={}", dist.display());
        collect(&dist, &dist, &mut files);
    } else {
        // Creating dist/ changes web/'s own modification time.
        println!("cargo:rerun-if-changed={}", web.display());
    }
    files.sort();
    let mut out = String::from(
        "/// The built web client: (URL path, file contents), sorted by path.\n\
         pub static ASSETS: &[(&str, &[u8])] = &[\n",
    );
    for (url, path) in &files {
        let _ = writeln!(
            out,
            "    ({url:?}, include_bytes!({:?})),",
            path.display().to_string()
        );
    }
    out.push_str("];\n");
    let target =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("web_assets.rs");
    std::fs::write(target, out).expect("writing web_assets.rs");
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let url = format!("/{}", relative.to_string_lossy().replace('\\', "/"));
            let absolute = path.canonicalize().unwrap_or(path);
            out.push((url, absolute));
        }
    }
}
