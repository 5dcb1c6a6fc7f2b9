//! Finds the line of a field path (`spec.actions[1].verbs[2]`) in YAML text.
//!
//! serde gives line numbers only for errors it finds itself; our own
//! validation (bad regex, unknown verb, empty selector) works on typed values
//! that have lost their positions. Rather than re-implementing a YAML parser,
//! this walks the text by indentation, which is exact for the block style and
//! for one-line flow sequences (`verbs: [get, list]`) that policy files use.
//! When it cannot follow the path it returns the line of the deepest ancestor
//! it found, so an error always points somewhere sensible.

use std::fmt;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(&'static str),
    Index(usize),
}

/// A field path, printed as `spec.actions[1].verbs[2]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Seg>);

impl FieldPath {
    /// The path extended by a key.
    pub fn key(&self, k: &'static str) -> FieldPath {
        let mut v = self.0.clone();
        v.push(Seg::Key(k));
        FieldPath(v)
    }
    /// The path extended by an index.
    pub fn index(&self, i: usize) -> FieldPath {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        FieldPath(v)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

struct Line<'a> {
    /// Column of the first character after indentation and `- ` markers.
    content_col: usize,
    /// Column of the first non-space character.
    first_col: usize,
    /// Columns of the `- ` sequence markers on this line.
    dashes: Vec<usize>,
    content: &'a str,
}

fn scan(raw: &str) -> Option<Line<'_>> {
    let first_col = raw.len() - raw.trim_start_matches(' ').len();
    let mut rest = &raw[first_col..];
    if rest.is_empty() || rest.starts_with('#') {
        return None;
    }
    let mut col = first_col;
    let mut dashes = Vec::new();
    while rest == "-" || rest.starts_with("- ") {
        dashes.push(col);
        let after = rest[1..].trim_start_matches(' ');
        col += rest.len() - after.len();
        rest = after;
    }
    Some(Line {
        content_col: col,
        first_col,
        dashes,
        content: rest,
    })
}

fn has_key(content: &str, key: &str) -> bool {
    for quoted in [key.to_string(), format!("\"{key}\""), format!("'{key}'")] {
        if let Some(rest) = content.strip_prefix(quoted.as_str()) {
            let rest = rest.trim_start_matches(' ');
            if rest == ":" || rest.starts_with(": ") || rest.starts_with(":\t") {
                return true;
            }
        }
    }
    false
}

/// The 1-based line of `path` within `text` (best effort, see module docs).
pub fn locate(text: &str, path: &FieldPath) -> usize {
    let lines: Vec<Option<Line<'_>>> = text.lines().map(scan).collect();
    // Current scope: [start, end) of line indexes, and the parent column.
    let (mut start, mut end, mut parent_col) = (0usize, lines.len(), -1isize);
    let mut found = lines.iter().position(Option::is_some).unwrap_or(0);
    let mut inline_value = false;
    for seg in &path.0 {
        if inline_value {
            break;
        }
        match seg {
            Seg::Key(k) => {
                let mut best: Option<(usize, usize)> = None;
                for (i, l) in lines.iter().enumerate().take(end).skip(start) {
                    if let Some(l) = l {
                        if (l.content_col as isize) > parent_col
                            && has_key(l.content, k)
                            && best.is_none_or(|(_, c)| l.content_col < c)
                        {
                            best = Some((i, l.content_col));
                        }
                    }
                }
                let Some((i, col)) = best else { break };
                found = i;
                let value = lines[i].as_ref().map_or("", |l| {
                    l.content.split_once(':').map_or("", |(_, v)| v.trim())
                });
                inline_value = !value.is_empty() && !value.starts_with('#');
                let mut j = i + 1;
                while j < end {
                    if let Some(l) = &lines[j] {
                        let is_item = l.dashes.first() == Some(&col) && l.first_col == col;
                        if l.first_col < col || (l.first_col == col && !is_item) {
                            break;
                        }
                    }
                    j += 1;
                }
                start = i + 1;
                end = j;
                parent_col = col as isize;
            }
            Seg::Index(n) => {
                // Sequence items: the shallowest dash column in scope.
                let dash_col = lines[start..end]
                    .iter()
                    .flatten()
                    .filter_map(|l| l.dashes.iter().copied().find(|&d| d as isize >= parent_col))
                    .min();
                let Some(dash_col) = dash_col else { break };
                let items: Vec<usize> = (start..end)
                    .filter(|&i| {
                        lines[i]
                            .as_ref()
                            .is_some_and(|l| l.dashes.contains(&dash_col))
                    })
                    .collect();
                let Some(&i) = items.get(*n) else { break };
                found = i;
                let next = items.get(n + 1).copied().unwrap_or(end);
                start = i;
                end = next;
                parent_col = dash_col as isize;
            }
        }
    }
    found + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
apiVersion: kac.dev/v1alpha1
kind: Policy
metadata:
  name: david
spec:
  # a comment
  resources:
    clusters: [dev, prod]
  actions:
  - effect: allow
    resources: ['*']
    verbs: [\"*\"]
  - name: pods
    effect: allow
    verbs:
      - get
      - lsit
    names:
    - david-*
";

    fn p(segs: Vec<Seg>) -> FieldPath {
        FieldPath(segs)
    }

    #[test]
    fn finds_keys_items_and_flow_sequences() {
        use Seg::*;
        assert_eq!(locate(DOC, &p(vec![Key("kind")])), 2);
        assert_eq!(locate(DOC, &p(vec![Key("metadata"), Key("name")])), 4);
        assert_eq!(
            locate(
                DOC,
                &p(vec![
                    Key("spec"),
                    Key("resources"),
                    Key("clusters"),
                    Index(1)
                ])
            ),
            8
        );
        assert_eq!(
            locate(DOC, &p(vec![Key("spec"), Key("actions"), Index(0)])),
            10
        );
        assert_eq!(
            locate(
                DOC,
                &p(vec![Key("spec"), Key("actions"), Index(0), Key("verbs")])
            ),
            12
        );
        assert_eq!(
            locate(
                DOC,
                &p(vec![Key("spec"), Key("actions"), Index(1), Key("effect")])
            ),
            14
        );
        assert_eq!(
            locate(
                DOC,
                &p(vec![
                    Key("spec"),
                    Key("actions"),
                    Index(1),
                    Key("verbs"),
                    Index(1)
                ])
            ),
            17
        );
        assert_eq!(
            locate(
                DOC,
                &p(vec![
                    Key("spec"),
                    Key("actions"),
                    Index(1),
                    Key("names"),
                    Index(0)
                ])
            ),
            19
        );
    }

    #[test]
    fn falls_back_to_the_deepest_ancestor() {
        use Seg::*;
        assert_eq!(
            locate(
                DOC,
                &p(vec![Key("spec"), Key("actions"), Index(7), Key("verbs")])
            ),
            9
        );
        assert_eq!(locate(DOC, &p(vec![Key("spec"), Key("nothing")])), 5);
    }

    #[test]
    fn prints_paths_like_kubectl() {
        use Seg::*;
        let path = p(vec![
            Key("spec"),
            Key("actions"),
            Index(1),
            Key("verbs"),
            Index(2),
        ]);
        assert_eq!(path.to_string(), "spec.actions[1].verbs[2]");
    }
}
