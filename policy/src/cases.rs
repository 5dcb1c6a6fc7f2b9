//! Policy test suites (`kind: PolicyTestSuite`), run by `kac policy test`
//! and by `cargo test`, in the spirit of `opa test`: each case is a request
//! and the decision it must get.
//!
//! ```yaml
//! apiVersion: kac.dev/v1alpha1
//! kind: PolicyTestSuite
//! policies: ["."]            # files/dirs relative to this file (default: its dir)
//! users:    {andrew: {groups: [], attributes: {team: platform}}}
//! clusters: {dev: {tags: {ClusterType: dev}}}
//! cases:
//! - name: andrew cannot exec into nginx
//!   user: andrew
//!   cluster: dev
//!   request: exec pods/nginx-1 -n default
//!   expect: {decision: deny, policy: andrew, rule: no-nginx, reason: explicit-deny}
//! ```

use crate::decide::{ClusterContext, Decision, UserContext};
use crate::error::LoadError;
use crate::model::PolicySet;
use crate::reqspec::parse_request;
use crate::scope::ListScope;
use crate::spec::{API_VERSION, KIND_TEST_SUITE};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A test-suite document.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TestSuite {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub users: BTreeMap<String, UserFixture>,
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterFixture>,
    pub cases: Vec<TestCase>,
}

/// A user's groups and attributes; users not listed have neither.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserFixture {
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// A cluster's tags; clusters not listed have none.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFixture {
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// One case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    pub user: String,
    pub cluster: String,
    /// Short request notation, e.g. `get pods/web-1 -n default`.
    pub request: String,
    pub expect: Expectation,
}

/// `allow` or `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expected {
    Allow,
    Deny,
}

/// A rule by index or by name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum RuleSelector {
    Index(usize),
    Name(String),
}

/// The expected subjects of an allow.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedSubjects {
    pub user: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// `all`, `none` or `filter` (see [`ListScope`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpectedScope {
    All,
    None,
    Filter,
}

/// What a case expects; only the fields given are checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Expectation {
    pub decision: Expected,
    #[serde(default)]
    pub policy: Option<String>,
    #[serde(default)]
    pub rule: Option<RuleSelector>,
    /// A [`crate::DenyReason::as_str`] value.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub subjects: Option<ExpectedSubjects>,
    #[serde(default)]
    pub require_recording: Option<bool>,
    #[serde(default)]
    pub filtered: Option<bool>,
    /// For list/watch: the list scope.
    #[serde(default)]
    pub scope: Option<ExpectedScope>,
    /// For list/watch: objects (`namespace/name`, or `name` if cluster-scoped)
    /// that must be visible / hidden.
    #[serde(default)]
    pub visible: Vec<String>,
    #[serde(default)]
    pub hidden: Vec<String>,
}

/// Why a suite could not run.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Parse {
        file: String,
        line: usize,
        message: String,
    },
    #[error("policies of suite {}: {source}", suite.display())]
    Policies { suite: PathBuf, source: LoadError },
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    /// The decision, printed.
    pub got: String,
    /// Empty when the case passed.
    pub failures: Vec<String>,
}

/// The results of a suite.
#[derive(Debug, Clone)]
pub struct SuiteReport {
    pub suite: PathBuf,
    pub results: Vec<CaseResult>,
}

impl SuiteReport {
    pub fn passed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.failures.is_empty())
            .count()
    }
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }
    pub fn ok(&self) -> bool {
        self.failed() == 0
    }
}

impl fmt::Display for SuiteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}:", self.suite.display())?;
        for r in &self.results {
            if r.failures.is_empty() {
                writeln!(f, "  PASS {}", r.name)?;
            } else {
                writeln!(f, "  FAIL {}\n       got: {}", r.name, r.got)?;
                for why in &r.failures {
                    writeln!(f, "       - {why}")?;
                }
            }
        }
        writeln!(f, "{} passed, {} failed", self.passed(), self.failed())
    }
}

impl TestSuite {
    /// Parses a suite from YAML text (`file` names it in errors).
    pub fn parse(file: &str, text: &str) -> Result<TestSuite, SuiteError> {
        let suite: TestSuite = serde_yaml::from_str(text).map_err(|e| SuiteError::Parse {
            file: file.to_string(),
            line: e.location().map_or(1, |l| l.line()),
            message: {
                let mut m = e.to_string();
                if let Some(i) = m.rfind(" at line ") {
                    m.truncate(i);
                }
                m
            },
        })?;
        let bad = |message: String| SuiteError::Parse {
            file: file.to_string(),
            line: 1,
            message,
        };
        if suite.api_version != API_VERSION {
            return Err(bad(format!(
                "unsupported apiVersion {:?}",
                suite.api_version
            )));
        }
        if suite.kind != KIND_TEST_SUITE {
            return Err(bad(format!(
                "kind must be {KIND_TEST_SUITE:?}, not {:?}",
                suite.kind
            )));
        }
        Ok(suite)
    }

    /// The user context of a case.
    pub fn user(&self, name: &str) -> UserContext {
        let fx = self.users.get(name).cloned().unwrap_or_default();
        UserContext {
            name: name.to_string(),
            groups: fx.groups,
            attributes: fx.attributes,
        }
    }

    /// The cluster context of a case.
    pub fn cluster(&self, name: &str) -> ClusterContext {
        let fx = self.clusters.get(name).cloned().unwrap_or_default();
        ClusterContext {
            name: name.to_string(),
            tags: fx.tags,
        }
    }

