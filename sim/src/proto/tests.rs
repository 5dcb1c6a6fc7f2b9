use super::*;

fn ld(field: u64, data: &[u8]) -> Vec<u8> {
    let mut out = vec![(field << 3 | 2) as u8];
    let mut n = data.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend_from_slice(data);
    out
}

fn entry(k: &str, v: &[u8]) -> Vec<u8> {
    [ld(1, k.as_bytes()), ld(2, v)].concat()
}

fn envelope(kind: &str, raw: &[u8]) -> Vec<u8> {
    let tm = [ld(1, b"v1"), ld(2, kind.as_bytes())].concat();
    [
        b"k8s\0".to_vec(),
        ld(1, &tm),
        ld(2, raw),
        ld(4, b"application/vnd.kubernetes.protobuf"),
    ]
    .concat()
}

#[test]
fn decodes_configmap() {
    let meta = [ld(1, b"cm1"), ld(3, b"david"), ld(11, &entry("app", b"x"))].concat();
    let raw = [
        ld(1, &meta),
        ld(2, &entry("k", b"v")),
        ld(3, &entry("b", b"\x00\x01")),
    ]
    .concat();
    let v = decode(&envelope("ConfigMap", &raw)).unwrap();
    assert_eq!(
        v,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "cm1", "namespace": "david", "labels": {"app": "x"}},
               "data": {"k": "v"}, "binaryData": {"b": "AAE="}})
    );
}

#[test]
fn decodes_secret_and_namespace() {
    let raw = [
        ld(1, &ld(1, b"s")),
        ld(2, &entry("password", b"pw")),
        ld(3, b"Opaque"),
    ]
    .concat();
    let v = decode(&envelope("Secret", &raw)).unwrap();
    assert_eq!(v["data"]["password"], "cHc=");
    assert_eq!(v["type"], "Opaque");
    let v = decode(&envelope("Namespace", &ld(1, &ld(1, b"team")))).unwrap();
    assert_eq!(v["metadata"]["name"], "team");
}

#[test]
fn rejects_other_kinds_and_garbage() {
    assert!(decode(&envelope("Pod", &[]))
        .unwrap_err()
        .contains("not supported"));
    assert!(decode(b"nope").is_err());
    assert!(decode(b"k8s\0\x0a\xff").is_err());
    assert!(decode(b"k8s\0\x0f").is_err());
}

proptest::proptest! {
    #[test]
    fn never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128)) {
        let mut b = b"k8s\0".to_vec();
        b.extend_from_slice(&data);
        let _ = decode(&b);
        let _ = decode(&data);
    }
}
