//! Hot reload: a valid new set replaces the old one whole; a broken one
//! keeps the old set; poll_changes notices edits, additions and removals.

use kac_policy::*;
use std::path::Path;

const DOC: &str = "apiVersion: kac.dev/v1alpha1
kind: Policy
metadata:
  name: NAME
spec:
  assignTo: {users: [u]}
  resources: {clusters: [\"*\"]}
  subjects: {groups: [g]}
  actions:
  - {effect: allow, resources: [RES], verbs: [get]}
";

fn write(dir: &Path, file: &str, name: &str, res: &str) {
    let text = DOC.replace("NAME", name).replace("RES", res);
    std::fs::write(dir.join(file), text).unwrap();
}

fn can_get(store: &PolicyStore, res: &str) -> bool {
    let u = UserContext {
        name: "u".into(),
        ..Default::default()
    };
    let c = ClusterContext {
        name: "c".into(),
        ..Default::default()
    };
    let r = parse_request(&format!("get {res}/x -n ns")).unwrap();
    store.current().decide(&u, &c, &r).is_allow()
}

/// mtime granularity can be coarse; make each edit visibly different in size
/// or wait it out.
fn touch_later() {
    std::thread::sleep(std::time::Duration::from_millis(20));
}

#[test]
fn reload_swaps_valid_sets_and_keeps_the_old_one_on_error() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", "a", "pods");
    let store = PolicyStore::open(&[dir.path()]).unwrap();
    assert!(can_get(&store, "pods"));
    assert!(!can_get(&store, "secrets"));
    assert!(store.poll_changes().is_none(), "nothing changed yet");

    // A request in flight keeps the set it started with; a live handle
    // (held by a watch) sees each reload, and a decision on the new set
    // gets a fresh applicable-policy memo (the old set's dies with it).
    let in_flight = store.current();
    let live = store.live();
    assert!(std::sync::Arc::ptr_eq(&live.current(), &in_flight));

    touch_later();
    write(dir.path(), "a.yaml", "a", "secrets");
    let report = store
        .poll_changes()
        .expect("change noticed")
        .expect("valid set");
    assert_eq!((report.policies, report.rules), (1, 1));
    assert!(can_get(&store, "secrets"));
    assert!(!can_get(&store, "pods"));
    assert_eq!(in_flight.rule_count(), 1);
    assert!(!std::sync::Arc::ptr_eq(&live.current(), &in_flight));
    assert!(std::sync::Arc::ptr_eq(&live.current(), &store.current()));

    // Add a second file with a broken rule: the whole new set is refused,
    // including the valid file, and the old set stays.
    touch_later();
    write(dir.path(), "b.yaml", "b", "services");
    std::fs::write(
        dir.path().join("c.yaml"),
        DOC.replace("NAME", "c").replace("RES", "Pod"),
    )
    .unwrap();
    let err = store.poll_changes().expect("change noticed").unwrap_err();
    assert!(
        err.to_string()
            .contains("c.yaml:10: spec.actions[0].resources[0]"),
        "{err}"
    );
    assert!(can_get(&store, "secrets"));
    assert!(!can_get(&store, "services"), "never partly applied");
    assert!(
        store.poll_changes().is_none(),
        "the failed version is not retried until it changes"
    );

    // Fix it; SIGHUP-style reload picks up everything.
    std::fs::remove_file(dir.path().join("c.yaml")).unwrap();
    let report = store.reload().unwrap();
    assert_eq!(report.policies, 2);
    assert!(can_get(&store, "services"));
}

#[test]
fn open_fails_on_an_invalid_initial_set() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.yaml"), "kind: Policy\n").unwrap();
    assert!(PolicyStore::open(&[dir.path()]).is_err());
}
