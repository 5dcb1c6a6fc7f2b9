//! Name patterns: literal, glob (`david-*`) and anchored regex (`^david-[0-9]+$`).
//!
//! Kubernetes object names, namespaces and cluster names never contain `*`,
//! `?`, `[`, `{` or `^`, so the form of a pattern is decided by its text alone:
//! a leading `^` means regex, any glob metacharacter means glob, anything else
//! is a literal. Common glob shapes (`prefix*`, `*suffix`, `*`) compile to
//! plain string operations so the per-object visibility check stays in the
//! tens of nanoseconds.

use std::fmt;

/// One compiled pattern.
#[derive(Clone)]
pub enum Pattern {
    /// `*`: matches everything.
    Any,
    /// Exact text.
    Literal(Box<str>),
    /// `abc*` with no other metacharacter.
    Prefix(Box<str>),
    /// `*abc` with no other metacharacter.
    Suffix(Box<str>),
    /// Any other glob (`?`, `[a-z]`, `{a,b}`, several `*`), with the
    /// literal prefix every match must start with (a cheap first test).
    Glob(Box<str>, globset::GlobMatcher, Box<str>),
    /// Anchored regex: must start with `^` and end with `$`; with its
    /// required literal prefix, as for globs.
    Regex(regex::Regex, Box<str>),
}

/// The literal text every match of an anchored regex body must start with.
fn regex_prefix(body: &str) -> Box<str> {
    if body.contains('|') {
        return "".into();
    }
    let mut prefix = String::new();
    for c in body.chars() {
        match c {
            '?' | '*' | '{' => {
                // The previous character is optional or repeated.
                prefix.pop();
                break;
            }
            '\\' | '.' | '+' | '(' | ')' | '[' | ']' | '}' | '^' | '$' => break,
            c => prefix.push(c),
        }
    }
    prefix.into()
}

/// The literal text every match of a glob must start with.
fn glob_prefix(text: &str) -> Box<str> {
    text.chars()
        .take_while(|&c| !is_glob_meta(c) && c != '\\')
        .collect::<String>()
        .into()
}

/// Why a pattern failed to compile. The message is meant for a human and
/// names the offending text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(pub String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_glob_meta(c: char) -> bool {
    matches!(c, '*' | '?' | '[' | ']' | '{' | '}')
}

impl Pattern {
    /// Compiles one pattern from its text.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        if text.is_empty() {
            return Err(PatternError("empty pattern".into()));
        }
        if let Some(body) = text.strip_prefix('^') {
            if !body.ends_with('$') || body.ends_with("\\$") {
                return Err(PatternError(format!(
                    "regex {text:?} must be anchored: start with ^ and end with $"
                )));
            }
            // Size limits keep a hostile policy file from costing much memory.
            return regex::RegexBuilder::new(text)
                .size_limit(1 << 20)
                .dfa_size_limit(1 << 20)
                .build()
                .map(|r| Pattern::Regex(r, regex_prefix(&body[..body.len() - 1])))
                .map_err(|e| {
                    let detail = e.to_string();
                    let last = detail.lines().last().unwrap_or("invalid").trim();
                    PatternError(format!("bad regex {text:?}: {last}"))
                });
        }
        if text == "*" {
            return Ok(Pattern::Any);
        }
        if !text.chars().any(is_glob_meta) {
            return Ok(Pattern::Literal(text.into()));
        }
        let stars = text.matches('*').count();
        let others = text
            .chars()
            .filter(|&c| c != '*' && is_glob_meta(c))
            .count();
        if stars == 1 && others == 0 && !text.contains('\\') {
            if let Some(p) = text.strip_suffix('*') {
                return Ok(Pattern::Prefix(p.into()));
            }
            if let Some(s) = text.strip_prefix('*') {
                return Ok(Pattern::Suffix(s.into()));
            }
        }
        globset::GlobBuilder::new(text)
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .map(|g| Pattern::Glob(text.into(), g.compile_matcher(), glob_prefix(text)))
            .map_err(|e| PatternError(format!("bad glob {text:?}: {}", e.kind())))
    }

    /// Whether `value` matches.
    #[inline]
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Literal(l) => **l == *value,
            Pattern::Prefix(p) => value.starts_with(&**p),
            Pattern::Suffix(s) => value.ends_with(&**s),
            Pattern::Glob(_, g, prefix) => value.starts_with(&**prefix) && g.is_match(value),
            Pattern::Regex(r, prefix) => value.starts_with(&**prefix) && r.is_match(value),
        }
    }

    /// Whether this is `*`.
    pub fn is_any(&self) -> bool {
        matches!(self, Pattern::Any)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Any => f.write_str("*"),
            Pattern::Literal(l) => f.write_str(l),
            Pattern::Prefix(p) => write!(f, "{p}*"),
            Pattern::Suffix(s) => write!(f, "*{s}"),
            Pattern::Glob(t, ..) => f.write_str(t),
            Pattern::Regex(r, _) => f.write_str(r.as_str()),
        }
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({self})")
    }
}

