use super::*;
use hyper::header::HeaderValue;

#[test]
fn transport_classification() {
    let mut h = HeaderMap::new();
    assert_eq!(transport(&h), Transport::Other);
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static("v5.channel.k8s.io, v4.channel.k8s.io"),
    );
    assert_eq!(
        transport(&h),
        Transport::WebSocket(vec!["v5.channel.k8s.io".into(), "v4.channel.k8s.io".into()])
    );
    h.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    assert_eq!(transport(&h), Transport::Spdy);
}

#[test]
fn taps_follow_kind_and_protocol() {
    let mut start = SessionStart {
        kind: SessionKind::Exec,
        ..Default::default()
    };
    assert!(matches!(
        new_tap(&start, "v5.channel.k8s.io", true),
        Ok(Tap::Exec {
            protocol: Protocol::V5,
            ..
        })
    ));
    assert!(new_tap(&start, "chat", true).is_err());
    start.kind = SessionKind::Portforward;
    assert!(matches!(
        new_tap(&start, "SPDY/3.1+portforward.k8s.io", true),
        Ok(Tap::PortForward { .. })
    ));
    assert!(matches!(
        new_tap(&start, "v4.channel.k8s.io", true),
        Ok(Tap::PortForward { .. })
    ));
}

#[test]
fn unrecorded_tap_only_for_exec_and_attach() {
    let mut start = SessionStart {
        kind: SessionKind::Attach,
        ..Default::default()
    };
    assert!(matches!(
        new_tap(&start, "v4.base64.channel.k8s.io", false),
        Ok(Tap::Unrecorded {
            protocol: Protocol::V4Base64,
            bytes: [0, 0, 0],
            ..
        })
    ));
    // Port-forward is never recorded anyway: still counted per port.
    start.kind = SessionKind::Portforward;
    assert!(matches!(
        new_tap(&start, "v4.channel.k8s.io", false),
        Ok(Tap::PortForward { .. })
    ));
}
