//! Label and field selectors (`labelSelector=`, `fieldSelector=`), parsed from
//! untrusted query strings into pure matchers.
//!
//! Label selector grammar as in `apimachinery/pkg/labels/selector.go`: comma-separated
//! requirements `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`,
//! `k>n`, `k<n`. Field selectors support `=`, `==` and `!=` on a per-kind set of fields.

use std::collections::BTreeMap;

use serde_json::Value;

/// One label requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Gt(String, i64),
    Lt(String, i64),
}

/// A parsed label selector (all requirements must hold; empty matches everything).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector(pub Vec<Requirement>);

fn valid_key(k: &str) -> bool {
    if k.is_empty() || k.len() > 316 {
        return false;
    }
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix {
        if p.is_empty()
            || !p
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        {
            return false;
        }
    }
    valid_value(name) && !name.is_empty()
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && v.chars().next().is_none_or(|c| c.is_ascii_alphanumeric())
        && v.chars().last().is_none_or(|c| c.is_ascii_alphanumeric())
}

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("unexpected ')'".into());
                }
            }
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unclosed '('".into());
    }
    out.push(&s[start..]);
    Ok(out)
}

fn parse_set(rest: &str) -> Result<Vec<String>, String> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("found '{rest}', expected: '('"))?;
    let mut vals = Vec::new();
    for v in inner.split(',') {
        let v = v.trim();
        if !valid_value(v) {
            return Err(format!("invalid label value: \"{v}\""));
        }
        vals.push(v.to_string());
    }
    Ok(vals)
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    let p = part.trim();
    if p.is_empty() {
        return Err("found '', expected: identifier".into());
    }
    if let Some(k) = p.strip_prefix('!') {
        let k = k.trim();
        return if valid_key(k) {
            Ok(Requirement::NotExists(k.to_string()))
        } else {
            Err(format!("invalid label key \"{k}\""))
        };
    }
    // Set-based: "key in (...)" / "key notin (...)".
    let key_end = p
        .find(|c: char| c.is_whitespace() || "=!<>(".contains(c))
        .unwrap_or(p.len());
    let (key, rest) = p.split_at(key_end);
    if !valid_key(key) {
        return Err(format!("invalid label key \"{key}\""));
    }
    let rest_t = rest.trim_start();
    if rest_t.is_empty() {
        return Ok(Requirement::Exists(key.to_string()));
    }
    let value = |v: &str| -> Result<String, String> {
        let v = v.trim();
        if valid_value(v) {
            Ok(v.to_string())
        } else {
            Err(format!("invalid label value: \"{v}\""))
        }
    };
    if let Some(v) = rest_t.strip_prefix("==") {
        return Ok(Requirement::In(key.into(), vec![value(v)?]));
    }
    if let Some(v) = rest_t.strip_prefix("!=") {
        return Ok(Requirement::NotIn(key.into(), vec![value(v)?]));
    }
    if let Some(v) = rest_t.strip_prefix('=') {
        return Ok(Requirement::In(key.into(), vec![value(v)?]));
    }
    let number = |v: &str| {
        v.trim()
            .parse::<i64>()
            .map_err(|_| format!("for 'Gt', 'Lt' operators, the value must be an integer: {v}"))
    };
    if let Some(v) = rest_t.strip_prefix('>') {
        return Ok(Requirement::Gt(key.into(), number(v)?));
    }
    if let Some(v) = rest_t.strip_prefix('<') {
        return Ok(Requirement::Lt(key.into(), number(v)?));
    }
    if rest.starts_with(char::is_whitespace) {
        if let Some(v) = rest_t.strip_prefix("notin") {
            return Ok(Requirement::NotIn(key.into(), parse_set(v)?));
        }
        if let Some(v) = rest_t.strip_prefix("in") {
            return Ok(Requirement::In(key.into(), parse_set(v)?));
        }
    }
    Err(format!(
        "found '{rest_t}', expected: in, notin, =, ==, !=, gt, lt"
    ))
}

impl LabelSelector {
    /// Parses a label selector; the error text becomes a 400 BadRequest message.
    pub fn parse(s: &str) -> Result<LabelSelector, String> {
        if s.trim().is_empty() {
            return Ok(LabelSelector::default());
        }
        let reqs = split_top(s)?
            .into_iter()
            .map(parse_requirement)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("unable to parse requirement: {e}"))?;
        Ok(LabelSelector(reqs))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a label set satisfies every requirement.
    pub fn matches(&self, labels: &BTreeMap<&str, &str>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Exists(k) => labels.contains_key(k.as_str()),
            Requirement::NotExists(k) => !labels.contains_key(k.as_str()),
            Requirement::In(k, vs) => labels
                .get(k.as_str())
                .is_some_and(|v| vs.iter().any(|x| x == v)),
            Requirement::NotIn(k, vs) => labels
                .get(k.as_str())
                .is_none_or(|v| !vs.iter().any(|x| x == v)),
            Requirement::Gt(k, n) => labels
                .get(k.as_str())
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *n),
            Requirement::Lt(k, n) => labels
                .get(k.as_str())
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *n),
        })
    }

    /// Matches an object's `metadata.labels`.
    pub fn matches_object(&self, obj: &Value) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let labels: BTreeMap<&str, &str> = obj
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
                    .collect()
            })
            .unwrap_or_default();
        self.matches(&labels)
    }
}

/// One field requirement: `field` equals (or not) `value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub value: String,
    pub negate: bool,
}

/// A parsed field selector.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector(pub Vec<FieldRequirement>);

/// The fields a kind supports in field selectors (beyond metadata.name/namespace).
fn supported_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "Secret" => &["type"],
        "Namespace" => &["status.phase"],
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        _ => &[],
    }
}

/// Unescapes `\,` `\=` `\\` in a field selector value.
fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    for c in v.chars() {
        if esc {
            out.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else {
            out.push(c);
        }
    }
    out
}

impl FieldSelector {
    /// Parses a field selector for `kind`; unsupported fields are an error worded like
    /// the apiserver's (`field label not supported: x`).
    pub fn parse(s: &str, kind: &str) -> Result<FieldSelector, String> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(FieldSelector(reqs));
        }
        for part in s.split(',') {
            let part = part.trim();
            let (field, value, negate) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, false)
            } else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ));
            };
            let field = field.trim();
            if field != "metadata.name"
                && field != "metadata.namespace"
                && !supported_fields(kind).contains(&field)
            {
                return Err(if kind == "CronTab" {
                    format!("\"{field}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"")
                } else {
                    format!("field label not supported: {field}")
                });
            }
            reqs.push(FieldRequirement {
                field: field.to_string(),
                value: unescape(value.trim()),
                negate,
            });
        }
        Ok(FieldSelector(reqs))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The exact name this selector pins (`metadata.name=X`), if any.
    pub fn pinned_name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|r| r.field == "metadata.name" && !r.negate)
            .map(|r| r.value.as_str())
    }

    pub fn matches_object(&self, obj: &Value) -> bool {
        self.0.iter().all(|r| {
            let path = format!("/{}", r.field.replace('.', "/"));
            let actual = match obj.pointer(&path) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            (actual == r.value) != r.negate
        })
    }
}

#[cfg(test)]
mod tests;
