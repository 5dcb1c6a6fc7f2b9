//! Hot reload: a [`PolicyStore`] holds the current set as an `Arc` swapped
//! whole under a lock held only for the pointer copy. A reload builds a whole new set first and swaps it in only if it
//! validates, so requests see either the old set or the new one, never a mix,
//! and a broken edit keeps the old set running.
//!
//! No threads or async runtime here: the proxy calls [`PolicyStore::reload`]
//! on SIGHUP and [`PolicyStore::poll_changes`] from its own timer.

use crate::error::LoadError;
use crate::load::expand_paths;
use crate::model::PolicySet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// What a successful reload loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    pub files: Vec<PathBuf>,
    pub policies: usize,
    pub rules: usize,
}

/// Modification times and sizes of the watched files, and the directory
/// listings (so an added or removed file counts as a change).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Fingerprint(Vec<(PathBuf, Option<(SystemTime, u64)>)>);

fn fingerprint(paths: &[PathBuf]) -> Fingerprint {
    let files = expand_paths(paths).unwrap_or_else(|_| paths.to_vec());
    Fingerprint(
        files
            .into_iter()
            .map(|f| {
                let meta = std::fs::metadata(&f)
                    .ok()
                    .and_then(|m| Some((m.modified().ok()?, m.len())));
                (f, meta)
            })
            .collect(),
    )
}

/// The live policy set of a running proxy.
pub struct PolicyStore {
    paths: Vec<PathBuf>,
    /// Swapped whole on reload; readers clone the `Arc` and drop the lock
    /// at once, so a reload never waits on a request. Shared with
    /// [`LiveSet`] handles.
    current: Arc<RwLock<Arc<PolicySet>>>,
    seen: Mutex<Fingerprint>,
}

impl PolicyStore {
    /// Loads the initial set; fails if it does not validate.
    pub fn open<P: AsRef<Path>>(paths: &[P]) -> Result<PolicyStore, LoadError> {
        let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let seen = fingerprint(&paths);
        let set = PolicySet::load(&paths)?;
        Ok(PolicyStore {
            paths,
            current: Arc::new(RwLock::new(Arc::new(set))),
            seen: Mutex::new(seen),
        })
    }

    /// A store serving a fixed set (tests, embedded use); reloads re-read `paths`.
    pub fn from_set<P: AsRef<Path>>(set: PolicySet, paths: &[P]) -> PolicyStore {
        let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        PolicyStore {
            seen: Mutex::new(fingerprint(&paths)),
            paths,
            current: Arc::new(RwLock::new(Arc::new(set))),
        }
    }

    /// The set to use for a new request. Hold the `Arc` for the request's
    /// lifetime: a reload does not change it under you.
    pub fn current(&self) -> Arc<PolicySet> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// A handle that follows reloads and can outlive a borrow of the
    /// store: a long-running response (a watch) holds one to re-check what
    /// it may show when the set changes.
    pub fn live(&self) -> LiveSet {
        LiveSet(Arc::clone(&self.current))
    }

    /// The watched paths.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Re-reads every file now (SIGHUP). On error the old set stays and the
    /// error is logged and returned.
    pub fn reload(&self) -> Result<ReloadReport, LoadError> {
        let fp = fingerprint(&self.paths);
        let result = PolicySet::load(&self.paths);
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = fp;
        match result {
            Ok(set) => {
                let report = ReloadReport {
                    files: set.files().to_vec(),
                    policies: set.len(),
                    rules: set.rule_count(),
                };
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
                tracing::info!(
                    policies = report.policies,
                    rules = report.rules,
                    "policy set reloaded"
                );
                Ok(report)
            }
            Err(e) => {
                tracing::warn!(error = %e, "policy reload failed; keeping the previous policy set");
                Err(e)
            }
        }
    }

    /// Reloads if any watched file changed (mtime or size), was added or was
    /// removed since the last load; `None` when nothing changed. Call it
    /// every second or so from a timer.
    pub fn poll_changes(&self) -> Option<Result<ReloadReport, LoadError>> {
        let fp = fingerprint(&self.paths);
        {
            let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if *seen == fp {
                return None;
            }
        }
        Some(self.reload())
    }
}

/// The current set of a [`PolicyStore`], read on demand (see
/// [`PolicyStore::live`]). Compare the returned `Arc` with one held before
/// (`Arc::ptr_eq`) to learn whether a reload happened.
#[derive(Clone)]
pub struct LiveSet(Arc<RwLock<Arc<PolicySet>>>);

impl LiveSet {
    /// The set in force now.
    pub fn current(&self) -> Arc<PolicySet> {
        Arc::clone(&self.0.read().unwrap_or_else(|e| e.into_inner()))
    }
}

impl std::fmt::Debug for LiveSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveSet")
    }
}
