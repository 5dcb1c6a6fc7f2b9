//! `kac-audit`: search, inspect, verify and maintain the KAC audit store.
//! The CLI is a thin shell over `kac_store`; see `cli/`.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
