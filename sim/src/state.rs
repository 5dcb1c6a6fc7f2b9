//! The shared state of a running sim.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::auth::UserInfo;
use crate::rbac::Rbac;
use crate::reqlog::RequestLog;
use crate::store::Store;

/// Everything a request handler may need.
pub struct Sim {
    pub store: Store,
    pub rbac: Rbac,
    /// Bearer token -> user.
    pub tokens: HashMap<String, UserInfo>,
    pub data_dir: PathBuf,
    pub cluster: String,
    pub log: RequestLog,
    /// `host:port` as clients reach the server (legacy discovery reports it).
    pub server_address: String,
    /// Seconds between BOOKMARK events on watches that allow them.
    pub bookmark_interval: std::time::Duration,
    seq: AtomicU64,
}

impl Sim {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        rbac: Rbac,
        tokens: HashMap<String, UserInfo>,
        data_dir: PathBuf,
        cluster: String,
        log: RequestLog,
        server_address: String,
    ) -> Sim {
        Sim {
            store,
            rbac,
            tokens,
            data_dir,
            cluster,
            log,
            server_address,
            bookmark_interval: std::time::Duration::from_secs(5),
            seq: AtomicU64::new(1),
        }
    }

    /// A small increasing number (used to derive pod/service IPs).
    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }
}
