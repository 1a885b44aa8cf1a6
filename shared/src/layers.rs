//! The layering rule, checked: reads every file of `shared/src`, collects the modules each
//! one names through `crate::…`, `super::…`, `self::…` (and a `mod.rs` naming its own
//! children), and fails when an import points up the layer list or when modules import each
//! other (directly or round a longer circle). Test code (`#[cfg(test)]` items) is left out:
//! a unit test may run its use case on the embedded adapter.
//!
//! The layers, lowest first (docs/ARCHITECTURE.md): `domain` → `scoring` → `fhir` (pure,
//! imports only `domain` and `scoring`) → `ports` →
//! `store` → `services` → `intake` → `inbound` → `app`; beside them `config` (reads the
//! environment; only `domain` below it), `adapters` (implement ports; only `domain` and
//! `ports` below them) and `telemetry` (nothing below it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and the top-level modules it may import.
const ALLOWED: &[(&str, &[&str])] = &[
    ("", &[]),
    ("domain", &[]),
    ("scoring", &["domain"]),
    ("fhir", &["domain", "scoring"]),
    ("statistics", &["domain", "scoring"]),
    ("ports", &["domain", "scoring"]),
    ("telemetry", &[]),
    ("config", &["domain", "fhir"]),
    ("adapters", &["domain", "ports"]),
    // Entry points of the fuzz targets into private parsers (cursors of stores and lists).
    ("fuzzing", &["ports", "services", "adapters"]),
    ("store", &["domain", "scoring", "ports"]),
    (
        "services",
        &["domain", "scoring", "fhir", "statistics", "ports", "store"],
    ),
    (
        "intake",
        &[
            "domain",
            "scoring",
            "fhir",
            "statistics",
            "ports",
            "store",
            "services",
        ],
    ),
    (
        "inbound",
        &[
            "domain",
            "scoring",
            "fhir",
            "statistics",
            "ports",
            "store",
            "services",
            "intake",
            "config",
        ],
    ),
    (
        "app",
        &[
            "domain",
            "scoring",
            "fhir",
            "statistics",
            "ports",
            "store",
            "services",
            "intake",
            "inbound",
            "config",
            "adapters",
            "telemetry",
        ],
    ),
];

/// A module's path below `crate` (`services::children`; the crate root is `""`).
type ModPath = String;

/// The source with comments, string and character literals blanked out (lines kept).
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, bytes: &[u8]| {
        out.extend(bytes.iter().map(|&c| if c == b'\n' { b'\n' } else { b' ' }));
    };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == b'/' && next == Some(b'/') {
            let end = b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p);
            blank(&mut out, &b[i..end]);
            i = end;
        } else if c == b'/' && next == Some(b'*') {
            let (mut depth, mut j) = (1, i + 2);
            while j < b.len() && depth > 0 {
                if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                    depth += 1;
                    j += 2;
                } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &b[i..j]);
            i = j;
        } else if let Some(end) = raw_string_end(b, i) {
            blank(&mut out, &b[i..end]);
            i = end;
        } else if c == b'"' || (c == b'b' && next == Some(b'"') && !ident_before(b, i)) {
            let mut j = if c == b'b' { i + 2 } else { i + 1 };
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(b.len());
            blank(&mut out, &b[i..end]);
            i = end;
        } else if c == b'\'' {
            // A character literal ('x', '\n', '\u{1F600}', '{'), not a lifetime ('a).
            let end = if next == Some(b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|&c| c == b'\'')
                    .map(|p| i + 2 + p + 1)
            } else {
                let len = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                (b.get(i + 1 + len) == Some(&b'\'')).then_some(i + 2 + len)
            };
            match end {
                Some(end) => {
                    blank(&mut out, &b[i..end]);
                    i = end;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn ident_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// The end of a raw string literal (`r"…"`, `r#"…"#`, `br#"…"#`) starting at `i`.
fn raw_string_end(b: &[u8], i: usize) -> Option<usize> {
    if ident_before(b, i) {
        return None;
    }
    let mut j = i;
    if b.get(j) == Some(&b'b') {
        j += 1;
    }
    if b.get(j) != Some(&b'r') {
        return None;
    }
    j += 1;
    let hashes = b[j..].iter().take_while(|&&c| c == b'#').count();
    j += hashes;
    if b.get(j) != Some(&b'"') {
        return None;
    }
    j += 1;
    while j < b.len() {
        if b[j] == b'"'
            && b[j + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == b'#')
                .count()
                == hashes
        {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(b.len())
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Path,
    Open,
    Close,
    Comma,
    Semi,
    Hash,
    Other(char),
}

fn tokens(code: &str) -> Vec<(Tok, usize)> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(chars[start..i].iter().collect()), line));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push((Tok::Path, line));
            i += 2;
        } else {
            out.push((
                match c {
                    '{' => Tok::Open,
                    '}' => Tok::Close,
                    ',' => Tok::Comma,
                    ';' => Tok::Semi,
                    '#' => Tok::Hash,
                    other => Tok::Other(other),
                },
                line,
            ));
            i += 1;
        }
    }
    out
}

