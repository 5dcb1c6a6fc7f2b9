//! Which events a forwarder sends: a small conjunction of lists, plus the
//! [`Summary`] of an event that filters and the syslog header read.
//!
//! Kept deliberately small (a SIEM does the real querying): every list that
//! is set must contain the event's value, and an event without that field
//! does not match (so `outcomes: [denied]` selects API events only, and
//! `users:` never matches session data frames, which carry no user).

use kac_event::{Event, SessionEvent, SessionKind};
use serde::Deserialize;

/// `filter:` in a forwarder's config. Empty lists mean "any".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FilterConfig {
    /// `api` (one per request), `session` (session start, end and typed
    /// commands), `sessionData` (terminal I/O and resize frames: large and
    /// sensitive). Default: all three, so every event reaches the SIEM.
    #[serde(default)]
    pub kinds: Vec<Kind>,
    /// `allowed`, `denied`, `error` (refused without a decision).
    #[serde(default)]
    pub outcomes: Vec<kac_event::Outcome>,
    /// Kubernetes verbs (`get`, `delete`, ...); sessions are `exec`,
    /// `attach` or `portforward`.
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default)]
    pub clusters: Vec<String>,
    /// KAC user names.
    #[serde(default)]
    pub users: Vec<String>,
}

/// The kinds a filter can select.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    Api,
    Session,
    SessionData,
}

/// The fields of an event that filters and headers use, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary<'a> {
    pub kind: Kind,
    /// `api`, `session.start`, `session.command`, ...: the syslog MSGID.
    pub name: &'static str,
    pub outcome: Option<kac_event::Outcome>,
    pub verb: Option<&'a str>,
    pub cluster: Option<&'a str>,
    pub user: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub session_id: Option<&'a str>,
}

fn session_verb(k: SessionKind) -> &'static str {
    match k {
        SessionKind::Exec => "exec",
        SessionKind::Attach => "attach",
        SessionKind::Portforward => "portforward",
    }
}

fn nonempty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

impl<'a> Summary<'a> {
    pub fn of(ev: &'a Event) -> Summary<'a> {
        let empty = Summary {
            kind: Kind::Api,
            name: "api",
            outcome: None,
            verb: None,
            cluster: None,
            user: None,
            namespace: None,
            session_id: None,
        };
        match ev {
            Event::Api(a) => Summary {
                outcome: Some(a.decision.outcome),
                verb: nonempty(&a.verb),
                cluster: nonempty(&a.cluster),
                user: nonempty(&a.user.name),
                namespace: nonempty(&a.namespace),
                session_id: a.session_id.as_deref(),
                ..empty
            },
            Event::Session(s) => {
                let base = Summary {
                    kind: Kind::Session,
                    session_id: Some(s.session_id()),
                    ..empty
                };
                match s {
                    SessionEvent::Start(st) => Summary {
                        name: "session.start",
                        verb: Some(session_verb(st.kind)),
                        cluster: nonempty(&st.cluster),
                        user: nonempty(&st.user.name),
                        namespace: nonempty(&st.namespace),
                        ..base
                    },
                    SessionEvent::End(e) => Summary {
                        name: "session.end",
                        cluster: nonempty(&e.cluster),
                        user: nonempty(&e.user),
                        ..base
                    },
                    SessionEvent::Command(_) => Summary {
                        name: "session.command",
                        ..base
                    },
                    SessionEvent::Data { .. } => Summary {
                        kind: Kind::SessionData,
                        name: "session.data",
                        ..base
                    },
                    SessionEvent::Resize { .. } => Summary {
                        kind: Kind::SessionData,
                        name: "session.resize",
                        ..base
                    },
                }
            }
        }
    }
}

impl FilterConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (what, list) in [
            ("verbs", &self.verbs),
            ("clusters", &self.clusters),
            ("users", &self.users),
        ] {
            if list.iter().any(|v| v.trim().is_empty()) {
                return Err(format!("{what}: empty value"));
            }
        }
        Ok(())
    }

    /// True when the event should be sent.
    pub fn matches(&self, s: &Summary<'_>) -> bool {
        fn has<T: PartialEq>(list: &[T], v: Option<T>) -> bool {
            list.is_empty() || v.is_some_and(|v| list.contains(&v))
        }
        fn has_str(list: &[String], v: Option<&str>) -> bool {
            list.is_empty() || v.is_some_and(|v| list.iter().any(|x| x == v))
        }
        has(&self.kinds, Some(s.kind))
            && has(&self.outcomes, s.outcome)
            && has_str(&self.verbs, s.verb)
            && has_str(&self.clusters, s.cluster)
            && has_str(&self.users, s.user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kac_event::{ApiEvent, DecisionRecord, Outcome, UserInfo};

    fn api(user: &str, verb: &str, outcome: Outcome) -> Event {
        Event::Api(Box::new(ApiEvent {
            id: "a".into(),
            user: UserInfo {
                name: user.into(),
                ..Default::default()
            },
            cluster: "prod".into(),
            verb: verb.into(),
            decision: DecisionRecord {
                outcome,
                ..Default::default()
            },
            ..Default::default()
        }))
    }

    fn data() -> Event {
        Event::Session(SessionEvent::Resize {
            session_id: "s".into(),
            time: chrono::Utc::now(),
            offset_us: 1,
            width: 80,
            height: 24,
        })
    }

    fn parse(y: &str) -> FilterConfig {
        serde_yaml::from_str(y).unwrap()
    }

    #[test]
    fn empty_filter_matches_everything() {
        let f = FilterConfig::default();
        for e in [api("d", "get", Outcome::Allowed), data()] {
            assert!(f.matches(&Summary::of(&e)));
        }
    }

    #[test]
    fn only_denied_selects_denied_api_events() {
        let f = parse("outcomes: [denied]");
        assert!(f.matches(&Summary::of(&api("d", "get", Outcome::Denied))));
        assert!(!f.matches(&Summary::of(&api("d", "get", Outcome::Allowed))));
        assert!(
            !f.matches(&Summary::of(&data())),
            "sessions have no outcome"
        );
    }

    #[test]
    fn lists_are_anded_and_missing_fields_do_not_match() {
        let f = parse("verbs: [delete]\nusers: [david]\nclusters: [prod]");
        assert!(f.matches(&Summary::of(&api("david", "delete", Outcome::Allowed))));
        assert!(!f.matches(&Summary::of(&api("sam", "delete", Outcome::Allowed))));
        assert!(!f.matches(&Summary::of(&api("david", "get", Outcome::Allowed))));
        assert!(!f.matches(&Summary::of(&data())));
        let k = parse("kinds: [session]");
        assert!(
            !k.matches(&Summary::of(&data())),
            "data frames are sessionData"
        );
        assert!(parse("kinds: [sessionData]").matches(&Summary::of(&data())));
    }

    #[test]
    fn unknown_filter_keys_and_values_are_errors() {
        assert!(serde_yaml::from_str::<FilterConfig>("verb: [get]").is_err());
        assert!(serde_yaml::from_str::<FilterConfig>("kinds: [apis]").is_err());
        assert!(parse("users: ['']").validate().is_err());
    }
}
