//! kac: the user-side agent of KAC. This file is only the command-line
//! dispatcher; each subcommand lives in its own module (`policy_cmd` for
//! `kac policy …`; the lead adds login, credentials, clusters and demo).
//!
//! Must not touch: policy semantics (kac-policy), proxy behaviour.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod demo;
mod kubeconfig;
mod policy_cmd;

/// KAC — Kubernetes Access Control: the user agent.
#[derive(Parser, Debug)]
#[command(name = "kac", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check, explain and test KAC policies.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    /// Run the demo: two simulated clusters behind kac-proxy.
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Policy(cmd) => policy_cmd::run(cmd),
        Command::Demo(args) => match demo::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kac demo: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}
