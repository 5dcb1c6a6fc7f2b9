//! Byte-preserving edits of a kubeconfig: add, replace and remove the
//! entries `kac login` owns, and leave every other byte of the file alone.
//!
//! Why not parse and re-serialize: a user's kubeconfig carries comments,
//! hand-chosen ordering and quoting, and entries other tools manage. A YAML
//! round trip loses all of that. So this module *scans* the text for the
//! three block sequences (`clusters`, `users`, `contexts`) and the
//! `current-context` line, locates each entry's byte range, and splices
//! text. Ownership comes from a `kac.dev/login` extension on each entry
//! (kubeconfig's own mechanism for tool data, kept by kubectl).
//!
//! The scanner understands the block style every kubeconfig writer uses.
//! For anything else (JSON, flow style, several documents, tabs) it returns
//! [`EditError`] rather than guessing; and every edit is verified by parsing
//! the result and checking that each entry kac does not own is unchanged.
//! Pure functions: text in, text out. Locking and writing live in `files`.

use std::ops::Range;

use serde_yaml::Value;

mod scan;
use scan::{scan, Layout};

/// The extension name marking entries `kac login` wrote.
pub const EXTENSION: &str = "kac.dev/login";
pub(crate) const SECTIONS: [(&str, &str); 3] = [
    ("clusters", "cluster"),
    ("users", "user"),
    ("contexts", "context"),
];

/// Why a kubeconfig cannot be edited (nothing is written then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditError {
    /// 1-based line, 0 when not about one line.
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for EditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for EditError {}

pub(crate) fn err<T>(line: usize, message: impl Into<String>) -> Result<T, EditError> {
    Err(EditError {
        line,
        message: message.into(),
    })
}

/// The entries kac writes for one proxy login.
#[derive(Debug, Clone)]
pub struct LoginEntries {
    /// Normalized proxy URL (`https://host:port`), the ownership key.
    pub proxy: String,
    /// The KAC user name.
    pub user: String,
    /// Absolute path of the `kac` binary kubectl runs.
    pub command: String,
    /// `Never` or `IfAvailable`.
    pub interactive_mode: String,
    /// base64 PEM of the proxy's CA.
    pub ca_data: String,
    /// `KAC_HOME` to pass to the plugin, when not the default.
    pub kac_home: Option<String>,
    /// (cluster name, server URL) the user may reach.
    pub clusters: Vec<(String, String)>,
}

/// The result of an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub text: String,
    /// Context names kac now owns for this proxy (empty after logout).
    pub contexts: Vec<String>,
    /// What login changed outside its entries, so logout can put it back.
    pub restore: Restore,
}

/// Lines login changed besides its own entries: `current-context` when
/// none was set, and a section key it filled (`clusters: []`, or a key it
/// added). Logout restores a line when the key is back to what login found
/// (no kac context current, no entries left), so login then logout gives
/// back the original file byte for byte.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Restore {
    /// (key, the original line with its newline; empty when the key was absent).
    pub lines: Vec<(String, String)>,
}

impl Restore {
    /// Remember the original line of `key`, unless an earlier login did.
    fn record(&mut self, key: &str, line: String) {
        if !self.lines.iter().any(|(k, _)| k == key) {
            self.lines.push((key.to_string(), line));
        }
    }

    /// The original line of `key`, forgotten once put back.
    fn take(&mut self, key: &str) -> Option<String> {
        let i = self.lines.iter().position(|(k, _)| k == key)?;
        Some(self.lines.remove(i).1)
    }
}

fn q(s: &str) -> String {
    serde_json::to_string(s).expect("string to JSON")
}

fn owner(entry: &Value, kind: &str) -> Option<String> {
    entry
        .get(kind)?
        .get("extensions")?
        .as_sequence()?
        .iter()
        .find_map(|e| {
            (e.get("name")?.as_str()? == EXTENSION)
                .then(|| {
                    e.get("extension")?
                        .get("proxy")?
                        .as_str()
                        .map(str::to_owned)
                })
                .flatten()
        })
}

fn parse(text: &str) -> Result<Value, EditError> {
    if text.trim().is_empty() {
        return Ok(Value::Mapping(Default::default()));
    }
    let v: Value = serde_yaml::from_str(text).map_err(|e| EditError {
        line: e.location().map(|l| l.line()).unwrap_or(0),
        message: format!("not valid YAML: {e}"),
    })?;
    match v {
        Value::Mapping(_) => Ok(v),
        Value::Null => Ok(Value::Mapping(Default::default())),
        _ => err(0, "a kubeconfig must be a YAML mapping"),
    }
}

