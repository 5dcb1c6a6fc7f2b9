//! The scanner behind `kubeconfig_edit`: where the `clusters`, `users`
//! and `contexts` block sequences, their entries, and `current-context` sit
//! in a kubeconfig's text (byte ranges), for block-style YAML. It refuses
//! what it does not understand rather than guess; the editor verifies
//! every edit by parsing the result anyway.

use std::ops::Range;

use super::{err, EditError, SECTIONS};

/// One of the three sections as found in the text.
#[derive(Debug, Default, Clone)]
pub(super) struct Section {
    /// Byte range of the key line, newline included.
    pub(super) key_line: Range<usize>,
    /// `[]`, `null` or `~` after the key: an empty sequence written inline.
    pub(super) inline_empty: Option<Range<usize>>,
    /// Each entry: from its dash to the end of its last non-comment line.
    pub(super) entries: Vec<Range<usize>>,
    /// Column of the entries' dashes (0 for kubectl's indentless style).
    pub(super) indent: usize,
}

/// Where things are in a kubeconfig's text.
#[derive(Debug, Default)]
pub(super) struct Layout {
    pub(super) sections: [Option<Section>; 3],
    /// The whole `current-context:` line and the range of its value.
    pub(super) current_context: Option<(Range<usize>, Range<usize>)>,
    pub(super) newline: &'static str,
}

struct Line {
    start: usize,
    /// End of content (before `\r\n` / `\n`).
    end: usize,
    /// After the line terminator.
    next: usize,
    indent: usize,
}

fn lines(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    while start < text.len() {
        let nl = text[start..].find('\n').map(|i| start + i);
        let next = nl.map(|i| i + 1).unwrap_or(text.len());
        let mut end = nl.unwrap_or(text.len());
        if end > start && bytes[end - 1] == b'\r' {
            end -= 1;
        }
        let indent = bytes[start..end].iter().take_while(|b| **b == b' ').count();
        out.push(Line {
            start,
            end,
            next,
            indent,
        });
        start = next;
    }
    out
}

/// Strip a trailing ` # comment` from a one-line value (outside quotes).
fn strip_comment(s: &str) -> &str {
    let mut quote = None;
    let b = s.as_bytes();
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if i == 0 || b[i - 1] == b' ' || b[i - 1] == b'\t' => return &s[..i],
            _ => {}
        }
    }
    s
}

/// A top-level `key:` line: the key (quotes removed) and where its value starts.
fn top_level_key(line: &str) -> Option<(String, usize)> {
    let (key, rest_at) = if let Some(q @ ('"' | '\'')) = line.chars().next() {
        let close = line[1..].find(q)? + 1;
        (line[1..close].to_string(), close + 1)
    } else {
        let colon = line
            .char_indices()
            .find(|&(i, c)| c == ':' && line[i + 1..].chars().next().is_none_or(|n| n == ' '))?
            .0;
        (line[..colon].trim_end().to_string(), colon)
    };
    let rest = &line[rest_at..];
    let rest = rest.trim_start_matches(' ');
    rest.strip_prefix(':')?;
    Some((key, line.len() - rest.len() + 1))
}

pub(super) fn scan(text: &str) -> Result<Layout, EditError> {
    // YAML also breaks lines at a lone CR; this scanner does not.
    if let Some(i) = text
        .bytes()
        .zip(text.bytes().skip(1).chain([0]))
        .position(|(a, b)| a == b'\r' && b != b'\n')
    {
        let line = text[..i].matches('\n').count() + 1;
        return err(
            line,
            "carriage return without line feed; kac edits \\n or \\r\\n files only",
        );
    }
    let lines = lines(text);
    let mut layout = Layout {
        newline: if text.contains("\r\n") { "\r\n" } else { "\n" },
        ..Layout::default()
    };
    let mut current: Option<usize> = None; // index into SECTIONS being filled
    let mut seen_content = false;
    for (n, l) in lines.iter().enumerate() {
        let s = &text[l.start..l.end];
        let lineno = n + 1;
        let trimmed = s.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if trimmed.starts_with('\t') {
            return err(
                lineno,
                "tab in indentation; kac edits block-style YAML only",
            );
        }
        if l.indent == 0 && (s == "---" || s.starts_with("--- ")) {
            if seen_content {
                return err(lineno, "several YAML documents in one kubeconfig");
            }
            continue;
        }
        seen_content = true;
        if l.indent == 0 && (s.starts_with('{') || s.starts_with('[')) {
            return err(
                lineno,
                "the kubeconfig is JSON or flow-style YAML; kac edits block-style YAML only, to keep your entries byte for byte (use --kubeconfig to write kac's contexts to a separate file)",
            );
        }
        let is_dash = trimmed == "-" || trimmed.starts_with("- ");
        if l.indent == 0 && !is_dash {
            // A new top-level key.
            current = None;
            let Some((key, value_at)) = top_level_key(s) else {
                return err(lineno, "expected a top-level `key:` line");
            };
            let value = strip_comment(&s[value_at..]);
            let value_trim = value.trim();
            let value_range = {
                let off = l.start + value_at + (value.len() - value.trim_start().len());
                off..off + value_trim.len()
            };
            if key == "current-context" {
                if layout.current_context.is_some() {
                    return err(lineno, "current-context is given twice");
                }
                layout.current_context = Some((l.start..l.next, value_range));
            } else if let Some(i) = SECTIONS.iter().position(|(k, _)| *k == key) {
                if layout.sections[i].is_some() {
                    return err(lineno, format!("{key} is given twice"));
                }
                let inline_empty = match value_trim {
                    "" => None,
                    "[]" | "null" | "~" | "Null" | "NULL" => Some(value_range),
                    _ => {
                        return err(
                            lineno,
                            format!("{key} is not a block sequence (flow style, anchor or tag); kac edits block-style YAML only"),
                        )
                    }
                };
                layout.sections[i] = Some(Section {
                    key_line: l.start..l.next,
                    inline_empty,
                    ..Section::default()
                });
                current = Some(i);
            }
            continue;
        }
        // Inside the value of a top-level key.
        let Some(i) = current else { continue };
        let sec = layout.sections[i].as_mut().expect("current section");
        let key = SECTIONS[i].0;
        if sec.inline_empty.is_some() {
            return err(
                lineno,
                format!("{key} is written inline and also has content"),
            );
        }
        if sec.entries.is_empty() {
            if !is_dash {
                return err(lineno, format!("{key} is not a block sequence"));
            }
            sec.indent = l.indent;
        }
        if is_dash && l.indent == sec.indent {
            sec.entries.push(l.start..l.next);
        } else if l.indent > sec.indent {
            sec.entries.last_mut().expect("an entry").end = l.next;
        } else {
            return err(lineno, format!("unexpected indentation in {key}"));
        }
    }
    Ok(layout)
}
