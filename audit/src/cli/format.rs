//! Rendering: tables for people, JSON lines for pipes, and audit.k8s.io/v1
//! Events for tools that speak Kubernetes audit (Falco, SIEM parsers).

use std::io::{IsTerminal, Write};

use chrono::{DateTime, SecondsFormat, Utc};
use kac_event::{ApiEvent, Event, SessionEvent};
use serde_json::Value;

use kac_store::SessionSummary;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    #[value(name = "k8s-audit")]
    K8sAudit,
}

/// Table on a terminal, JSON lines when piped, unless asked.
pub fn resolve(f: Option<Format>) -> Format {
    f.unwrap_or_else(|| {
        if std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Json
        }
    })
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One event as audit.k8s.io/v1 `Event` (API events only). The mapping is
/// kac-forward's, so the CLI and the SIEM webhook forwarder agree.
pub fn k8s_audit(a: &ApiEvent) -> Value {
    kac_forward::format::k8s_audit::api_event(a)
}

/// Short one-line description of any event.
pub fn summary(e: &Event) -> [String; 7] {
    match e {
        Event::Api(a) => {
            let target = match (a.namespace.is_empty(), a.name.is_empty()) {
                (true, true) => a.resource.clone(),
                (false, true) => format!("{}/{}", a.namespace, a.resource),
                (true, false) => format!("{}/{}", a.resource, a.name),
                (false, false) => format!("{}/{}/{}", a.namespace, a.resource, a.name),
            };
            let target = if a.non_resource {
                a.request_uri.clone()
            } else {
                target
            };
            [
                ts(a.time),
                a.user.name.clone(),
                a.cluster.clone(),
                a.verb.clone(),
                target,
                format!("{} {}", a.decision.outcome.as_str(), a.code),
                a.id.clone(),
            ]
        }
        Event::Session(s) => {
            let (what, detail) = match s {
                SessionEvent::Start(st) => (
                    "session.start",
                    format!("{}/{} {}", st.namespace, st.pod, st.command.join(" ")),
                ),
                SessionEvent::Command(c) => ("session.command", c.text.clone()),
                SessionEvent::End(e) => ("session.end", end_detail(e)),
                SessionEvent::Data { stream, data, .. } => {
                    ("session.data", format!("{stream:?} {} bytes", data.len()))
                }
                SessionEvent::Resize { width, height, .. } => {
                    ("session.resize", format!("{width}x{height}"))
                }
            };
            let (user, cluster) = match s {
                SessionEvent::Start(st) => (st.user.name.clone(), st.cluster.clone()),
                SessionEvent::End(e) => (e.user.clone(), e.cluster.clone()),
                _ => (String::new(), String::new()),
            };
            [
                ts(s.time()),
                user,
                cluster,
                what.into(),
                detail,
                String::new(),
                s.session_id().to_string(),
            ]
        }
    }
}

/// `exit CODE`, plus per-port byte counts for a port-forward
/// (`port 80: 15 in, 15 out`; in = user to pod).
fn end_detail(e: &kac_event::SessionEnd) -> String {
    let mut s = format!("exit {}", e.exit_code.map_or("-".into(), |c| c.to_string()));
    for p in &e.ports {
        s.push_str(&format!(
            "; port {}: {} in, {} out",
            p.port, p.bytes_in, p.bytes_out
        ));
    }
    s
}