/// Whether `toks[i..]` opens a `#[cfg(…)]` that holds only under test (`test`,
/// `all(test, …)`); the index after its `]`.
fn cfg_test_attribute(toks: &[(Tok, usize)], i: usize) -> Option<usize> {
    let at = |k: usize| toks.get(i + k).map(|t| &t.0);
    if at(0) != Some(&Tok::Hash)
        || at(1) != Some(&Tok::Other('['))
        || !matches!(at(2), Some(Tok::Ident(c)) if c == "cfg")
    {
        return None;
    }
    let end = (i..toks.len()).find(|&k| toks[k].0 == Tok::Other(']'))?;
    let names: Vec<&str> = toks[i..end]
        .iter()
        .filter_map(|t| match &t.0 {
            Tok::Ident(x) => Some(x.as_str()),
            _ => None,
        })
        .collect();
    (names.contains(&"test") && !names.contains(&"not") && !names.contains(&"any"))
        .then_some(end + 1)
}

/// The tokens without `#[cfg(test)]` items; the names of `#[cfg(test)] mod x;` files.
fn without_test_items(toks: Vec<(Tok, usize)>) -> (Vec<(Tok, usize)>, Vec<String>) {
    let mut out = Vec::new();
    let mut test_mods = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let Some(attr_end) = cfg_test_attribute(&toks, i) else {
            out.push(toks[i].clone());
            i += 1;
            continue;
        };
        // Skip the item: up to its `;` or its braced body.
        let mut j = attr_end;
        let mut depth = 0usize;
        let mut saw_mod = None;
        while j < toks.len() {
            match &toks[j].0 {
                Tok::Ident(m) if m == "mod" && depth == 0 => {
                    if let Some((Tok::Ident(name), _)) = toks.get(j + 1) {
                        saw_mod = Some(name.clone());
                    }
                }
                Tok::Open => depth += 1,
                // The close of what encloses the item (an attribute on a field, a
                // statement at the end of a block): the item ended before it.
                Tok::Close if depth == 0 => {
                    j -= 1;
                    break;
                }
                Tok::Close => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                Tok::Semi if depth == 0 => {
                    if let Some(name) = saw_mod.take() {
                        test_mods.push(name);
                    }
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        i = j + 1;
    }
    (out, test_mods)
}

/// Every full path a `use` tree or an inline path starting at `toks[i]` names.
fn paths_at(
    toks: &[(Tok, usize)],
    i: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let mut path = prefix;
    loop {
        match toks.get(*i).map(|t| &t.0) {
            Some(Tok::Ident(name)) if name != "as" => {
                path.push(name.clone());
                *i += 1;
            }
            Some(Tok::Open) => {
                *i += 1;
                loop {
                    match toks.get(*i).map(|t| &t.0) {
                        Some(Tok::Close) => {
                            *i += 1;
                            break;
                        }
                        Some(Tok::Comma) => *i += 1,
                        None => break,
                        _ => {
                            let before = *i;
                            paths_at(toks, i, path.clone(), out);
                            if *i == before {
                                *i += 1;
                            }
                        }
                    }
                }
                return;
            }
            _ => break,
        }
        if toks.get(*i).map(|t| &t.0) == Some(&Tok::Path) {
            *i += 1;
        } else {
            break;
        }
    }
    let mut alias = None;
    if matches!(toks.get(*i).map(|t| &t.0), Some(Tok::Ident(a)) if a == "as") {
        if let Some((Tok::Ident(name), _)) = toks.get(*i + 1) {
            alias = Some(name.clone());
        }
        *i += 2;
    }
    // `self` inside a group names the group's path.
    if path.last().is_some_and(|s| s == "self") {
        path.pop();
    }
    out.push((path, alias));
}

/// A path one file names (`crate`-relative), whether a `use` names it (and under which
/// alias), and its line.
#[derive(Debug)]
struct Reference {
    path: Vec<String>,
    used_as: Option<String>,
    line: usize,
}

/// Every path one file names.
fn references(module: &str, toks: &[(Tok, usize)], modules: &BTreeSet<ModPath>) -> Vec<Reference> {
    let segs: Vec<String> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(str::to_string).collect()
    };
    // The module that `self`/bare child names are relative to, and its parent.
    let here = segs.clone();
    let parent = segs[..segs.len().saturating_sub(1)].to_vec();
    let mut found = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let starts_path = i == 0 || toks[i - 1].0 != Tok::Path;
        let line = toks[i].1;
        let Tok::Ident(first) = &toks[i].0 else {
            i += 1;
            continue;
        };
        if !starts_path || toks.get(i + 1).map(|t| &t.0) != Some(&Tok::Path) {
            i += 1;
            continue;
        }
        // The module a path starts from, and the token its first name segment is at.
        let start: Option<(Vec<String>, usize)> = match first.as_str() {
            "crate" => Some((Vec::new(), i + 2)),
            "self" => Some((here.clone(), i + 2)),
            "super" => {
                // `super::super::x` climbs further.
                let mut up = parent.clone();
                let mut j = i + 2;
                while matches!(toks.get(j).map(|t| &t.0), Some(Tok::Ident(s)) if s == "super")
                    && toks.get(j + 1).map(|t| &t.0) == Some(&Tok::Path)
                {
                    up.pop();
                    j += 2;
                }
                Some((up, j))
            }
            child => {
                // A module naming one of its own child modules (`mod.rs`: `kind::COLUMNS`).
                let mut candidate = here.clone();
                candidate.push(child.to_string());
                modules
                    .contains(&candidate.join("::"))
                    .then(|| (here.clone(), i))
            }
        };
        let Some((base, at)) = start else {
            i += 1;
            continue;
        };
        let in_use = i > 0 && matches!(&toks[i - 1].0, Tok::Ident(u) if u == "use");
        i = at;
        let mut out = Vec::new();
        paths_at(toks, &mut i, base, &mut out);
        found.extend(out.into_iter().map(|(path, alias)| {
            let used_as = in_use
                .then(|| alias.or_else(|| path.last().cloned()))
                .flatten();
            Reference {
                path,
                used_as,
                line,
            }
        }));
    }
    found
}

