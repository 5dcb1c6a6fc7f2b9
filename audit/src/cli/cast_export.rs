//! `kac-audit export --sessions QUERY --dir OUT`: every session matching a
//! search, one asciicast file each, rendered by `kac_player::export_cast`
//! (the same function behind `kac-play export`, so both produce the same
//! bytes for the same session).
//!
//! Files are named `SESSION-ID.cast`. An existing file is never replaced
//! unless `--force` is given, and the check happens for every target before
//! anything is written, so a refused export leaves OUT as it was. Each file
//! is written to a temporary name and then linked (or, with `--force`,
//! renamed) into place: a crash never leaves a half-written `.cast`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use kac_player::{export_cast, CastFormat};
use kac_store::{Query, Store};

/// What one export did.
pub struct Exported {
    pub files: Vec<PathBuf>,
}

/// The file name of a session's export. Session ids are UUIDs made by the
/// proxy, but the store is read as data: anything that is not a plain name
/// character becomes `_`, so an id can never name a path outside OUT.
pub fn file_name(session_id: &str) -> String {
    let safe: String = session_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim_start_matches('.');
    format!("{}.cast", if safe.is_empty() { "_" } else { safe })
}

/// Exports every session matching `q` into `dir`. Returns Ok with no files
/// when nothing matched (the caller reports it).
pub fn export_sessions(
    st: &Store,
    q: &Query,
    format: CastFormat,
    limit: usize,
    dir: &Path,
    force: bool,
    progress: &mut dyn Write,
) -> Result<Exported> {
    let mut ids = st.session_ids(q).context("searching sessions")?;
    ids.truncate(limit);
    if ids.is_empty() {
        return Ok(Exported { files: Vec::new() });
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut targets: Vec<(String, PathBuf)> = Vec::with_capacity(ids.len());
    let mut names = std::collections::BTreeSet::new();
    for id in ids {
        let name = file_name(&id);
        if !names.insert(name.clone()) {
            bail!("two sessions map to the same file name {name} (session {id})");
        }
        targets.push((id, dir.join(name)));
    }
    if !force {
        let existing: Vec<String> = targets
            .iter()
            .filter(|(_, p)| p.symlink_metadata().is_ok())
            .map(|(_, p)| p.display().to_string())
            .collect();
        if !existing.is_empty() {
            bail!(
                "{} of {} files already exist (use --force to overwrite): {}",
                existing.len(),
                targets.len(),
                existing.join(", ")
            );
        }
    }
    let mut files = Vec::with_capacity(targets.len());
    for (id, path) in targets {
        let events = st
            .session(&id)
            .with_context(|| format!("reading session {id}"))?;
        write_atomically(&path, force, |out| export_cast(&events, format, out))
            .with_context(|| format!("exporting session {id} to {}", path.display()))?;
        writeln!(progress, "{}", path.display())?;
        files.push(path);
    }
    Ok(Exported { files })
}

/// Writes through a temporary file in the same directory, then puts it in
/// place: `hard_link` fails if the target appeared meanwhile (no clobber),
/// `rename` replaces it (`--force`).
fn write_atomically(
    path: &Path,
    force: bool,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("cast");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let res = (|| -> Result<()> {
        let f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut w = std::io::BufWriter::new(f);
        write(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        if force {
            std::fs::rename(&tmp, path)?;
        } else {
            std::fs::hard_link(&tmp, path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    anyhow::anyhow!(
                        "{} appeared while exporting; not overwritten",
                        path.display()
                    )
                } else {
                    e.into()
                }
            })?;
        }
        Ok(())
    })();
    let _ = std::fs::remove_file(&tmp);
    res
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn file_names_stay_inside_the_directory() {
        assert_eq!(
            file_name("0192f1c2-7a3b-7c4d-8e5f-001122334455"),
            "0192f1c2-7a3b-7c4d-8e5f-001122334455.cast"
        );
        assert_eq!(file_name("../../etc/passwd"), "_.._etc_passwd.cast");
        assert_eq!(file_name("a/b"), "a_b.cast");
        assert_eq!(file_name(".."), "_.cast");
        assert_eq!(file_name(""), "_.cast");
    }
}