/// Prints rows as an aligned table.
pub fn table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count().min(60));
        }
    }
    let line = |out: &mut dyn Write, cells: Vec<String>| -> std::io::Result<()> {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let c: String = c.chars().take(60).collect();
            if i + 1 == cells.len() {
                s.push_str(&c);
            } else {
                s.push_str(&format!("{c:<width$}  ", width = w[i]));
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(out, header.iter().map(|s| s.to_string()).collect())?;
    for r in rows {
        line(out, r.clone())?;
    }
    Ok(())
}

/// Prints events in the chosen format.
pub fn events(out: &mut dyn Write, evs: &[Event], f: Format) -> std::io::Result<usize> {
    let mut skipped = 0;
    match f {
        Format::Table => {
            let rows: Vec<Vec<String>> = evs.iter().map(|e| summary(e).to_vec()).collect();
            table(
                out,
                &[
                    "TIME", "USER", "CLUSTER", "VERB", "TARGET", "DECISION", "ID",
                ],
                &rows,
            )?;
        }
        Format::Json => {
            for e in evs {
                serde_json::to_writer(&mut *out, e)?;
                writeln!(out)?;
            }
        }
        Format::K8sAudit => {
            for e in evs {
                match e {
                    Event::Api(a) => {
                        serde_json::to_writer(&mut *out, &k8s_audit(a))?;
                        writeln!(out)?;
                    }
                    Event::Session(_) => skipped += 1,
                }
            }
        }
    }
    Ok(skipped)
}

pub fn sessions(out: &mut dyn Write, ss: &[SessionSummary], f: Format) -> std::io::Result<()> {
    match f {
        Format::Json | Format::K8sAudit => {
            for s in ss {
                serde_json::to_writer(&mut *out, s)?;
                writeln!(out)?;
            }
            Ok(())
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = ss
                .iter()
                .map(|s| {
                    vec![
                        s.session_id.clone(),
                        s.user.clone(),
                        s.cluster.clone(),
                        format!("{}/{}", s.namespace, s.pod),
                        s.command.join(" "),
                        ts(s.start),
                        s.duration_ms
                            .map_or("open".into(), |d| format!("{:.1}s", d as f64 / 1000.0)),
                        s.exit_code.map_or("-".into(), |c| c.to_string()),
                    ]
                })
                .collect();
            table(
                out,
                &[
                    "ID",
                    "USER",
                    "CLUSTER",
                    "NAMESPACE/POD",
                    "COMMAND",
                    "START",
                    "DURATION",
                    "EXIT",
                ],
                &rows,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k8s_audit_event_has_the_upstream_shape() {
        let t = DateTime::parse_from_rfc3339("2026-03-01T10:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = ApiEvent {
            id: "0193-abc".into(),
            time: t,
            user: kac_event::UserInfo {
                name: "david".into(),
                groups: vec!["dev".into()],
                ..Default::default()
            },
            source_ip: "10.0.0.1".into(),
            cluster: "prod".into(),
            verb: "exec".into(),
            resource: "pods".into(),
            subresource: "exec".into(),
            namespace: "web".into(),
            name: "web-1".into(),
            api_version: "v1".into(),
            request_uri: "/api/v1/namespaces/web/pods/web-1/exec?command=sh".into(),
            code: 403,
            duration_us: 1500,
            ..Default::default()
        };
        let v = k8s_audit(&a);
        assert_eq!(v["kind"], "Event");
        assert_eq!(v["apiVersion"], "audit.k8s.io/v1");
        assert_eq!(v["stage"], "ResponseComplete");
        assert_eq!(v["auditID"], "0193-abc");
        assert_eq!(v["verb"], "create");
        assert_eq!(v["user"]["username"], "david");
        assert_eq!(v["sourceIPs"][0], "10.0.0.1");
        assert_eq!(v["objectRef"]["subresource"], "exec");
        assert_eq!(v["objectRef"]["namespace"], "web");
        assert!(v["objectRef"].get("apiGroup").is_none());
        assert_eq!(v["responseStatus"]["code"], 403);
        assert_eq!(v["requestReceivedTimestamp"], "2026-03-01T10:00:00.123456Z");
        assert_eq!(v["stageTimestamp"], "2026-03-01T10:00:00.124956Z");
        assert_eq!(v["annotations"]["authorization.k8s.io/decision"], "forbid");
        assert_eq!(v["annotations"]["kac.dev/verb"], "exec");
    }

    #[test]
    fn session_end_row_shows_exit_code_and_port_bytes() {
        let end = kac_event::SessionEnd {
            exit_code: Some(3),
            ports: vec![
                kac_event::PortBytes {
                    port: 80,
                    bytes_in: 15,
                    bytes_out: 20,
                    connections: 1,
                },
                kac_event::PortBytes {
                    port: 443,
                    bytes_in: 0,
                    bytes_out: 7,
                    connections: 1,
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            end_detail(&end),
            "exit 3; port 80: 15 in, 20 out; port 443: 0 in, 7 out"
        );
        let plain = kac_event::SessionEnd::default();
        assert_eq!(end_detail(&plain), "exit -");
    }

    #[test]
    fn table_aligns_columns() {
        let mut out = Vec::new();
        let rows = vec![
            vec!["a".to_string(), "bbb".into()],
            vec!["cc".into(), "d".into()],
        ];
        table(&mut out, &["X", "Y"], &rows).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "X   Y\na   bbb\ncc  d\n");
    }
}