/// The entries of each section as parsed, with their owners.
/// Each section's entries with their owners (the proxy in their extension).
type Parsed = [Vec<(Value, Option<String>)>; 3];

fn parsed_entries(v: &Value) -> Result<Parsed, EditError> {
    let mut out: [Vec<_>; 3] = Default::default();
    for (i, (key, kind)) in SECTIONS.iter().enumerate() {
        match v.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Sequence(s)) => {
                out[i] = s.iter().map(|e| (e.clone(), owner(e, kind))).collect()
            }
            Some(_) => return err(0, format!("{key} is not a list")),
        }
    }
    Ok(out)
}

fn entry_name(v: &Value) -> Option<&str> {
    v.get("name")?.as_str()
}

/// Names kac uses for a cluster: `kac-CLUSTER` for the context and cluster,
/// `kac-USER@CLUSTER` for the user; with `@HOST:PORT` appended when another
/// proxy or the user already uses the plain name.
fn names(cluster: &str, user: &str, proxy: &str, taken: &Parsed) -> [String; 3] {
    let plain = [
        format!("kac-{cluster}"),
        format!("kac-{user}@{cluster}"),
        format!("kac-{cluster}"),
    ];
    let clash = (0..3).any(|i| {
        taken[i]
            .iter()
            .any(|(e, o)| entry_name(e) == Some(plain[i].as_str()) && o.as_deref() != Some(proxy))
    });
    if !clash {
        return plain;
    }
    let host = proxy.trim_start_matches("https://");
    plain.map(|n| format!("{n}@{host}"))
}

/// One entry of section `i` for cluster `(name, server)`, indented `ind`.
fn render_entry(
    i: usize,
    e: &LoginEntries,
    (cluster, server): (&str, &str),
    names: &[String; 3],
    ind: &str,
    nl: &str,
) -> String {
    let name = &names[i];
    let ext = format!(
        "{ind}    extensions:{nl}{ind}    - name: {EXTENSION}{nl}{ind}      extension:{nl}{ind}        proxy: {}{nl}",
        q(&e.proxy)
    );
    let body = match i {
        0 => format!(
            "{ind}  cluster:{nl}{ind}    server: {}{nl}{ind}    certificate-authority-data: {}{nl}",
            q(server),
            e.ca_data
        ),
        1 => {
            let args = ["credentials", "--proxy", &e.proxy, "--cluster", cluster]
                .map(q)
                .join(", ");
            let env = match &e.kac_home {
                Some(h) => format!(
                    "{ind}      env:{nl}{ind}      - name: KAC_HOME{nl}{ind}        value: {}{nl}",
                    q(h)
                ),
                None => String::new(),
            };
            format!(
                "{ind}  user:{nl}{ind}    exec:{nl}{ind}      apiVersion: client.authentication.k8s.io/v1{nl}{ind}      command: {}{nl}{ind}      args: [{args}]{nl}{env}{ind}      interactiveMode: {}{nl}{ind}      provideClusterInfo: false{nl}",
                q(&e.command),
                e.interactive_mode
            )
        }
        _ => format!(
            "{ind}  context:{nl}{ind}    cluster: {}{nl}{ind}    user: {}{nl}",
            q(&names[0]),
            q(&names[1])
        ),
    };
    format!("{ind}- name: {}{nl}{body}{ext}", q(name))
}

