//! Administrator authentication: argon2 password hashes, HTTP Basic for the API, and a limit on
//! failed logins per source address (shared by the API and the dashboard).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::Argon2;
use base64::Engine;
use convene_schema::Db;
use convene_schema::store::users;

/// Failed logins allowed per address within [`WINDOW`] before further attempts are refused.
pub const MAX_FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(300);
/// How long a verified API credential is remembered, so API clients do not pay for argon2 on
/// every request.
const CACHE_TTL: Duration = Duration::from_secs(60);

pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// What makes a password acceptable for an administrator account.
pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < 10 {
        return Err("The password must have at least 10 characters.".into());
    }
    Ok(())
}

/// Counts failed logins per source address.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl LoginLimiter {
    /// `Err(seconds to wait)` when `addr` has failed too often recently.
    pub fn check(&self, addr: IpAddr) -> Result<(), u64> {
        let map = self.failures.lock().expect("limiter lock");
        match map.get(&addr) {
            Some((n, since)) if *n >= MAX_FAILURES && since.elapsed() < WINDOW => {
                Err((WINDOW - since.elapsed()).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    pub fn failed(&self, addr: IpAddr) {
        let mut map = self.failures.lock().expect("limiter lock");
        let entry = map.entry(addr).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
        if map.len() > 10_000 {
            map.retain(|_, (_, since)| since.elapsed() < WINDOW);
        }
    }

    pub fn succeeded(&self, addr: IpAddr) {
        self.failures.lock().expect("limiter lock").remove(&addr);
    }
}

/// Recently verified `(user, password)` pairs, keyed by a fast keyed digest of both.
#[derive(Default)]
pub struct CredentialCache {
    verified: Mutex<HashMap<(String, [u8; 32]), Instant>>,
    key: std::sync::OnceLock<[u8; 32]>,
}

impl CredentialCache {
    fn digest(&self, user: &str, password: &str) -> [u8; 32] {
        use blake2::{Blake2s256, Digest};
        let key = self.key.get_or_init(rand::random);
        let mut h = Blake2s256::new();
        h.update(key);
        h.update(user.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    fn hit(&self, user: &str, password: &str) -> bool {
        let k = (user.to_string(), self.digest(user, password));
        self.verified.lock().expect("cache lock").get(&k).is_some_and(|t| t.elapsed() < CACHE_TTL)
    }

    fn remember(&self, user: &str, password: &str) {
        let k = (user.to_string(), self.digest(user, password));
        let mut map = self.verified.lock().expect("cache lock");
        map.retain(|_, t| t.elapsed() < CACHE_TTL);
        map.insert(k, Instant::now());
    }

    pub fn forget_all(&self) {
        self.verified.lock().expect("cache lock").clear();
    }
}

/// Parses an `Authorization: Basic …` header value into user and password.
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let encoded = header.strip_prefix("Basic ").or_else(|| header.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Checks a user's password against the store (blocking: argon2 and the database).
pub fn check_credentials(db: &Db, cache: &CredentialCache, user: &str, password: &str) -> Result<bool, String> {
    if cache.hit(user, password) {
        return Ok(true);
    }
    let hash = users::password_hash(db, user).map_err(|e| e.to_string())?;
    let ok = match hash {
        Some(hash) => verify_password(password, &hash),
        None => {
            // Spend the same time as a real check so user names cannot be probed by timing.
            let _ = verify_password(password, "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g");
            false
        }
    };
    if ok {
        cache.remember(user, password);
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterx", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn basic_header() {
        assert_eq!(parse_basic("Basic YWRtaW46cGE6c3M="), Some(("admin".into(), "pa:ss".into())));
        assert_eq!(parse_basic("Bearer x"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }

    #[test]
    fn limiter_blocks_after_max_failures_and_resets_on_success() {
        let l = LoginLimiter::default();
        let a: IpAddr = "127.0.0.9".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(l.check(a).is_ok());
            l.failed(a);
        }
        assert!(l.check(a).is_err());
        assert!(l.check("127.0.0.10".parse().unwrap()).is_ok());
        l.succeeded(a);
        assert!(l.check(a).is_ok());
    }
}
