//! kac-config: the plumbing every KAC YAML config file shares.
//!
//! Owns: the `file:line: field: message` error ([`ConfigError`]) that makes
//! a bad config refuse to start with a pointer to the mistake, reading a
//! file into that error, turning a YAML parse error into it (with the line
//! of the key the message names, which serde alone often gets wrong), line
//! lookups for validation errors, and duration strings (`250ms`, `5s`,
//! `10m`, `8h`, `2d`).
//!
//! Must not touch: any file's schema or validation rules. Those belong to
//! the crate that reads the file (kac-proxy's config and users file,
//! kac-forward's forwarder file); this crate only gives their errors one
//! shape and one set of helpers.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A configuration error: `file:line: field: message` (line 0 when no line
/// can be named, field `-` when no field can).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {field}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub message: String,
}

/// Reads a config file; a failure names the file.
pub fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        line: 0,
        field: "-".into(),
        message: format!("cannot read: {e}"),
    })
}

/// A YAML (serde) error as a [`ConfigError`].
///
/// serde prefixes the message with the field path (`clusters[0]: …`),
/// which becomes the field. It reports an unknown key at the first line of
/// the enclosing map (and errors inside internally tagged enums without a
/// location), so the line is that of the key the message names, searched
/// from the reported line on; line 0 when nothing can be found.
pub fn yaml_error(file: &str, text: &str, e: &serde_yaml::Error) -> ConfigError {
    let msg = e.to_string();
    let (field, message) = match msg.split_once(": ") {
        Some((f, m)) if !f.contains(' ') => (f.to_string(), m.to_string()),
        _ => ("-".to_string(), msg.clone()),
    };
    let message = message
        .rsplit_once(" at line ")
        .map(|(m, _)| m.to_string())
        .unwrap_or(message);
    let reported = e.location().map(|l| l.line());
    let line = named_key_line(text, &message, reported.unwrap_or(1))
        .or(reported)
        .unwrap_or(0);
    ConfigError {
        file: file.into(),
        line,
        field,
        message,
    }
}

/// Line (at or after `from`) of the key an "unknown field `x`" message
/// names.
fn named_key_line(text: &str, message: &str, from: usize) -> Option<usize> {
    if !message.starts_with("unknown field") {
        return None;
    }
    let key = message.split('`').nth(1)?;
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find(|(_, l)| {
            let t = l.trim_start_matches([' ', '-', '{']);
            t.starts_with(&format!("{key}:")) || l.contains(&format!(" {key}:"))
        })
        .map(|(i, _)| i + 1)
}

/// Best-effort line of the first occurrence of `needle` (1-based, 0 if
/// absent), for validation errors found after parsing.
pub fn find_line(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or(0)
}

/// Durations as `250ms`, `5s`, `10m`, `8h`, `2d` (a whole number and one
/// unit; overflow is an error, not a wrap).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {s:?} has no unit (ms, s, m, h, d)"))?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("duration {s:?} does not start with a number"))?;
    let ms = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1_000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        _ => return Err(format!("duration {s:?} has unknown unit {unit:?}")),
    };
    ms.map(Duration::from_millis)
        .ok_or_else(|| format!("duration {s:?} is too large"))
}

/// serde: a duration string field (`#[serde(with = "kac_config::duration")]`
/// or `deserialize_with = "kac_config::duration::deserialize"`).
pub mod duration {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration(" 5s "), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(2 * 86400)));
        for bad in ["10", "ms", "", "1.5s", "-1s", "10y", "1 s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(parse_duration("99999999999999999999h").is_err());
        assert!(parse_duration("999999999999999d").is_err());
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        #[serde(with = "duration")]
        wait: Duration,
    }

    fn err(text: &str) -> ConfigError {
        let e = serde_yaml::from_str::<Doc>(text).unwrap_err();
        yaml_error("f.yaml", text, &e)
    }

    #[test]
    fn unknown_keys_point_at_their_own_line() {
        let e = err("name: a\ninner:\n  wait: 1s\n  typo: 3\n");
        assert_eq!((e.line, e.field.as_str()), (4, "inner"), "{e}");
        assert!(e.message.contains("unknown field `typo`"), "{e}");
        assert!(!e.message.contains(" at line "), "{e}");
        assert_eq!(e.to_string(), format!("f.yaml:4: inner: {}", e.message));
    }

    #[test]
    fn bad_values_keep_serdes_line_and_field() {
        let e = err("name: a\ninner:\n  wait: soon\n");
        assert_eq!((e.line, e.field.as_str()), (3, "inner"), "{e}");
        assert!(e.message.contains("\"soon\""), "{e}");
        let e = err("name: 'unterminated\n");
        assert_eq!(e.field, "-", "{e}");
    }

    #[test]
    fn lines_and_reads() {
        assert_eq!(find_line("a: 1\nb: 2\n", "b:"), 2);
        assert_eq!(find_line("a: 1\n", "z"), 0);
        let e = read(Path::new("/nonexistent/kac.yaml")).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (0, "-"));
        assert!(e
            .to_string()
            .starts_with("/nonexistent/kac.yaml:0: -: cannot read"));
    }
}
