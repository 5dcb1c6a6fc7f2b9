//! Reading policy files: directories, multi-document YAML, serde errors with
//! their line, validation, and the all-or-nothing rule (a set with any error
//! is rejected whole).

use crate::compile::{compile, Checker};
use crate::error::{Diagnostic, LoadError};
use crate::locate::{FieldPath, Seg};
use crate::model::{Policy, PolicySet};
use crate::spec::{PolicyDocument, KIND_POLICY, KIND_TEST_SUITE};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Expands the paths given to the loader: a directory stands for its
/// `*.yaml`/`*.yml` files (not recursive), in name order.
pub(crate) fn expand_paths<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let meta = std::fs::metadata(p).map_err(|source| LoadError::Io {
            path: p.to_path_buf(),
            source,
        })?;
        if meta.is_dir() {
            let rd = std::fs::read_dir(p).map_err(|source| LoadError::Io {
                path: p.to_path_buf(),
                source,
            })?;
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && f.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.to_path_buf());
        }
    }
    Ok(out)
}

/// Splits YAML text into documents at `---` / `...` lines; yields
/// (0-based line offset of the document, document text).
pub(crate) fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    for (i, line) in text.lines().enumerate() {
        let is_marker = |m: &str| {
            line.strip_prefix(m)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        };
        if is_marker("---") || is_marker("...") {
            docs.push((start, std::mem::take(&mut cur)));
            start = i;
            // Keep the line count; keep content after `--- ` (rare but legal).
            cur.push_str("   ");
            cur.push_str(&line[3..]);
            cur.push('\n');
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    docs.push((start, cur));
    docs
}

/// Drops serde's " at line N column M" suffix (we print the line ourselves)
/// and separates its field path prefix, if any.
fn split_serde_message(err: &serde_yaml::Error) -> (String, String) {
    let mut msg = err.to_string();
    if let Some(i) = msg.rfind(" at line ") {
        msg.truncate(i);
    }
    if let Some((path, rest)) = msg.split_once(": ") {
        let looks_like_path = !path.is_empty()
            && path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '[' | ']' | '_'));
        if looks_like_path {
            return (path.to_string(), rest.to_string());
        }
    }
    (String::new(), msg)
}

fn serde_diag(file: &str, offset: usize, err: &serde_yaml::Error) -> Diagnostic {
    let (field, message) = split_serde_message(err);
    Diagnostic {
        file: file.to_string(),
        line: err.location().map(|l| l.line() + offset),
        field,
        message,
    }
}

/// Parses and validates the policies in one file's text. Documents of kind
/// `PolicyTestSuite` are skipped.
pub(crate) fn parse_file(
    file: &str,
    text: &str,
    out: &mut Vec<Policy>,
    diags: &mut Vec<Diagnostic>,
) {
    for (offset, doc) in split_documents(text) {
        let value: serde_yaml::Value = match serde_yaml::from_str(&doc) {
            Ok(v) => v,
            Err(e) => {
                diags.push(serde_diag(file, offset, &e));
                continue;
            }
        };
        if value.is_null() {
            continue;
        }
        let kind = value.get("kind").and_then(|k| k.as_str());
        let mut ck = Checker {
            file,
            text: &doc,
            offset,
            out: Vec::new(),
        };
        match kind {
            Some(KIND_POLICY) => {}
            Some(KIND_TEST_SUITE) => continue,
            Some(other) => {
                ck.error(
                    &FieldPath(vec![Seg::Key("kind")]),
                    format!("unknown kind {other:?} (expected {KIND_POLICY:?})"),
                );
                diags.append(&mut ck.out);
                continue;
            }
            None => {
                ck.error(
                    &FieldPath(vec![Seg::Key("kind")]),
                    "missing kind (expected \"Policy\")",
                );
                diags.append(&mut ck.out);
                continue;
            }
        }
        match serde_yaml::from_str::<PolicyDocument>(&doc) {
            Ok(pd) => {
                if let Some(p) = compile(&pd, &mut ck) {
                    out.push(p);
                }
                diags.append(&mut ck.out);
            }
            Err(e) => diags.push(serde_diag(file, offset, &e)),
        }
    }
}

/// Rejects two policies with one name: names identify policies in
/// decisions and audit events.
fn check_duplicates(policies: &[Policy], diags: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<&str, &Policy> = HashMap::new();
    for p in policies {
        if let Some(first) = seen.get(&*p.name) {
            diags.push(Diagnostic {
                file: p.file.to_string(),
                line: Some(p.line),
                field: "metadata.name".into(),
                message: format!(
                    "duplicate policy name {:?} (first defined at {}:{})",
                    &*p.name, first.file, first.line
                ),
            });
        } else {
            seen.insert(&p.name, p);
        }
    }
}

/// Builds a set from (file name, text) pairs; shared by the file loader,
/// tests and the fuzz target.
pub(crate) fn from_sources(
    sources: &[(String, String)],
    files: Vec<PathBuf>,
) -> Result<PolicySet, LoadError> {
    let mut policies = Vec::new();
    let mut diags = Vec::new();
    for (name, text) in sources {
        parse_file(name, text, &mut policies, &mut diags);
    }
    check_duplicates(&policies, &mut diags);
    if !diags.is_empty() {
        return Err(LoadError::Invalid(diags));
    }
    Ok(PolicySet::from_policies(policies, files))
}

impl PolicySet {
    /// Loads and validates policy files and directories (their `*.yaml` and
    /// `*.yml` files). Any error rejects the whole set.
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<PolicySet, LoadError> {
        let files = expand_paths(paths)?;
        let mut sources = Vec::with_capacity(files.len());
        for f in &files {
            let text = std::fs::read_to_string(f).map_err(|source| LoadError::Io {
                path: f.clone(),
                source,
            })?;
            sources.push((f.display().to_string(), text));
        }
        from_sources(&sources, files)
    }

    /// Builds a set from in-memory documents: `(file name for messages, YAML text)`.
    pub fn from_yaml_sources(sources: &[(String, String)]) -> Result<PolicySet, LoadError> {
        from_sources(sources, Vec::new())
    }

    /// Builds a set from one YAML text (one or more documents).
    pub fn from_yaml_str(file: &str, text: &str) -> Result<PolicySet, LoadError> {
        from_sources(&[(file.to_string(), text.to_string())], Vec::new())
    }
}

/// Fuzz entry point: loading arbitrary bytes must never panic, and every
/// error must name the file and a line within the input.
pub fn fuzz_load(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // YAML counts \r, NEL, LS and PS as line breaks too.
    let lines = 1 + text
        .chars()
        .filter(|c| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}'))
        .count();
    if let Err(LoadError::Invalid(diags)) = PolicySet::from_yaml_str("fuzz.yaml", text) {
        for d in diags {
            assert_eq!(d.file, "fuzz.yaml");
            if let Some(line) = d.line {
                assert!(
                    line >= 1 && line <= lines + 1,
                    "line {line} outside 1..={lines}: {d}"
                );
            }
        }
    }
}
