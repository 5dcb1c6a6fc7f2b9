//! kac: the user-side agent of KAC. This file is only the command-line
//! dispatcher; each subcommand lives in its own module (`policy_cmd` for
//! `kac policy …`, `demo`; login, logout, credentials and clusters live in
//! the kac-agent library).
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
    /// Log in to a kac-proxy and add a kubeconfig context per cluster you may use.
    Login(kac_agent::login::LoginArgs),
    /// Remove kac's kubeconfig entries and cached credentials.
    Logout(kac_agent::login::LogoutArgs),
    /// List the clusters you may use, with their tags.
    Clusters(kac_agent::credentials::ClustersArgs),
    /// The kubectl credential plugin (prints an ExecCredential).
    Credentials(kac_agent::credentials::CredentialsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Policy(cmd) => policy_cmd::run(cmd),
        Command::Demo(args) => report("demo", demo::run(args)),
        Command::Login(args) => report("login", kac_agent::login::login(args)),
        Command::Logout(args) => report("logout", kac_agent::login::logout(args)),
        Command::Clusters(args) => report("clusters", kac_agent::credentials::clusters(args)),
        Command::Credentials(args) => {
            report("credentials", kac_agent::credentials::credentials(args))
        }
    }
}

fn report(what: &str, r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kac {what}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