/// A non-empty list of patterns; a value matches when any pattern does.
#[derive(Clone, Debug)]
pub struct PatternSet {
    patterns: Vec<Pattern>,
    any: bool,
}

impl PatternSet {
    /// Builds a set; `*` anywhere makes the whole set match everything.
    pub fn new(patterns: Vec<Pattern>) -> PatternSet {
        let any = patterns.iter().any(Pattern::is_any);
        PatternSet { patterns, any }
    }

    /// Whether any pattern matches `value`.
    #[inline]
    pub fn matches(&self, value: &str) -> bool {
        self.any || self.patterns.iter().any(|p| p.matches(value))
    }

    /// Whether the set matches everything.
    pub fn is_any(&self) -> bool {
        self.any
    }

    /// The patterns, in file order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }
}

impl fmt::Display for PatternSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, p) in self.patterns.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{p}")?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, v: &str) -> bool {
        Pattern::parse(p).unwrap().matches(v)
    }

    #[test]
    fn literal_matches_only_itself() {
        assert!(matches!(
            Pattern::parse("david").unwrap(),
            Pattern::Literal(_)
        ));
        assert!(m("david", "david"));
        assert!(!m("david", "david-1"));
        assert!(!m("david", "davi"));
    }

    #[test]
    fn star_matches_everything() {
        assert!(Pattern::parse("*").unwrap().is_any());
        assert!(m("*", ""));
        assert!(m("*", "anything/at-all"));
    }

    #[test]
    fn prefix_and_suffix_globs() {
        assert!(matches!(
            Pattern::parse("david-*").unwrap(),
            Pattern::Prefix(_)
        ));
        assert!(m("david-*", "david-1"));
        assert!(m("david-*", "david-"));
        assert!(!m("david-*", "david"));
        assert!(!m("david-*", "xdavid-1"));
        assert!(matches!(
            Pattern::parse("*-prod").unwrap(),
            Pattern::Suffix(_)
        ));
        assert!(m("*-prod", "eu-prod"));
        assert!(!m("*-prod", "eu-prod-2"));
    }

    #[test]
    fn general_globs() {
        assert!(matches!(
            Pattern::parse("nginx-?").unwrap(),
            Pattern::Glob(..)
        ));
        assert!(m("nginx-?", "nginx-1"));
        assert!(!m("nginx-?", "nginx-10"));
        assert!(m("{dev,staging}-*", "staging-eu"));
        assert!(!m("{dev,staging}-*", "prod-eu"));
        assert!(m("web-[0-9]", "web-3"));
        assert!(!m("web-[0-9]", "web-a"));
        assert!(m("*-db-*", "eu-db-1"));
        assert!(!m("*-db-*", "eu-web-1"));
        assert!(m("/apis/*", "/apis/apps/v1"));
    }

    #[test]
    fn anchored_regex() {
        assert!(matches!(
            Pattern::parse("^david-[0-9]+$").unwrap(),
            Pattern::Regex(..)
        ));
        assert!(m("^david-[0-9]+$", "david-42"));
        assert!(!m("^david-[0-9]+$", "david-x"));
        assert!(!m("^david-[0-9]+$", "david-42x"));
    }

    #[test]
    fn literal_prefixes_never_reject_a_match() {
        assert_eq!(&*regex_prefix("david-[0-9]+"), "david-");
        assert_eq!(&*regex_prefix("davids?-x"), "david");
        assert_eq!(&*regex_prefix("ab*c"), "a");
        assert_eq!(&*regex_prefix("a|b"), "");
        assert_eq!(&*regex_prefix("(?i)david"), "");
        assert_eq!(&*glob_prefix("team-*-x"), "team-");
        assert_eq!(&*glob_prefix("{a,b}-*"), "");
        for (p, v) in [
            ("^davids?-x$", "david-x"),
            ("^ab*c$", "ac"),
            ("^(?i)DAVID$", "david"),
            ("^a|b$", "b"),
            ("^x{0,2}y$", "y"),
            ("team-*-x", "team-a-x"),
            ("{dev,stg}-?", "stg-1"),
        ] {
            assert!(m(p, v), "{p} should match {v}");
        }
    }

    #[test]
    fn unanchored_or_broken_regex_is_an_error() {
        let e = Pattern::parse("^david-").unwrap_err();
        assert!(e.0.contains("anchored"), "{e}");
        let e = Pattern::parse("^david-[0-9$").unwrap_err();
        assert!(e.0.contains("bad regex"), "{e}");
        assert!(Pattern::parse("").is_err());
        assert!(Pattern::parse("web-[").is_err());
    }

    #[test]
    fn set_matches_any_member() {
        let s = PatternSet::new(vec![
            Pattern::parse("a").unwrap(),
            Pattern::parse("b-*").unwrap(),
        ]);
        assert!(s.matches("a"));
        assert!(s.matches("b-1"));
        assert!(!s.matches("c"));
        assert!(!s.is_any());
        assert_eq!(s.to_string(), "[a, b-*]");
    }
}
