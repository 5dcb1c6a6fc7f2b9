use super::*;
use proptest::prelude::*;
use serde_json::json;

#[test]
fn merge_patch_rfc7386_examples() {
    let t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
    let p = json!({"a": "z", "c": {"f": null}});
    assert_eq!(merge_patch(&t, &p), json!({"a": "z", "c": {"d": "e"}}));
    assert_eq!(
        merge_patch(&json!({"a": [1, 2]}), &json!({"a": [3]})),
        json!({"a": [3]})
    );
    assert_eq!(merge_patch(&json!({"a": 1}), &json!("x")), json!("x"));
}

#[test]
fn json_patch_ops() {
    let t = json!({"metadata": {"labels": {"a": "1"}}, "list": [1, 2, 3]});
    let ops = json!([
        {"op": "add", "path": "/metadata/labels/b", "value": "2"},
        {"op": "remove", "path": "/metadata/labels/a"},
        {"op": "replace", "path": "/list/0", "value": 9},
        {"op": "add", "path": "/list/-", "value": 4},
        {"op": "move", "from": "/list/1", "path": "/moved"},
        {"op": "copy", "from": "/moved", "path": "/copied"},
        {"op": "test", "path": "/copied", "value": 2}
    ]);
    assert_eq!(
        json_patch(&t, &ops).unwrap(),
        json!({"metadata": {"labels": {"b": "2"}}, "list": [9, 3, 4], "moved": 2, "copied": 2})
    );
    assert!(json_patch(&t, &json!([{"op": "remove", "path": "/nope"}])).is_err());
    assert!(json_patch(&t, &json!([{"op": "test", "path": "/list/0", "value": 7}])).is_err());
    assert!(json_patch(
        &t,
        &json!([{"op": "replace", "path": "/list/9", "value": 7}])
    )
    .is_err());
    assert!(json_patch(&t, &json!({"op": "add"})).is_err());
    // ~1 escapes a slash in a key.
    let r = json_patch(
        &json!({"m": {}}),
        &json!([{"op": "add", "path": "/m/a~1b", "value": 1}]),
    )
    .unwrap();
    assert_eq!(r, json!({"m": {"a/b": 1}}));
}

#[test]
fn strategic_merges_containers_by_name() {
    let t = json!({"spec": {"containers": [
        {"name": "main", "image": "busybox"},
        {"name": "side", "image": "nginx"}
    ]}});
    let p = json!({"spec": {
        "$setElementOrder/containers": [{"name": "main"}, {"name": "side"}],
        "containers": [{"name": "side", "image": "nginx:2"}]
    }});
    let r = strategic_merge_patch(&t, &p).unwrap();
    assert_eq!(
        r,
        json!({"spec": {"containers": [
            {"name": "main", "image": "busybox"},
            {"name": "side", "image": "nginx:2"}
        ]}})
    );
    let del = json!({"spec": {"containers": [{"name": "main", "$patch": "delete"}]}});
    let r = strategic_merge_patch(&t, &del).unwrap();
    assert_eq!(r["spec"]["containers"].as_array().unwrap().len(), 1);
    assert_eq!(r["spec"]["containers"][0]["name"], "side");
}

#[test]
fn strategic_replaces_unkeyed_lists_and_handles_directives() {
    let t = json!({"args": ["a", "b"], "m": {"x": 1, "y": 2}, "fin": ["p", "q"]});
    let p = json!({"args": ["c"], "m": {"$patch": "replace", "z": 3},
                   "$deleteFromPrimitiveList/fin": ["p"]});
    let r = strategic_merge_patch(&t, &p).unwrap();
    assert_eq!(r, json!({"args": ["c"], "m": {"z": 3}, "fin": ["q"]}));
    let r = strategic_merge_patch(
        &json!({"a": 1, "b": 2}),
        &json!({"$retainKeys": ["a"], "a": 5}),
    )
    .unwrap();
    assert_eq!(r, json!({"a": 5}));
}

#[test]
fn content_types() {
    assert_eq!(
        PatchType::from_content_type("application/strategic-merge-patch+json; charset=utf-8"),
        Some(PatchType::Strategic)
    );
    assert_eq!(PatchType::from_content_type("text/plain"), None);
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        "[a-z]{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z/~]{1,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn patchers_never_panic(t in arb_json(), p in arb_json()) {
        let _ = merge_patch(&t, &p);
        let _ = json_patch(&t, &p);
        let _ = strategic_merge_patch(&t, &p);
    }

    #[test]
    fn merge_patch_with_self_is_identity_for_objects(t in arb_json()) {
        if let Value::Object(_) = &t {
            // Nulls inside t would delete keys; strip them by a round trip first.
            let clean = merge_patch(&json!({}), &t);
            prop_assert_eq!(merge_patch(&clean, &clean), clean);
        }
    }
}
