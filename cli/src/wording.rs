//! `ravis wording`: check an item wording pack against the instrument definitions and load
//! it into the data directory (`<data-dir>/wording/<instrument>.<language>.json`), where
//! `ravis serve` reads it on every request.

use anyhow::{Context, Result, bail};
use ravis::adapters::wording::BUCKET_PREFIX;
use ravis::app::WORDING_DIR;
use ravis::scoring::Engine;
use ravis::scoring::wording::{MAX_PACK_BYTES, WordingPack, pack_file_name};
use std::io::Write;
use std::path::Path;

/// Reads and checks a pack; every refused field is in the error, one per line.
pub fn check(file: &Path) -> Result<WordingPack> {
    let meta = std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?;
    if meta.len() > MAX_PACK_BYTES as u64 {
        bail!(
            "{}: the pack has {} bytes; at most {MAX_PACK_BYTES} are allowed",
            file.display(),
            meta.len()
        );
    }
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let engine = Engine::builtin().context("loading the instrument definitions")?;
    WordingPack::parse(&bytes, |id| engine.instrument(id)).map_err(|errors| {
        let lines: Vec<String> = errors
            .iter()
            .map(|e| {
                let field = if e.field.is_empty() {
                    "(pack)"
                } else {
                    e.field.as_str()
                };
                format!("  {field}: {}", e.reason)
            })
            .collect();
        anyhow::anyhow!(
            "{} is not a usable wording pack ({} problem(s)):\n{}",
            file.display(),
            errors.len(),
            lines.join("\n")
        )
    })
}

/// Checks a pack and copies it to `<data_dir>/wording/` (replacing the pack of the same
/// instrument and language atomically); returns where it went.
pub fn load(data_dir: &Path, file: &Path) -> Result<std::path::PathBuf> {
    let pack = check(file)?;
    let dir = data_dir.join(WORDING_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let target = dir.join(pack_file_name(&pack.instrument, &pack.language));
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    // Written beside the target, synced, then renamed over it: a reader sees the old pack
    // or the new one, never half of one.
    let tmp = dir.join(format!(
        ".{}.loading",
        pack_file_name(&pack.instrument, &pack.language)
    ));
    let mut out =
        std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    out.write_all(&bytes)?;
    out.sync_all()?;
    std::fs::rename(&tmp, &target).with_context(|| format!("writing {}", target.display()))?;
    Ok(target)
}

/// The object key a checked pack has in the bucket on AWS.
pub fn bucket_key(pack: &WordingPack) -> String {
    format!(
        "{BUCKET_PREFIX}{}",
        pack_file_name(&pack.instrument, &pack.language)
    )
}
