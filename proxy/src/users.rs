//! The users file and user authentication.
//!
//! The users file stores only hashes: `sha256:HEX` for static bearer tokens
//! and argon2 PHC strings for passwords (used by `kac login`). It also holds
//! each user's KAC groups and attributes (`team=platform`), which policies
//! test. The file is re-read when it changes, so revoking a user (removing
//! it, or `disabled: true`) takes effect without a restart.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UsersFileDoc {
    users: Vec<UserEntry>,
}

/// One user as written in the users file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserEntry {
    pub name: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// `sha256:HEX` hashes of static bearer tokens.
    #[serde(default)]
    pub tokens: Vec<String>,
    /// argon2 PHC string, for `kac login` with a password.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// A disabled user is refused everywhere (revocation).
    #[serde(default)]
    pub disabled: bool,
}

/// An authenticated user, as the rest of the proxy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    /// `token`, `x509`, `credential`.
    pub auth_method: &'static str,
}

/// The parsed users file, indexed for authentication.
#[derive(Debug, Default)]
pub struct Users {
    by_name: HashMap<String, UserEntry>,
    by_token_hash: HashMap<String, String>,
}

/// `sha256:HEX` of a token, the form stored in the users file.
pub fn token_hash(token: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(token.as_bytes())))
}

impl Users {
    pub fn parse(file: &str, text: &str) -> Result<Users, ConfigError> {
        let doc: UsersFileDoc = serde_yaml::from_str(text).map_err(|e| ConfigError {
            file: file.into(),
            line: e.location().map(|l| l.line()).unwrap_or(0),
            field: "users".into(),
            message: e.to_string(),
        })?;
        let mut users = Users::default();
        for (i, u) in doc.users.into_iter().enumerate() {
            let err = |field: &str, message: String| ConfigError {
                file: file.into(),
                line: text
                    .lines()
                    .position(|l| l.contains(&format!("name: {}", u.name)))
                    .map(|n| n + 1)
                    .unwrap_or(0),
                field: format!("users[{i}].{field}"),
                message,
            };
            if u.name.is_empty() || u.name.contains(char::is_whitespace) {
                return Err(err("name", format!("invalid user name {:?}", u.name)));
            }
            for t in &u.tokens {
                let ok = t
                    .strip_prefix("sha256:")
                    .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
                if !ok {
                    return Err(err(
                        "tokens",
                        "tokens are stored as sha256:HEX hashes only (kac-proxy users hash-token)"
                            .into(),
                    ));
                }
                if users
                    .by_token_hash
                    .insert(t.to_ascii_lowercase(), u.name.clone())
                    .is_some()
                {
                    return Err(err("tokens", "the same token hash is given twice".into()));
                }
            }
            if let Some(h) = &u.password_hash {
                if argon2::PasswordHash::new(h).is_err() {
                    return Err(err(
                        "passwordHash",
                        "not an argon2 PHC string ($argon2id$...)".into(),
                    ));
                }
            }
            if users.by_name.insert(u.name.clone(), u.clone()).is_some() {
                return Err(err("name", format!("duplicate user {:?}", u.name)));
            }
        }
        Ok(users)
    }

    fn user(&self, entry: &UserEntry, auth_method: &'static str) -> Option<User> {
        (!entry.disabled).then(|| User {
            name: entry.name.clone(),
            groups: entry.groups.clone(),
            attributes: entry.attributes.clone(),
            auth_method,
        })
    }

    /// A static bearer token from the users file.
    pub fn by_token(&self, token: &str) -> Option<User> {
        let name = self.by_token_hash.get(&token_hash(token))?;
        self.user(&self.by_name[name], "token")
    }

    /// An enabled user by name (client certificates, signed credentials).
    pub fn by_name(&self, name: &str, auth_method: &'static str) -> Option<User> {
        self.user(self.by_name.get(name)?, auth_method)
    }

    /// Whether the user exists and has a password hash (login timing: an
    /// unknown user must cost as much as a wrong password).
    pub fn has_password(&self, name: &str) -> bool {
        self.by_name
            .get(name)
            .is_some_and(|e| e.password_hash.is_some())
    }

