//! Runs the sample policies' own test cases (samples/policies/cases.yaml),
//! the same suite `kac policy test` runs.

use kac_policy::cases::run_suite;
use std::path::Path;

fn samples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/policies")
}

#[test]
fn sample_cases_pass() {
    let report = run_suite(&samples().join("cases.yaml")).expect("suite runs");
    assert!(
        report.results.len() >= 30,
        "suite shrank: {}",
        report.results.len()
    );
    assert!(report.ok(), "{report}");
}

#[test]
fn sample_policies_validate() {
    let set = kac_policy::PolicySet::load(&[samples()]).expect("samples load");
    let names: Vec<&str> = set.policy_names().collect();
    assert_eq!(names, ["admin", "andrew", "david", "platform-team", "sam"]);
}

#[test]
fn a_wrong_expectation_fails() {
    // The runner must be able to fail: flip one expectation.
    let text = std::fs::read_to_string(samples().join("cases.yaml")).unwrap();
    let flipped = text.replacen(
        "expect: {decision: deny, policy: david, rule: no-exec-into-nginx",
        "expect: {decision: allow, policy: david, rule: no-exec-into-nginx",
        1,
    );
    assert_ne!(text, flipped);
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(samples()).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    std::fs::write(dir.path().join("cases.yaml"), flipped).unwrap();
    let report = run_suite(&dir.path().join("cases.yaml")).unwrap();
    assert_eq!(report.failed(), 1, "{report}");
    assert!(report
        .to_string()
        .contains("FAIL david may not exec into nginx"));
}