/// The names each module brings into scope with `use`, and the module each comes from.
type Exports = BTreeMap<ModPath, BTreeMap<String, ModPath>>;

/// The module a path names: its longest module-file prefix, followed through that module's
/// `use` of the next name (so `crate::intake::Batch` is where `Batch` is defined).
fn resolve(path: &[String], modules: &BTreeSet<ModPath>, exports: &Exports) -> ModPath {
    let mut module = (0..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| modules.contains(m))
        .unwrap_or_default();
    let depth = if module.is_empty() {
        0
    } else {
        module.split("::").count()
    };
    // Follow the name through re-exports (a few hops at most; a `use` of a module's own
    // child module is that module, not a re-export).
    if let Some(name) = path.get(depth) {
        for _ in 0..4 {
            let child = if module.is_empty() {
                name.clone()
            } else {
                format!("{module}::{name}")
            };
            match exports.get(&module).and_then(|e| e.get(name)) {
                Some(target) if target != &module && !modules.contains(&child) => {
                    module = target.clone();
                }
                _ => break,
            }
        }
    }
    module
}

/// Whether `inner` is `outer` or inside it.
fn within(inner: &str, outer: &str) -> bool {
    outer.is_empty() || inner == outer || inner.starts_with(&format!("{outer}::"))
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or("")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read shared/src")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_of(root: &Path, file: &Path) -> (ModPath, bool) {
    let rel = file.strip_prefix(root).expect("file under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    let is_mod = matches!(parts.last().map(String::as_str), Some("mod" | "lib"));
    if is_mod {
        parts.pop();
    }
    (parts.join("::"), is_mod)
}

/// Every import edge of the source tree under `root`: (from, to) → first line naming it.
pub fn import_graph(root: &Path) -> BTreeMap<(ModPath, ModPath), usize> {
    let mut files = Vec::new();
    rust_files(root, &mut files);
    let modules: BTreeSet<ModPath> = files.iter().map(|f| module_of(root, f).0).collect();
    let mut parsed = Vec::new();
    let mut test_only: BTreeSet<ModPath> = BTreeSet::new();
    for file in &files {
        let (module, _) = module_of(root, file);
        let src = std::fs::read_to_string(file).expect("read source");
        let (toks, test_mods) = without_test_items(tokens(&strip(&src)));
        for name in test_mods {
            test_only.insert(if module.is_empty() {
                name
            } else {
                format!("{module}::{name}")
            });
        }
        parsed.push((module, toks));
    }
    let parsed: Vec<(ModPath, Vec<Reference>)> = parsed
        .into_iter()
        .filter(|(module, _)| !test_only.iter().any(|t| within(module, t)))
        .map(|(module, toks)| {
            let refs = references(&module, &toks, &modules);
            (module, refs)
        })
        .collect();
    let no_exports = Exports::new();
    let mut exports = Exports::new();
    for (module, refs) in &parsed {
        for r in refs {
            if let Some(name) = &r.used_as {
                let target = resolve(&r.path, &modules, &no_exports);
                exports
                    .entry(module.clone())
                    .or_default()
                    .insert(name.clone(), target);
            }
        }
    }
    let mut edges = BTreeMap::new();
    for (module, refs) in &parsed {
        for r in refs {
            let to = resolve(&r.path, &modules, &exports);
            // A module declaring and re-exporting its own children is their face, not a
            // user of them; a child importing from its parent is an import like any other.
            if !within(&to, module) || (module.is_empty() && to.is_empty()) {
                edges.entry((module.clone(), to)).or_insert(r.line);
            }
        }
    }
    edges.retain(|(a, b), _| a != b);
    edges
}

/// Every breach of the rule, one message each.
pub fn breaches(root: &Path) -> Vec<String> {
    let edges = import_graph(root);
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut out = Vec::new();
    for ((from, to), line) in &edges {
        let (a, b) = (top(from), top(to));
        if a == b {
            continue;
        }
        match allowed.get(a) {
            None => out.push(format!(
                "{from}: top-level module `{a}` is not in the layer list (shared/src/layers.rs)"
            )),
            Some(may) if !may.contains(&b) => out.push(format!(
                "{from} (line {line}) imports {to}: `{a}` may import only {may:?}"
            )),
            Some(_) => {}
        }
    }
    // Circles: strongly connected components of more than one module.
    let nodes: BTreeSet<&ModPath> = edges.keys().flat_map(|(a, b)| [a, b]).collect();
    let succ = |n: &ModPath| -> Vec<&ModPath> {
        edges
            .keys()
            .filter(|(a, _)| a == n)
            .map(|(_, b)| b)
            .collect()
    };
    let reach = |start: &ModPath| -> BTreeSet<ModPath> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![start.clone()];
        while let Some(n) = stack.pop() {
            for m in succ(&n) {
                if seen.insert(m.clone()) {
                    stack.push(m.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&ModPath, BTreeSet<ModPath>> =
        nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut reported = BTreeSet::new();
    for n in &nodes {
        if reported.contains(*n) || !reachable[n].contains(*n) {
            continue;
        }
        let circle: Vec<&ModPath> = nodes
            .iter()
            .copied()
            .filter(|m| reachable[n].contains(*m) && reachable[m].contains(*n))
            .collect();
        for m in &circle {
            reported.insert((*m).clone());
        }
        let links: Vec<String> = edges
            .iter()
            .filter(|((a, b), _)| circle.contains(&a) && circle.contains(&b))
            .map(|((a, b), line)| format!("{a} → {b} (line {line})"))
            .collect();
        out.push(format!("modules import each other: {}", links.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
    }

    #[test]
    fn imports_point_down_and_never_in_a_circle() {
        let found = breaches(&src());
        assert!(found.is_empty(), "layering breaches:\n{}", found.join("\n"));
    }

    #[test]
    fn the_reader_sees_use_trees_inline_paths_and_skips_tests() {
        let code = r#"
            use crate::a::{b::{self, C}, d::E as F};
            use super::sibling::X;
            fn f() { let s = "crate::not::this"; crate::g::h(); }
            // crate::comment::no
            #[cfg(test)]
            mod tests { use crate::test_only::Z; fn g() { let _ = '{'; } }
            use self::child::Y;
            struct S { a: u8, #[cfg(test)] b: u8 }
            fn k() { #[cfg(test)] if true { crate::test_only::W(); } }
            fn after() { crate::g::i(); }
        "#;
        let modules: BTreeSet<ModPath> = [
            "x",
            "x::here",
            "x::sibling",
            "a",
            "a::b",
            "a::d",
            "g",
            "test_only",
            "x::here::child",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (toks, _) = without_test_items(tokens(&strip(code)));
        let found: BTreeSet<ModPath> = references("x::here", &toks, &modules)
            .into_iter()
            .map(|r| resolve(&r.path, &modules, &Exports::new()))
            .collect();
        let want: BTreeSet<ModPath> = ["a::b", "a::d", "x::sibling", "g", "x::here::child"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(found, want);
    }

    #[test]
    fn an_upward_import_and_a_circle_are_breaches() {
        let root = &std::env::temp_dir().join(format!("ravis-layers-{}", std::process::id()));
        std::fs::create_dir_all(root.join("domain")).expect("mkdir");
        std::fs::create_dir_all(root.join("services")).expect("mkdir");
        std::fs::write(root.join("lib.rs"), "pub mod domain; pub mod services;").expect("write");
        std::fs::write(root.join("domain/mod.rs"), "pub mod a;").expect("write");
        std::fs::write(root.join("domain/a.rs"), "use crate::services::x::Y;").expect("write");
        std::fs::write(root.join("services/mod.rs"), "pub mod x; pub mod y;").expect("write");
        std::fs::write(root.join("services/x.rs"), "use crate::services::y::A;").expect("write");
        std::fs::write(root.join("services/y.rs"), "use super::x::B;").expect("write");
        let found = breaches(root);
        std::fs::remove_dir_all(root).expect("clean up");
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].contains("domain::a (line 1) imports services::x"));
        assert!(found[1].contains("services::x → services::y"));
    }
}
