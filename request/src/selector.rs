//! Field selectors, read the way `k8s.io/apimachinery/pkg/fields` reads
//! them, to find the object name a list/watch is restricted to.
//!
//! Upstream splits on commas not escaped by `\`, splits each non-empty term
//! at the first `!=`, `==` or `=`, and unescapes the value (`\\`, `\,`,
//! `\=`; a bare `,` or `=` in a value is an error). A selector restricts
//! the name when a term `metadata.name=X` (or `==`) is present.

/// A field selector operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Equals,
    NotEquals,
}

/// One `field op value` term, value unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Term {
    pub field: String,
    pub op: Op,
    pub value: String,
}

fn split_terms(selector: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in selector.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

fn split_term(term: &str) -> Option<(&str, Op, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        if let Some(v) = rest.strip_prefix("!=") {
            return Some((&term[..i], Op::NotEquals, v));
        }
        if let Some(v) = rest.strip_prefix("==") {
            return Some((&term[..i], Op::Equals, v));
        }
        if let Some(v) = rest.strip_prefix('=') {
            return Some((&term[..i], Op::Equals, v));
        }
    }
    None
}

fn unescape_value(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => return Err(format!("invalid escape sequence \\{c}")),
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            ',' | '=' => return Err(format!("unescaped {c:?} in value {value:?}")),
            _ => out.push(c),
        }
    }
    if escaped {
        return Err("value ends in a lone backslash".to_owned());
    }
    Ok(out)
}

/// Parse a field selector as upstream does; an empty selector has no terms.
pub(crate) fn parse_field_selector(selector: &str) -> Result<Vec<Term>, String> {
    let mut terms = Vec::new();
    if selector.is_empty() {
        return Ok(terms);
    }
    for raw in split_terms(selector) {
        if raw.is_empty() {
            continue;
        }
        let (field, op, value) =
            split_term(raw).ok_or_else(|| format!("cannot split term {raw:?}"))?;
        terms.push(Term {
            field: field.to_owned(),
            op,
            value: unescape_value(value)?,
        });
    }
    Ok(terms)
}

/// The object name a field selector pins a list/watch to, strictly: `None`
/// when it does not mention `metadata.name`; an error when it does so in any
/// way but a single equality term with a valid path-segment name (upstream
/// would silently ignore `metadata.name!=x`, pick one of two `metadata.name`
/// terms, or ignore an invalid name: all ambiguous for an authorizer).
pub(crate) fn name_from_field_selector(selector: &str) -> Result<Option<String>, String> {
    let terms = parse_field_selector(selector)?;
    let mut named = terms.iter().filter(|t| t.field == "metadata.name");
    let Some(term) = named.next() else {
        return Ok(None);
    };
    if named.next().is_some() {
        return Err("metadata.name appears in more than one term".to_owned());
    }
    if term.op != Op::Equals {
        return Err("metadata.name is only accepted with '=' or '=='".to_owned());
    }
    let name = &term.value;
    // Upstream's IsValidPathSegmentName refuses `.`, `..`, `/` and `%`;
    // we also refuse any `..` run, as in paths.
    if name.is_empty() || name == "." || name.contains("..") || name.contains(['/', '%']) {
        return Err(format!("{name:?} is not a valid object name"));
    }
    Ok(Some(name.clone()))
}
