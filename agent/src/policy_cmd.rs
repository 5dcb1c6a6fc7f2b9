//! `kac policy check|explain|test`: the policy tools for authors and
//! auditors. Thin wrappers over kac-policy; exit codes follow
//! `kubectl auth can-i`: 0 = allowed / valid / all cases pass, 1 = denied /
//! invalid / a case failed, 2 = usage or I/O error.

use clap::{Args, Subcommand};
use kac_policy::cases::{run_suite, TestSuite};
use kac_policy::{parse_request_args, ClusterContext, PolicySet, UserContext};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Validate policy files (or directories of them); print every error as FILE:LINE: FIELD: MESSAGE.
    Check {
        /// Policy files or directories (their *.yaml / *.yml files).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Decide one request and show every rule that matched or nearly matched.
    ///
    /// Example: kac policy explain --user david --cluster prod delete pods/nginx-1 -n default
    Explain(Box<ExplainArgs>),
    /// Run policy test suites (kind: PolicyTestSuite): each case is a request and its expected decision.
    Test {
        /// Test-suite files, e.g. samples/policies/cases.yaml.
        #[arg(required = true)]
        suites: Vec<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// KAC user name.
    #[arg(long)]
    user: String,
    /// Cluster name.
    #[arg(long)]
    cluster: String,
    /// A KAC group of the user (repeatable; adds to the fixtures).
    #[arg(long = "group", value_name = "GROUP")]
    groups: Vec<String>,
    /// A user attribute KEY=VALUE (repeatable; overrides the fixtures).
    #[arg(long = "attr", value_name = "KEY=VALUE", value_parser = key_value)]
    attributes: Vec<(String, String)>,
    /// A cluster tag KEY=VALUE (repeatable; overrides the fixtures).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = key_value)]
    tags: Vec<(String, String)>,
    /// Policy files or directories.
    #[arg(
        long = "policies",
        short = 'f',
        env = "KAC_POLICIES",
        default_value = "samples/policies"
    )]
    policies: Vec<PathBuf>,
    /// A PolicyTestSuite file whose users and clusters give groups,
    /// attributes and tags. Default: cases.yaml in the policy directory, if any.
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// Namespace of the request (omit for cluster-scoped or all namespaces).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// The request spans all namespaces (the default when -n is absent).
    #[arg(short = 'A', long = "all-namespaces", conflicts_with = "namespace")]
    all_namespaces: bool,
    /// Verb: a Kubernetes verb or exec, attach, portforward, log, proxy.
    verb: String,
    /// RESOURCE[.GROUP][/NAME[/SUBRESOURCE]] (e.g. pods/nginx-1) or a non-resource path (/version).
    target: String,
}

/// Prints to stdout; a closed pipe (`kac policy explain … | head`) is not an error.
fn emit(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

/// Runs one `kac policy` subcommand.
pub fn run(cmd: PolicyCommand) -> ExitCode {
    match cmd {
        PolicyCommand::Check { files } => check(&files),
        PolicyCommand::Explain(args) => explain(*args),
        PolicyCommand::Test { suites } => test(&suites),
    }
}

fn check(files: &[PathBuf]) -> ExitCode {
    match PolicySet::load(files) {
        Ok(set) => {
            println!(
                "ok: {} policies, {} rules from {} files",
                set.len(),
                set.rule_count(),
                set.files().len()
            );
            ExitCode::SUCCESS
        }
        Err(e @ kac_policy::LoadError::Invalid(_)) => {
            eprintln!("{e}");
            eprintln!("policy set rejected: {} error(s)", e.diagnostics().len());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("kac policy check: {e}");
            ExitCode::from(2)
        }
    }
}

fn default_fixtures(policies: &[PathBuf]) -> Option<PathBuf> {
    policies
        .iter()
        .map(|p| {
            if p.is_dir() {
                p.join("cases.yaml")
            } else {
                p.with_file_name("cases.yaml")
            }
        })
        .find(|p| p.is_file())
}

fn load_fixtures(path: &Path) -> Result<TestSuite, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    TestSuite::parse(&path.display().to_string(), &text).map_err(|e| e.to_string())
}

fn explain(a: ExplainArgs) -> ExitCode {
    let set = match PolicySet::load(&a.policies) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kac policy explain: cannot load policies:\n{e}");
            return ExitCode::from(2);
        }
    };
    let fixtures = match a.fixtures.clone().or_else(|| default_fixtures(&a.policies)) {
        Some(p) => match load_fixtures(&p) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("kac policy explain: fixtures: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let mut user = fixtures
        .as_ref()
        .map(|f| f.user(&a.user))
        .unwrap_or_else(|| UserContext {
            name: a.user.clone(),
            ..Default::default()
        });
    user.groups.extend(a.groups.iter().cloned());
    user.attributes.extend(a.attributes.iter().cloned());
    let mut cluster = fixtures
        .as_ref()
        .map(|f| f.cluster(&a.cluster))
        .unwrap_or_else(|| ClusterContext {
            name: a.cluster.clone(),
            tags: BTreeMap::new(),
        });
    cluster.tags.extend(a.tags.iter().cloned());
    if cluster.tags.is_empty() {
        eprintln!(
            "note: cluster {:?} has no tags (pass --tag KEY=VALUE or --fixtures)",
            a.cluster
        );
    }
    let mut tokens = vec![a.verb.clone(), a.target.clone()];
    if let Some(ns) = &a.namespace {
        tokens.extend(["-n".to_string(), ns.clone()]);
    }
    let req = match parse_request_args(&tokens) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kac policy explain: {e}");
            return ExitCode::from(2);
        }
    };
    let explanation = set.explain(&user, &cluster, &req);
    emit(&explanation.to_string());
    if explanation.decision.is_allow() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn test(suites: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for s in suites {
        match run_suite(s) {
            Ok(report) => {
                emit(&report.to_string());
                failed |= !report.ok();
            }
            Err(e) => {
                eprintln!("kac policy test: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
