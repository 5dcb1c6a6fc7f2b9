//! Output formats: pure functions from a KAC [`Event`] to the JSON value a
//! receiver expects. No I/O here.
//!
//! Not every event has a representation in every format. Session data and
//! resize frames are terminal bytes for the player, not SIEM records, and
//! the Kubernetes audit format only describes API requests. [`render`]
//! returns `None` for those: the forwarder skips the event and still
//! advances its cursor past it (nothing is lost: the event stays in the
//! store, and a `native` forwarder sends everything).
//!
//! | event            | native | k8s-audit | ecs | ocsf |
//! |------------------|--------|-----------|-----|------|
//! | API request      | yes    | yes       | yes | yes (6003) |
//! | session.start    | yes    | no        | yes | yes (6003, activity 99) |
//! | session.command  | yes    | no        | yes | yes (6003, activity 99) |
//! | session.end      | yes    | no        | yes | yes (6003, activity 99) |
//! | session.data     | yes    | no        | no  | no |
//! | session.resize   | yes    | no        | no  | no |

pub mod ecs;
pub mod k8s_audit;
pub mod ocsf;

use chrono::{DateTime, SecondsFormat, Utc};
use kac_event::{ApiEvent, Event, Outcome};

/// How events are rendered for a receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// KAC's own event JSON, as stored.
    Native,
    /// Kubernetes `audit.k8s.io/v1` `Event` (API events only; see the
    /// table above).
    K8sAudit,
    /// Elastic Common Schema 8.x.
    Ecs,
    /// OCSF API Activity (class_uid 6003).
    Ocsf,
}

/// Renders one event as a JSON value in `format`, or `None` when the format
/// has no representation for this kind of event (the forwarder skips it).
pub fn render(format: Format, event: &Event) -> Option<serde_json::Value> {
    match format {
        Format::Native => serde_json::to_value(event).ok(),
        Format::K8sAudit => k8s_audit::render(event),
        Format::Ecs => ecs::render(event),
        Format::Ocsf => ocsf::render(event),
    }
}

/// RFC 3339 with microseconds and `Z`, as Kubernetes' MicroTime.
pub(crate) fn micros(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// When the response completed: request time + duration.
pub(crate) fn end_time(a: &ApiEvent) -> DateTime<Utc> {
    let d = i64::try_from(a.duration_us).unwrap_or(i64::MAX);
    a.time
        .checked_add_signed(chrono::Duration::microseconds(d))
        .unwrap_or(a.time)
}

/// Whether the request was let through and the cluster answered without
/// an error status.
pub(crate) fn succeeded(a: &ApiEvent) -> bool {
    a.decision.outcome == Outcome::Allowed && a.code < 400
}

/// `source_ip` when it is an IP address (receivers type these fields as
/// IPs and reject a document with anything else).
pub(crate) fn source_ip(a: &ApiEvent) -> Option<String> {
    a.source_ip
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| ip.to_string())
}

/// `resource/subresource`, or `resource`.
pub(crate) fn resource_type(a: &ApiEvent) -> String {
    if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    }
}

/// The path of a request URI, without the query.
pub(crate) fn path_of(uri: &str) -> &str {
    uri.split_once('?').map_or(uri, |(p, _)| p)
}

/// One line for people: `david exec pods/exec web/web-1 on prod: allowed (101)`.
pub(crate) fn summary(a: &ApiEvent) -> String {
    let target = if a.non_resource || a.resource.is_empty() {
        path_of(&a.request_uri).to_string()
    } else {
        let object = [a.namespace.as_str(), a.name.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("/");
        format!("{} {object}", resource_type(a))
            .trim_end()
            .to_string()
    };
    format!(
        "{} {} {} on {}: {} ({})",
        a.user.name,
        a.verb,
        target,
        a.cluster,
        a.decision.outcome.as_str(),
        a.code
    )
}

#[cfg(test)]
pub(crate) mod samples;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn native_is_the_stored_json() {
        for ev in samples::all() {
            let v = render(Format::Native, &ev).unwrap();
            let back: Event = serde_json::from_value(v).unwrap();
            assert_eq!(back, ev);
        }
    }

    #[test]
    fn data_and_resize_frames_render_only_natively() {
        for ev in [samples::data(), samples::resize()] {
            assert!(render(Format::Native, &ev).is_some());
            for f in [Format::K8sAudit, Format::Ecs, Format::Ocsf] {
                assert_eq!(render(f, &ev), None, "{f:?}");
            }
        }
    }

    #[test]
    fn format_names_are_kebab_case() {
        let f: Format = serde_json::from_str("\"k8s-audit\"").unwrap();
        assert_eq!(f, Format::K8sAudit);
        for (f, name) in [
            (Format::Native, "native"),
            (Format::Ecs, "ecs"),
            (Format::Ocsf, "ocsf"),
        ] {
            assert_eq!(serde_json::to_value(f).unwrap(), name);
        }
    }

    #[test]
    fn odd_source_addresses_and_durations_do_not_break_helpers() {
        let mut a = samples::api();
        a.source_ip = "not-an-ip".into();
        assert_eq!(source_ip(&a), None);
        a.source_ip = "::1".into();
        assert_eq!(source_ip(&a).as_deref(), Some("::1"));
        a.duration_us = u64::MAX;
        let _ = end_time(&a);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any API event renders in every format without panicking, and the
        /// native rendering round-trips.
        #[test]
        fn any_api_event_renders(a in samples::arb_api()) {
            let ev = Event::Api(Box::new(a));
            for f in [Format::K8sAudit, Format::Ecs, Format::Ocsf] {
                let v = render(f, &ev);
                prop_assert!(v.as_ref().is_some_and(|v| v.is_object()), "{f:?}");
            }
            let back: Event = serde_json::from_value(render(Format::Native, &ev).unwrap()).unwrap();
            prop_assert_eq!(back, ev);
        }

        #[test]
        fn any_session_event_renders_or_is_skipped(ev in samples::arb_session()) {
            for f in [Format::K8sAudit, Format::Ecs, Format::Ocsf] {
                if let Some(v) = render(f, &ev) {
                    prop_assert!(v.is_object());
                }
            }
            let back: Event = serde_json::from_value(render(Format::Native, &ev).unwrap()).unwrap();
            prop_assert_eq!(back, ev);
        }
    }
}
