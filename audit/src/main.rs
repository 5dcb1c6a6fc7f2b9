//! `kac-audit`: search, inspect, verify, export and maintain the KAC audit
//! store. This crate owns only the command line: reading, writing and
//! verifying the log belong to `kac-store`; rendering sessions to asciicast
//! belongs to `kac-player`. It must not reach into the store's files itself.
//! The CLI is a thin shell over `kac_store`; see `cli/`.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
