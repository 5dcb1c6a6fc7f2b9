//! Safe edits of the clusters file: an exclusive lock around each
//! read-modify-write (two `kac-proxy clusters …` runs never lose each
//! other's changes), and atomic replacement (the running proxy, which
//! re-reads the file when it changes, never sees half a file).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::clusters::{read_clusters_file, ClustersFile, Registry};
use crate::config::ClusterConfig;

/// Held while the clusters file is being edited (`FILE.lock`, flock).
pub struct Locked {
    pub path: PathBuf,
    pub file: ClustersFile,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl Locked {
    /// Lock the clusters file (waiting for another editor) and read it; a
    /// missing file is an empty one.
    pub fn open(path: &Path) -> Result<Locked> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let lock_path = path.with_extension("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .with_context(|| format!("opening {}", lock_path.display()))?;
        let lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| anyhow::anyhow!("locking {}: {e}", lock_path.display()))?;
        let file = read_clusters_file(path)?;
        Ok(Locked {
            path: path.to_owned(),
            file,
            _lock: lock,
        })
    }

    /// Write the edited file atomically, after checking that the proxy
    /// would load it (with the config's inline clusters): a file the
    /// running proxy would reject never replaces a good one.
    pub fn save_checked(&self, inline: &[ClusterConfig]) -> Result<()> {
        let mut text = String::from(
            "# Written by `kac-proxy clusters import|tag|sync`; re-read by kac-proxy on change.\n",
        );
        text.push_str(&serde_yaml::to_string(&self.file).context("serializing the clusters file")?);
        let check = self.base().join(format!(
            ".{}.check.{}",
            self.path.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id()
        ));
        write_atomic(&check, text.as_bytes(), 0o644)?;
        let loaded = Registry::open(inline.to_vec(), Some(check.clone()));
        let _ = std::fs::remove_file(&check);
        loaded.context("the new clusters file would not load; nothing changed")?;
        write_atomic(&self.path, text.as_bytes(), 0o644)
    }

    /// The directory relative paths in the file are resolved against.
    pub fn base(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

/// Write `bytes` to `path` through a temporary file in the same directory,
/// fsync and rename, with `mode` (0600 for secrets).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    drop(f);
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
