//! Safe file updates: client-go's kubeconfig lock, an advisory lock for
//! kac's own files, and atomic replacement.
//!
//! Why two kinds of lock: kubectl (client-go `lockFile`) excludes writers of
//! a kubeconfig by creating `FILE.lock` with O_EXCL and removing it after
//! the write; kac uses exactly that so `kac login` and `kubectl config …`
//! never interleave. Its weakness is that a crashed writer leaves the lock
//! behind, so we wait a bounded time and then name the file to remove. For
//! the credential cache, which many `kac credentials` processes (one per
//! kubectl run) share, we use `flock`: the kernel drops it when a process
//! dies, so a killed kubectl never wedges the others.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// `FILE.lock`, held while kac rewrites a kubeconfig; removed on drop.
#[derive(Debug)]
pub struct KubeconfigLock {
    path: PathBuf,
}

impl KubeconfigLock {
    /// The lock file client-go uses for `kubeconfig`.
    pub fn path_for(kubeconfig: &Path) -> PathBuf {
        let mut p = kubeconfig.as_os_str().to_owned();
        p.push(".lock");
        PathBuf::from(p)
    }

    /// Create `FILE.lock` exclusively, retrying until `timeout`.
    pub fn acquire(kubeconfig: &Path, timeout: Duration) -> Result<KubeconfigLock> {
        let path = Self::path_for(kubeconfig);
        let deadline = Instant::now() + timeout;
        loop {
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(_) => return Ok(KubeconfigLock { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if Instant::now() >= deadline {
                        bail!(
                            "the kubeconfig is locked by {} (another kac or kubectl is writing it); \
                             waited {} s. If no such process is running, remove {}",
                            path.display(),
                            timeout.as_secs(),
                            path.display()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(20 + rand::random::<u64>() % 30));
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("creating lock file {}", path.display()))
                }
            }
        }
    }
}

impl Drop for KubeconfigLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// An exclusive `flock` on a file, released on drop or when the process dies.
#[derive(Debug)]
pub struct FileLock {
    _file: nix::fcntl::Flock<File>,
}

impl FileLock {
    pub fn acquire(path: &Path, timeout: Duration) -> Result<FileLock> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        let deadline = Instant::now() + timeout;
        loop {
            match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
                Ok(l) => return Ok(FileLock { _file: l }),
                Err((f, nix::errno::Errno::EWOULDBLOCK)) => {
                    if Instant::now() >= deadline {
                        bail!(
                            "{} is locked by another kac process for more than {} s",
                            path.display(),
                            timeout.as_secs()
                        );
                    }
                    file = f;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err((_, e)) => bail!("locking {}: {e}", path.display()),
            }
        }
    }
}

/// Replace `path` with `data` atomically: write a temporary file in the same
/// directory, fsync it, rename it over the target, fsync the directory. A
/// reader (kubectl) sees the old or the new file, never a half-written one.
/// The existing file's mode is kept; a new file gets `new_mode`. A symlink
/// is followed, so the file it points to is replaced, not the link.
pub fn atomic_write(path: &Path, data: &[u8], new_mode: u32) -> Result<()> {
    let target = match std::fs::canonicalize(path) {
        Ok(p) => p,
        Err(_) => path.to_path_buf(),
    };
    let mode = std::fs::metadata(&target)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(new_mode);
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.kac-{}-{:08x}.tmp",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| -> Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        // The umask may have narrowed the mode: set it exactly.
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
            .with_context(|| format!("replacing {}", target.display()))?;
        File::open(&dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_lock_excludes_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let kc = dir.path().join("config");
        let held = KubeconfigLock::acquire(&kc, Duration::from_secs(1)).unwrap();
        assert!(dir.path().join("config.lock").exists());
        let e = KubeconfigLock::acquire(&kc, Duration::from_millis(100)).unwrap_err();
        assert!(e.to_string().contains("config.lock"), "{e}");
        drop(held);
        assert!(!dir.path().join("config.lock").exists());
        KubeconfigLock::acquire(&kc, Duration::from_millis(100)).unwrap();
    }

    #[test]
    fn flock_excludes_other_holders() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let held = FileLock::acquire(&p, Duration::from_secs(1)).unwrap();
        let e = FileLock::acquire(&p, Duration::from_millis(50)).unwrap_err();
        assert!(e.to_string().contains("x.lock"));
        drop(held);
        FileLock::acquire(&p, Duration::from_millis(50)).unwrap();
    }

    #[test]
    fn atomic_write_keeps_the_mode_and_follows_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::write(&real, "old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        atomic_write(&link, b"new", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let fresh = dir.path().join("sub/fresh");
        atomic_write(&fresh, b"x", 0o600).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 3, "no temporary files left behind");
    }
}
