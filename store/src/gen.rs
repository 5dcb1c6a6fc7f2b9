//! Deterministic generator of realistic audit events, for tests, the
//! benchmark and `kac-audit debug write-loop`. Not used on the write path.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kac_event::{
    ApiEvent, CommandLine, DataStream, DecisionRecord, Event, Impersonation, Outcome, SessionEnd,
    SessionEvent, SessionKind, SessionStart, UserInfo,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const FIRST: &[&str] = &[
    "david", "alice", "bob", "carol", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yara",
];
const VERBS: &[(&str, u32)] = &[
    ("get", 30),
    ("list", 25),
    ("watch", 10),
    ("create", 8),
    ("update", 6),
    ("patch", 8),
    ("delete", 5),
    ("exec", 2),
];
const RESOURCES: &[(&str, &str)] = &[
    ("", "pods"),
    ("apps", "deployments"),
    ("", "services"),
    ("", "configmaps"),
    ("", "secrets"),
    ("", "nodes"),
    ("", "events"),
    ("apps", "statefulsets"),
    ("batch", "jobs"),
    ("networking.k8s.io", "ingresses"),
    ("rbac.authorization.k8s.io", "rolebindings"),
];
const COMMANDS: &[&str] = &[
    "ls -la /etc",
    "cat /etc/passwd",
    "ps aux",
    "rm -rf /tmp/cache",
    "env | grep TOKEN",
    "curl http://metadata.internal/latest",
    "kubectl get pods",
    "tail -f /var/log/app.log",
    "df -h",
    "vi /etc/hosts",
];

/// Generates events with strictly increasing, distinct times.
pub struct Generator {
    rng: StdRng,
    t_us: i64,
    users: Vec<String>,
    clusters: Vec<(String, BTreeMap<String, String>)>,
    namespaces: Vec<String>,
    n: u64,
}

