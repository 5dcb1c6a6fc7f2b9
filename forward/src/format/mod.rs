//! Output formats: pure functions from a KAC [`Event`] to the bytes or JSON
//! value a receiver expects. No I/O here.

pub mod ecs;
pub mod k8s_audit;
pub mod ocsf;

use kac_event::Event;

/// How events are rendered for a receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// KAC's own event JSON, as stored.
    Native,
    /// Kubernetes `audit.k8s.io/v1` `Event` (API events; session events are
    /// mapped as documented in docs/forwarding.md).
    K8sAudit,
    /// Elastic Common Schema.
    Ecs,
    /// OCSF API Activity (class_uid 6003).
    Ocsf,
}

/// Renders one event as a JSON value in `format`, or `None` when the format
/// has no representation for this kind of event.
pub fn render(format: Format, event: &Event) -> Option<serde_json::Value> {
    match format {
        Format::Native => serde_json::to_value(event).ok(),
        // Filled in by the formats work (issue #9).
        Format::K8sAudit | Format::Ecs | Format::Ocsf => None,
    }
}
