//! `kac-audit`: search, inspect, verify, export and maintain the KAC audit
//! store. This crate owns only the command line: reading, writing and
//! verifying the log belong to `kac-store`; rendering sessions to asciicast
//! belongs to `kac-player`. It must not reach into the store's files itself.
//! The CLI is a thin shell over `kac_store`; see `cli/`.

mod cli;

/// mimalloc: the store builds events on one thread and frees them on its
/// writer and indexer threads, which glibc malloc handles slowly.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(cli::main());
}
