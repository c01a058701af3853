//! REST tokens: which ACL user a bearer token stands for.
//!
//! - the full token (`rest-token`, or generated at first start into `<dir>/rest-token`) is
//!   the `default` user;
//! - the read-only token (`rest-readonly-token`) is `default_ro`, an ACL user the node
//!   creates through the log when it is missing, allowed read commands only;
//! - `ACL RESTTOKEN user password` issues a token for any user that has a password: the
//!   token carries the user's name and a new random secret, and the secret's SHA-256 becomes
//!   one more password of that user (an ACL SETUSER entry), so such tokens are replicated,
//!   survive restarts, work on every node, and are revoked with the user's passwords
//!   (`ACL SETUSER user resetpass`, `<password`).
//!
//! Architecture invariant: a token is never logged and never stored in plaintext by the
//! server (the generated `rest-token` file is the operator's copy); the node keeps SHA-256
//! hashes only and compares them in constant time.

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use cairn_engine::Body;
use cairn_engine::acl::rules::hashes_equal;
use cairn_engine::acl::{Hash, User, Users, hash_password, hex};

use crate::config::Config;

/// The ACL user the read-only token stands for (Upstash's name).
pub const READONLY_USER: &str = "default_ro";

/// The rules `default_ro` is created with: every key and channel, read commands only, and
/// not the commands that walk the whole keyspace (as Upstash's read-only token).
pub const READONLY_RULES: &[&str] = &[
    "on", "~*", "&*", "+@read", "-keys", "-scan", "+ping", "+echo", "+time",
];

/// Random bytes in a generated secret: 256 bits.
const SECRET_BYTES: usize = 32;

/// The hashes of the node's two configured tokens.
pub struct Tokens {
    full: Hash,
    readonly: Option<Hash>,
}

impl Tokens {
    /// From the configuration; with no `rest-token`, the one in `<dir>/rest-token`, made on
    /// first start.
    pub fn load(config: &Config) -> anyhow::Result<Tokens> {
        let full = match &config.rest.token {
            Some(token) => token.clone(),
            None => generated_token(&config.dir.join("rest-token"))?,
        };
        Ok(Tokens {
            full: hash_password(full.as_bytes()),
            readonly: config
                .rest
                .readonly_token
                .as_ref()
                .map(|t| hash_password(t.as_bytes())),
        })
    }

    /// The user `token` stands for, if any (enabled, still existing).
    pub fn user_of(&self, token: &[u8], users: &Users) -> Option<Arc<User>> {
        let hash = hash_password(token);
        // Both are compared whatever the first gives, so time does not tell which matched.
        let full = hashes_equal(&hash, &self.full);
        let readonly = self
            .readonly
            .as_ref()
            .is_some_and(|h| hashes_equal(&hash, h));
        let user = if full {
            Some(users.default_user().clone())
        } else if readonly {
            users.get(READONLY_USER.as_bytes()).cloned()
        } else {
            let (name, secret) = decode_user_token(token)?;
            let user = users.get(&name)?;
            // A `nopass` user accepts any secret: such users get no user tokens.
            (!user.nopass() && user.accepts(&secret)).then(|| user.clone())
        };
        user.filter(|u| u.enabled())
    }
}

/// Reads the generated token, or makes one (owner-only file) on first start.
fn generated_token(path: &Path) -> anyhow::Result<String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let token = text.trim().to_string();
        if !token.is_empty() {
            return Ok(token);
        }
    }
    let token = URL_SAFE_NO_PAD.encode(random_secret()?);
    write_private(path, format!("{token}\n").as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write the REST token to {}: {e}", path.display()))?;
    tracing::warn!(
        "no rest-token configured: generated one into {} (set CAIRN_REST_TOKEN to choose it)",
        path.display()
    );
    Ok(token)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

fn random_secret() -> anyhow::Result<[u8; SECRET_BYTES]> {
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut secret)
        .map_err(|e| anyhow::anyhow!("no randomness from the operating system: {e}"))?;
    Ok(secret)
}

/// A new token for `user`: the text handed to the client, and the ACL SETUSER rule that adds
/// its secret's hash to the user's passwords.
pub fn issue_user_token(user: &[u8]) -> anyhow::Result<(String, String)> {
    let secret = hex(&random_secret()?);
    let mut raw = user.to_vec();
    raw.push(b':');
    raw.extend_from_slice(secret.as_bytes());
    let rule = format!("#{}", hex(&hash_password(secret.as_bytes())));
    Ok((URL_SAFE_NO_PAD.encode(raw), rule))
}

/// (user, secret) of a token made by `issue_user_token`.
fn decode_user_token(token: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    let at = raw.iter().rposition(|&c| c == b':')?;
    Some((raw[..at].to_vec(), raw[at + 1..].to_vec()))
}

/// The entry that creates `default_ro`, when the REST API has a read-only token and the user
/// will not exist once `startup` (the aclfile or requirepass entry) is applied.
pub fn readonly_user_entry(config: &Config, users: &Users, startup: Option<&Body>) -> Option<Body> {
    if config.rest.port == 0 || config.rest.readonly_token.is_none() {
        return None;
    }
    let exists = match startup {
        Some(Body::Users { lines }) => lines
            .iter()
            .any(|l| l.starts_with(format!("user {READONLY_USER} ").as_bytes())),
        _ => users.get(READONLY_USER.as_bytes()).is_some(),
    };
    if exists {
        return None;
    }
    let mut argv = vec![
        Bytes::from_static(b"ACL"),
        Bytes::from_static(b"SETUSER"),
        Bytes::from_static(READONLY_USER.as_bytes()),
    ];
    argv.extend(
        READONLY_RULES
            .iter()
            .map(|r| Bytes::from_static(r.as_bytes())),
    );
    Some(Body::Command(argv))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_tokens_carry_the_user_and_a_secret_whose_hash_is_the_rule() {
        let (token, rule) = issue_user_token(b"app:1").unwrap();
        let (user, secret) = decode_user_token(token.as_bytes()).unwrap();
        assert_eq!(user, b"app:1");
        assert_eq!(secret.len(), 64);
        assert_eq!(rule, format!("#{}", hex(&hash_password(&secret))));
        let (other, _) = issue_user_token(b"app:1").unwrap();
        assert_ne!(token, other, "each token has its own secret");
        assert!(decode_user_token(b"not base64!").is_none());
    }
}