    /// Runs every case against `set`.
    pub fn run(&self, set: &PolicySet) -> Vec<CaseResult> {
        self.cases.iter().map(|c| self.run_case(set, c)).collect()
    }

    fn run_case(&self, set: &PolicySet, case: &TestCase) -> CaseResult {
        let mut failures = Vec::new();
        let req = match parse_request(&case.request) {
            Ok(r) => r,
            Err(e) => {
                return CaseResult {
                    name: case.name.clone(),
                    got: "-".into(),
                    failures: vec![format!("bad request {:?}: {e}", case.request)],
                }
            }
        };
        let user = self.user(&case.user);
        let cluster = self.cluster(&case.cluster);
        let decision = set.decide(&user, &cluster, &req);
        let exp = &case.expect;
        check_decision(&decision, exp, &mut failures);
        let wants_scope = exp.scope.is_some() || !exp.visible.is_empty() || !exp.hidden.is_empty();
        if wants_scope {
            let scope = set.list_scope(
                &user,
                &cluster,
                &req.verb,
                &req.api_group,
                &req.resource,
                req.namespace.as_deref(),
            );
            check_scope(&scope, exp, &mut failures);
        }
        CaseResult {
            name: case.name.clone(),
            got: decision.to_string(),
            failures,
        }
    }
}

fn check_decision(d: &Decision, exp: &Expectation, failures: &mut Vec<String>) {
    let (policy, rule) = match d {
        Decision::Allow { policy, rule, .. } => (Some(policy), Some(rule)),
        Decision::Deny { policy, rule, .. } => (policy.as_ref(), rule.as_ref()),
    };
    let is_allow = d.is_allow();
    if is_allow != (exp.decision == Expected::Allow) {
        failures.push(format!("expected {:?}", exp.decision).to_lowercase());
    }
    if let Some(want) = &exp.policy {
        if policy.map(|p| &**p) != Some(want.as_str()) {
            failures.push(format!(
                "expected policy {want:?}, got {:?}",
                policy.map(|p| &**p)
            ));
        }
    }
    if let Some(want) = &exp.rule {
        let hit = rule.is_some_and(|r| match want {
            RuleSelector::Index(i) => r.index == *i,
            RuleSelector::Name(n) => r.name.as_deref() == Some(n.as_str()),
        });
        if !hit {
            failures.push(format!(
                "expected rule {want:?}, got {}",
                rule.map_or("none".into(), |r| r.to_string())
            ));
        }
    }
    match d {
        Decision::Deny { reason, .. } => {
            if let Some(want) = &exp.reason {
                if reason.as_str() != want {
                    failures.push(format!(
                        "expected reason {want:?}, got {:?}",
                        reason.as_str()
                    ));
                }
            }
        }
        Decision::Allow {
            subjects,
            require_recording,
            filtered,
            ..
        } => {
            if let Some(want) = &exp.subjects {
                if subjects.user != want.user || subjects.groups != want.groups {
                    failures.push(format!(
                        "expected subjects {} [{}], got {} [{}]",
                        want.user,
                        want.groups.join(", "),
                        subjects.user,
                        subjects.groups.join(", ")
                    ));
                }
            }
            if let Some(want) = exp.require_recording {
                if *require_recording != want {
                    failures.push(format!("expected requireRecording {want}"));
                }
            }
            if let Some(want) = exp.filtered {
                if *filtered != want {
                    failures.push(format!("expected filtered {want}"));
                }
            }
        }
    }
}

fn split_object(obj: &str) -> (Option<&str>, &str) {
    match obj.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, obj),
    }
}

fn check_scope(scope: &ListScope, exp: &Expectation, failures: &mut Vec<String>) {
    let got = match scope {
        ListScope::All => ExpectedScope::All,
        ListScope::None => ExpectedScope::None,
        ListScope::Filter(_) => ExpectedScope::Filter,
    };
    if let Some(want) = exp.scope {
        if want != got {
            failures.push(format!("expected list scope {want:?}, got {got:?}"));
        }
    }
    let visible = |obj: &str| {
        let (ns, name) = split_object(obj);
        match scope {
            ListScope::All => true,
            ListScope::None => false,
            ListScope::Filter(f) => f.visible(ns, name),
        }
    };
    for o in &exp.visible {
        if !visible(o) {
            failures.push(format!("expected {o} visible, it is hidden"));
        }
    }
    for o in &exp.hidden {
        if visible(o) {
            failures.push(format!("expected {o} hidden, it is visible"));
        }
    }
}

/// Loads a suite file and its policies and runs every case.
pub fn run_suite(path: &Path) -> Result<SuiteReport, SuiteError> {
    let text = std::fs::read_to_string(path).map_err(|source| SuiteError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let suite = TestSuite::parse(&path.display().to_string(), &text)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let paths: Vec<PathBuf> = if suite.policies.is_empty() {
        vec![dir.to_path_buf()]
    } else {
        suite.policies.iter().map(|p| dir.join(p)).collect()
    };
    let set = PolicySet::load(&paths).map_err(|source| SuiteError::Policies {
        suite: path.to_path_buf(),
        source,
    })?;
    Ok(SuiteReport {
        suite: path.to_path_buf(),
        results: suite.run(&set),
    })
}