    /// Check a password against the user's argon2 hash.
    pub fn check_password(&self, name: &str, password: &str) -> Option<User> {
        use argon2::PasswordVerifier;
        let entry = self.by_name.get(name)?;
        let hash = argon2::PasswordHash::new(entry.password_hash.as_deref()?).ok()?;
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .ok()?;
        self.user(entry, "password")
    }
}

/// The users file, re-read when its modification time changes.
pub struct UserDirectory {
    path: PathBuf,
    current: RwLock<(Arc<Users>, Option<SystemTime>)>,
}

impl UserDirectory {
    pub fn open(path: &Path) -> Result<UserDirectory, ConfigError> {
        let (users, mtime) = read_users(path)?;
        Ok(UserDirectory {
            path: path.to_owned(),
            current: RwLock::new((Arc::new(users), mtime)),
        })
    }

    pub fn current(&self) -> Arc<Users> {
        self.current.read().expect("poisoned").0.clone()
    }

    /// Re-read the file if it changed. A broken file keeps the old users in
    /// force (and is reported).
    pub fn poll_changes(&self) -> Option<Result<(), ConfigError>> {
        let mtime = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if mtime == self.current.read().expect("poisoned").1 {
            return None;
        }
        Some(read_users(&self.path).map(|(users, mtime)| {
            *self.current.write().expect("poisoned") = (Arc::new(users), mtime);
        }))
    }
}

fn read_users(path: &Path) -> Result<(Users, Option<SystemTime>), ConfigError> {
    let file = path.display().to_string();
    let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        line: 0,
        field: "-".into(),
        message: format!("cannot read users file: {e}"),
    })?;
    Ok((Users::parse(&file, &text)?, mtime))
}

/// Hash a password for the users file (argon2id, random salt).
pub fn hash_password(password: &str) -> String {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with default params")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Users {
        let text = format!(
            "users:\n  - name: david\n    groups: [dev]\n    attributes: {{team: apps}}\n    tokens: [{}]\n    passwordHash: '{}'\n  - name: gone\n    disabled: true\n    tokens: [{}]\n",
            token_hash("david-token"),
            hash_password("s3cret"),
            token_hash("gone-token"),
        );
        Users::parse("users.yaml", &text).unwrap()
    }

    #[test]
    fn tokens_authenticate_by_hash() {
        let u = users();
        let david = u.by_token("david-token").unwrap();
        assert_eq!(david.name, "david");
        assert_eq!(david.attributes["team"], "apps");
        assert_eq!(u.by_token("wrong"), None);
        assert_eq!(u.by_token("gone-token"), None, "disabled users are refused");
    }

    #[test]
    fn passwords_check_against_argon2() {
        let u = users();
        assert_eq!(u.check_password("david", "s3cret").unwrap().name, "david");
        assert!(u.check_password("david", "S3cret").is_none());
        assert!(u.check_password("nobody", "s3cret").is_none());
    }

    #[test]
    fn plaintext_tokens_are_rejected() {
        let e = Users::parse("u.yaml", "users:\n  - name: x\n    tokens: [hunter2]\n").unwrap_err();
        assert_eq!(e.field, "users[0].tokens");
        assert_eq!(e.line, 2);
    }

    #[test]
    fn directory_reloads_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("users.yaml");
        let write = |tok: &str| {
            std::fs::write(
                &p,
                format!("users:\n  - name: a\n    tokens: [{}]\n", token_hash(tok)),
            )
            .unwrap()
        };
        write("one");
        let d = UserDirectory::open(&p).unwrap();
        assert!(d.current().by_token("one").is_some());
        std::thread::sleep(std::time::Duration::from_millis(20));
        write("two");
        // Make sure the mtime differs even on coarse filesystems.
        let later = SystemTime::now() + std::time::Duration::from_secs(2);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert!(matches!(d.poll_changes(), Some(Ok(()))));
        assert!(d.current().by_token("one").is_none());
        assert!(d.current().by_token("two").is_some());
    }
}