/// Add or update the entries of one proxy login; entries this proxy owned
/// for clusters no longer listed are removed. `restore` is what earlier
/// logins recorded (see [`Restore`]); the result carries the updated record.
/// `current-context` is set only when none is set, or when it named a
/// context of this proxy that is gone (then to the first new context, or
/// back to what login found).
pub fn apply_login(
    text: &str,
    login: &LoginEntries,
    restore: &Restore,
) -> Result<Edited, EditError> {
    let base;
    let text = if text.trim().is_empty() {
        base = "apiVersion: v1\nkind: Config\n".to_string();
        &base
    } else {
        text
    };
    let layout = scan(text)?;
    let before = parse(text)?;
    let entries = parsed_entries(&before)?;
    check_counts(&layout, &entries)?;
    let nl = layout.newline;
    let proxy = login.proxy.as_str();
    let all_names: Vec<[String; 3]> = login
        .clusters
        .iter()
        .map(|(cluster, _)| names(cluster, &login.user, proxy, &entries))
        .collect();
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    let mut appended = String::new();
    let mut restore = restore.clone();
    for si in 0..3 {
        let indent = layout.sections[si].as_ref().map(|s| s.indent).unwrap_or(0);
        let ind = " ".repeat(indent);
        let render = |ci: usize| {
            let (cluster, server) = &login.clusters[ci];
            let n = &all_names[ci];
            render_entry(si, login, (cluster, server), n, &ind, nl)
        };
        let mut placed = vec![false; all_names.len()];
        let mut kept = 0;
        if let Some(sec) = &layout.sections[si] {
            for (ei, range) in sec.entries.iter().enumerate() {
                let (v, own) = &entries[si][ei];
                if own.as_deref() != Some(proxy) {
                    kept += 1;
                    continue;
                }
                match all_names
                    .iter()
                    .position(|n| Some(n[si].as_str()) == entry_name(v))
                {
                    Some(ci) if !placed[ci] => {
                        placed[ci] = true;
                        kept += 1;
                        edits.push((range.clone(), render(ci)));
                    }
                    _ => edits.push((range.clone(), String::new())),
                }
            }
        }
        let new: String = (0..all_names.len())
            .filter(|ci| !placed[*ci])
            .map(render)
            .collect();
        let key = SECTIONS[si].0;
        match &layout.sections[si] {
            Some(sec) if !sec.entries.is_empty() && !new.is_empty() => {
                let at = sec.entries.last().expect("entries").end;
                edits.push((at..at, ensure_nl(text, at, nl) + &new));
            }
            Some(sec) if !sec.entries.is_empty() => {
                // Every entry went: give the key back what login found.
                if kept == 0 {
                    if let Some(line) = restore.take(key) {
                        edits.push((sec.key_line.clone(), line));
                    }
                }
            }
            _ if new.is_empty() => {}
            Some(sec) => {
                let line = text[sec.key_line.clone()].to_string();
                restore.record(key, line + &ensure_nl(text, sec.key_line.end, nl));
                edits.push((sec.key_line.clone(), format!("{key}:{nl}{new}")));
            }
            None => {
                restore.record(key, String::new());
                appended.push_str(&format!("{key}:{nl}{new}"));
            }
        }
    }
    let contexts: Vec<String> = all_names.iter().map(|n| n[2].clone()).collect();
    let current = before.get("current-context");
    let unset = current.is_none_or(|v| v.is_null() || v.as_str() == Some(""));
    let ours_gone = current.and_then(Value::as_str).is_some_and(|c| {
        !contexts.iter().any(|n| n == c)
            && entries[2]
                .iter()
                .any(|(v, o)| o.as_deref() == Some(proxy) && entry_name(v) == Some(c))
    });
    let line = if let (true, Some(first)) = (unset || ours_gone, contexts.first()) {
        let old = match &layout.current_context {
            Some((r, _)) => text[r.clone()].to_string() + &ensure_nl(text, r.end, nl),
            None => String::new(),
        };
        if unset {
            restore.record("current-context", old);
        }
        Some(format!("current-context: {}{nl}", q(first)))
    } else if ours_gone {
        // Put back what login replaced; with no record, leave the name as
        // kubectl's delete-context does.
        restore.take("current-context")
    } else {
        None
    };
    match (line, &layout.current_context) {
        (Some(line), Some((r, _))) => edits.push((r.clone(), line)),
        (Some(line), None) => appended.push_str(&line),
        (None, _) => {}
    }
    let mut out = splice(text, edits);
    if !appended.is_empty() {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(nl);
        }
        out.push_str(&appended);
    }
    verify(&before, &out, proxy, contexts.len())?;
    Ok(Edited {
        text: out,
        contexts,
        restore,
    })
}

/// Remove every entry owned by `proxy`, putting back what `restore` records.
pub fn apply_logout(text: &str, proxy: &str, restore: &Restore) -> Result<Edited, EditError> {
    if text.trim().is_empty() {
        return Ok(Edited {
            text: text.to_string(),
            contexts: Vec::new(),
            restore: restore.clone(),
        });
    }
    let none = LoginEntries {
        proxy: proxy.to_string(),
        user: String::new(),
        command: String::new(),
        interactive_mode: String::new(),
        ca_data: String::new(),
        kac_home: None,
        clusters: Vec::new(),
    };
    apply_login(text, &none, restore)
}

