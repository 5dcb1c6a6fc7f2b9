//! Tag edits: `K=V` sets a tag, `K-` removes it (as `kubectl label`).

use std::collections::BTreeMap;

use anyhow::{bail, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagEdit {
    Set(String, String),
    Remove(String),
}

/// Parse `K=V` or `K-`. Keys are what policies can name in `clusterTag:`:
/// letters, digits, `.`, `_`, `-`, `/`, starting with a letter or digit.
pub fn parse_tag_edit(s: &str) -> Result<TagEdit> {
    if let Some((k, v)) = s.split_once('=') {
        check_key(k, s)?;
        if v.chars().any(char::is_control) {
            bail!("tag {s:?}: the value has control characters");
        }
        return Ok(TagEdit::Set(k.to_owned(), v.to_owned()));
    }
    if let Some(k) = s.strip_suffix('-') {
        check_key(k, s)?;
        return Ok(TagEdit::Remove(k.to_owned()));
    }
    bail!("tag {s:?}: write KEY=VALUE to set a tag or KEY- to remove it")
}

/// Parse `K=V` only (import and sync take no removals).
pub fn parse_tag(s: &str) -> Result<(String, String)> {
    match parse_tag_edit(s)? {
        TagEdit::Set(k, v) => Ok((k, v)),
        TagEdit::Remove(_) => bail!("tag {s:?}: expected KEY=VALUE"),
    }
}

fn check_key(k: &str, whole: &str) -> Result<()> {
    let ok = k.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
    if !ok {
        bail!("tag {whole:?}: key {k:?} must be letters, digits, '.', '_', '-' or '/', starting with a letter or digit");
    }
    Ok(())
}

/// Apply edits in order; removing an absent tag is an error (a typo would
/// otherwise pass silently).
pub fn apply(tags: &mut BTreeMap<String, String>, edits: &[TagEdit]) -> Result<()> {
    for e in edits {
        match e {
            TagEdit::Set(k, v) => {
                tags.insert(k.clone(), v.clone());
            }
            TagEdit::Remove(k) => {
                if tags.remove(k).is_none() {
                    bail!("tag {k:?} is not set (tags: {})", render(tags));
                }
            }
        }
    }
    Ok(())
}

/// `K=V,K2=V2` for humans.
pub fn render(tags: &BTreeMap<String, String>) -> String {
    if tags.is_empty() {
        return "-".into();
    }
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_parse_and_apply_like_kubectl_label() {
        let mut t = BTreeMap::from([("ClusterType".to_string(), "dev".to_string())]);
        let edits: Vec<TagEdit> = ["ClusterType=prod", "region=eu-west-1", "region-"]
            .iter()
            .map(|s| parse_tag_edit(s).unwrap())
            .collect();
        apply(&mut t, &edits).unwrap();
        assert_eq!(render(&t), "ClusterType=prod");
        assert!(apply(&mut t, &[TagEdit::Remove("nope".into())]).is_err());
        // Empty values are allowed, bad keys are not.
        assert_eq!(
            parse_tag_edit("team=").unwrap(),
            TagEdit::Set("team".into(), "".into())
        );
        for bad in ["", "=x", "a b=c", "-", "noequals", "k=\n"] {
            assert!(parse_tag_edit(bad).is_err(), "{bad:?}");
        }
        assert!(parse_tag("k-").is_err());
    }
}