impl Generator {
    pub fn new(seed: u64, start: DateTime<Utc>) -> Self {
        let mut users: Vec<String> = FIRST.iter().map(|s| s.to_string()).collect();
        for i in 0..180 {
            users.push(format!("{}{}", FIRST[i % FIRST.len()], i / FIRST.len() + 2));
        }
        let clusters = (0..20)
            .map(|i| {
                let ty = ["prod", "staging", "dev"][i % 3];
                let mut tags = BTreeMap::new();
                tags.insert("ClusterType".to_string(), ty.to_string());
                tags.insert(
                    "Region".to_string(),
                    ["eu-west-1", "us-east-1"][i % 2].to_string(),
                );
                (format!("{ty}-{i:02}"), tags)
            })
            .collect();
        let namespaces = [
            "default",
            "kube-system",
            "payments",
            "web",
            "monitoring",
            "david",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain((0..44).map(|i| format!("team-{i}")))
        .collect();
        Generator {
            rng: StdRng::seed_from_u64(seed),
            t_us: start.timestamp_micros(),
            users,
            clusters,
            namespaces,
            n: 0,
        }
    }

    fn tick(&mut self) -> DateTime<Utc> {
        self.t_us += 1000 + self.rng.gen_range(0..1000);
        DateTime::from_timestamp_micros(self.t_us).expect("time in range")
    }

    /// A UUID v7 as `kac_event::new_id()` makes it: 48 bits of Unix
    /// milliseconds, then random bits.
    fn id(&mut self) -> String {
        let ms = (self.t_us / 1000) as u64 & 0xffff_ffff_ffff;
        let r: u128 = self.rng.gen();
        let h = format!("{ms:012x}{:020x}", r >> 48);
        format!(
            "{}-{}-7{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[16..20],
            &h[20..32]
        )
    }

    fn user(&mut self) -> UserInfo {
        // Zipf-ish: a few users make most requests.
        let r: f64 = self.rng.gen();
        let i = ((r * r * r) * self.users.len() as f64) as usize;
        let name = self.users[i.min(self.users.len() - 1)].clone();
        let groups = vec![
            ["dev", "ops", "sre", "qa"][i % 4].to_string(),
            "system:authenticated".to_string(),
        ];
        UserInfo {
            name,
            groups,
            attributes: BTreeMap::new(),
            auth_method: "token".into(),
        }
    }

    /// One realistic API event.
    pub fn api(&mut self) -> Event {
        self.n += 1;
        let time = self.tick();
        let user = self.user();
        let ci = self.rng.gen_range(0..self.clusters.len());
        let (cluster, tags) = self.clusters[ci].clone();
        let total: u32 = VERBS.iter().map(|v| v.1).sum();
        let mut pick = self.rng.gen_range(0..total);
        let verb = VERBS
            .iter()
            .find(|(_, w)| {
                if pick < *w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .map_or("get", |v| v.0);
        let (api_group, resource) = RESOURCES[self.rng.gen_range(0..RESOURCES.len())];
        let (api_group, resource) = if verb == "exec" {
            ("", "pods")
        } else {
            (api_group, resource)
        };
        let namespace = self.namespaces[self.rng.gen_range(0..self.namespaces.len())].clone();
        let named = !matches!(verb, "list" | "watch" | "create");
        let name = if named {
            format!(
                "web-{:x}-{:05x}",
                self.rng.gen_range(0..64),
                self.rng.gen_range(0..0xfffff)
            )
        } else {
            String::new()
        };
        let denied = self.rng.gen_range(0..10) == 0;
        let code = if denied {
            403
        } else if verb == "create" {
            201
        } else if self.rng.gen_range(0..20) == 0 {
            404
        } else {
            200
        };
        let prefix = if api_group.is_empty() {
            "/api/v1".to_string()
        } else {
            format!("/apis/{api_group}/v1")
        };
        let mut uri = format!("{prefix}/namespaces/{namespace}/{resource}");
        if named {
            uri.push('/');
            uri.push_str(&name);
        }
        if verb == "exec" {
            uri.push_str("/exec?command=sh&stdin=true&tty=true");
        } else if verb == "watch" {
            uri.push_str("?watch=true&resourceVersion=12345");
        }
        Event::Api(Box::new(ApiEvent {
            id: self.id(),
            time,
            source_ip: format!(
                "10.{}.{}.{}",
                ci,
                self.rng.gen_range(0..255),
                self.rng.gen_range(1..255)
            ),
            user_agent: "kubectl/v1.32.0 (linux/amd64) kubernetes/70d3cc9".into(),
            cluster,
            cluster_tags: tags,
            method: match verb {
                "create" | "exec" => "POST",
                "update" => "PUT",
                "patch" => "PATCH",
                "delete" => "DELETE",
                _ => "GET",
            }
            .into(),
            request_uri: uri,
            verb: verb.into(),
            api_group: api_group.into(),
            api_version: "v1".into(),
            resource: resource.into(),
            subresource: if verb == "exec" {
                "exec".into()
            } else {
                String::new()
            },
            namespace,
            name,
            non_resource: false,
            decision: DecisionRecord {
                outcome: if denied {
                    Outcome::Denied
                } else {
                    Outcome::Allowed
                },
                policy: Some(format!("{}-policy", user.groups[0])),
                rule: Some(format!("actions[{}]", self.rng.gen_range(0..4))),
                reason: if denied {
                    "no rule allows this".into()
                } else {
                    String::new()
                },
            },
            impersonated: Some(Impersonation {
                user: user.name.clone(),
                groups: user.groups.clone(),
            }),
            user,
            code,
            duration_us: self.rng.gen_range(300..40_000),
            bytes_in: if verb == "create" { 900 } else { 0 },
            bytes_out: self.rng.gen_range(200..20_000),
            session_id: None,
            filtered_items: 0,
            error: None,
        }))
    }

    /// A whole recorded exec session: start, `commands` typed commands with
    /// their output frames, a resize, and an end.
    pub fn session(&mut self, commands: usize) -> Vec<Event> {
        let sid = self.id();
        let user = self.user();
        let ci = self.rng.gen_range(0..self.clusters.len());
        let (cluster, tags) = self.clusters[ci].clone();
        let namespace = self.namespaces[self.rng.gen_range(0..self.namespaces.len())].clone();
        let start = self.tick();
        let mut out = vec![SessionEvent::Start(Box::new(SessionStart {
            session_id: sid.clone(),
            time: start,
            kind: SessionKind::Exec,
            user: user.clone(),
            cluster: cluster.clone(),
            cluster_tags: tags,
            namespace,
            pod: format!("web-{:05x}", self.rng.gen_range(0..0xfffff)),
            container: "app".into(),
            command: vec!["sh".into()],
            tty: true,
            stdin: true,
            width: Some(120),
            height: Some(40),
            protocol: "v5.channel.k8s.io".into(),
            ..Default::default()
        }))];
        let mut offset = 0u64;
        for _ in 0..commands {
            let t = self.tick();
            offset += 1000 + self.rng.gen_range(0..5000);
            let text = COMMANDS[self.rng.gen_range(0..COMMANDS.len())].to_string();
            out.push(SessionEvent::Data {
                session_id: sid.clone(),
                time: t,
                offset_us: offset,
                stream: DataStream::Stdin,
                data: format!("{text}\r").into_bytes(),
            });
            let t = self.tick();
            out.push(SessionEvent::Command(CommandLine {
                session_id: sid.clone(),
                time: t,
                offset_us: offset,
                text: text.clone(),
                uncertain: false,
            }));
            let t = self.tick();
            offset += 500;
            out.push(SessionEvent::Data {
                session_id: sid.clone(),
                time: t,
                offset_us: offset,
                stream: DataStream::Stdout,
                data: format!("output of {text}\r\n$ ").into_bytes(),
            });
        }
        let t = self.tick();
        out.push(SessionEvent::Resize {
            session_id: sid.clone(),
            time: t,
            offset_us: offset + 10,
            width: 100,
            height: 30,
        });
        let t = self.tick();
        out.push(SessionEvent::End(Box::new(SessionEnd {
            session_id: sid,
            time: t,
            offset_us: offset + 100,
            user: user.name,
            cluster,
            exit_code: Some(self.rng.gen_range(0..3)),
            error: None,
            bytes_stdin: 10,
            bytes_stdout: 100,
            bytes_stderr: 0,
            transfer: None,
            ports: Vec::new(),
        })));
        out.into_iter().map(Event::Session).collect()
    }

    /// A mixed stream: mostly API events, a session every ~`1/p` events.
    pub fn mixed(&mut self, n: usize, session_every: usize) -> Vec<Event> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if session_every > 0 && self.rng.gen_range(0..session_every) == 0 {
                let c = self.rng.gen_range(1..5);
                out.extend(self.session(c));
            } else {
                out.push(self.api());
            }
        }
        out.truncate(n);
        out
    }
}