/// Context names owned by `proxy` in a kubeconfig (for `kac clusters`).
pub fn owned_contexts(text: &str, proxy: &str) -> Result<Vec<String>, EditError> {
    let entries = parsed_entries(&parse(text)?)?;
    Ok(entries[2]
        .iter()
        .filter(|(_, o)| o.as_deref() == Some(proxy))
        .filter_map(|(v, _)| entry_name(v).map(str::to_owned))
        .collect())
}

fn ensure_nl(text: &str, at: usize, nl: &str) -> String {
    if at == 0 || text[..at].ends_with('\n') {
        String::new()
    } else {
        nl.to_string()
    }
}

fn check_counts(layout: &Layout, entries: &Parsed) -> Result<(), EditError> {
    for si in 0..3 {
        let found = layout.sections[si]
            .as_ref()
            .map(|s| s.entries.len())
            .unwrap_or(0);
        if found != entries[si].len() {
            return err(
                0,
                format!(
                    "cannot locate the entries of {} (found {found}, the YAML has {}); kac edits block-style YAML only",
                    SECTIONS[si].0,
                    entries[si].len()
                ),
            );
        }
    }
    Ok(())
}

fn splice(text: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(r, _)| (r.start, r.end));
    let mut out = String::with_capacity(text.len() + 1024);
    let mut at = 0;
    for (r, s) in edits {
        out.push_str(&text[at..r.start]);
        out.push_str(&s);
        at = r.end;
    }
    out.push_str(&text[at..]);
    out
}

/// The edit kept every entry kac does not own and every other key, and
/// wrote the expected number of owned entries.
fn verify(before: &Value, text: &str, proxy: &str, owned_each: usize) -> Result<(), EditError> {
    let after = parse(text).map_err(|e| EditError {
        line: 0,
        message: format!("kac's edit would not parse ({e}); nothing was written"),
    })?;
    let (b, a) = (parsed_entries(before)?, parsed_entries(&after)?);
    for si in 0..3 {
        let others = |x: &[(Value, Option<String>)]| -> Vec<Value> {
            x.iter()
                .filter(|(_, o)| o.as_deref() != Some(proxy))
                .map(|(v, _)| v.clone())
                .collect()
        };
        let owned = a[si]
            .iter()
            .filter(|(_, o)| o.as_deref() == Some(proxy))
            .count();
        if others(&b[si]) != others(&a[si]) || owned != owned_each {
            return err(
                0,
                format!(
                    "kac's edit would change entries of {} it does not own; nothing was written",
                    SECTIONS[si].0
                ),
            );
        }
    }
    let rest = |v: &Value| -> Vec<(Value, Value)> {
        v.as_mapping()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| {
                        !matches!(
                            k.as_str(),
                            Some("clusters" | "users" | "contexts" | "current-context")
                        )
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    if rest(before) != rest(&after) {
        return err(
            0,
            "kac's edit would change other keys of the kubeconfig; nothing was written",
        );
    }
    Ok(())
}

/// Fuzz entry point (fuzz/fuzz_targets/kubeconfig_edit.rs, and a proptest
/// here): edit arbitrary text as a kubeconfig. Must never panic; whenever
/// login succeeds, logout must too, and for a file without kac entries it
/// must give the original back (plus at most a final newline login added).
pub fn fuzz_edit(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let login = LoginEntries {
        proxy: "https://127.0.0.1:1".into(),
        user: "u".into(),
        command: "/kac".into(),
        interactive_mode: "Never".into(),
        ca_data: "Q0E=".into(),
        kac_home: None,
        clusters: vec![
            ("dev".into(), "https://127.0.0.1:1/clusters/dev".into()),
            ("a".into(), "https://127.0.0.1:1/clusters/a".into()),
        ],
    };
    let Ok(e) = apply_login(text, &login, &Restore::default()) else {
        return;
    };
    assert_eq!(e.contexts.len(), 2);
    let out = apply_logout(&e.text, &login.proxy, &e.restore).expect("logout after login");
    if !text.trim().is_empty() && !text.contains(EXTENSION) {
        let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
        let with_nl = format!("{text}{nl}");
        assert!(
            out.text == text || (!text.ends_with('\n') && out.text == with_nl),
            "{text:?} -> {:?} -> {:?}",
            e.text,
            out.text
        );
    }
}

#[cfg(test)]
mod tests;
