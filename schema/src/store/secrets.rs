//! Secret fields (`Kind::Secret`, e.g. an LDAP bind password) encrypted at rest with
//! XChaCha20-Poly1305. The key is 32 random bytes in `<data_dir>/secret_key` (mode 0600, created on
//! first use) and is installed once per process with [`install_key_file`]; the stored form is
//! `enc:v1:<base64(nonce ‖ ciphertext)>`. Only [`super::config::secret`] decrypts.
//!
//! Values stored before a key was installed (or by a process without one) stay readable as plain
//! text and are encrypted the next time they are written. The same code runs on SQLite and
//! PostgreSQL: the secret is just a string inside the object's JSON document.

use std::io::Write;
use std::path::Path;
use std::sync::RwLock;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde_json::{Map, Value};

use crate::descriptor::{Kind, Resource};

const PREFIX: &str = "enc:v1:";

static KEY: RwLock<Option<[u8; 32]>> = RwLock::new(None);

/// Reads the key from `path`, creating it (32 random bytes, mode 0600) when it does not exist, and
/// installs it for this process.
pub fn install_key_file(path: &Path) -> Result<(), String> {
    let key = match std::fs::read(path) {
        Ok(bytes) if bytes.len() == 32 => bytes.try_into().expect("32 bytes"),
        Ok(bytes) => return Err(format!("{}: expected 32 bytes, found {}", path.display(), bytes.len())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            let mut key = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut key);
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            match opts.open(path) {
                Ok(mut f) => f.write_all(&key).map_err(|e| format!("{}: {e}", path.display()))?,
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return install_key_file(path),
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
            key
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    install_key(key);
    Ok(())
}

/// Installs `key` for this process (tests, embedding).
pub fn install_key(key: [u8; 32]) {
    *KEY.write().expect("secret key lock") = Some(key);
}

fn key() -> Option<[u8; 32]> {
    *KEY.read().expect("secret key lock")
}

/// Whether a stored value is in the encrypted form.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// Encrypts `plain` when a key is installed (empty values stay empty).
pub fn seal(plain: &str) -> String {
    let Some(key) = key() else {
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| tracing::warn!("no secret key installed: secrets are stored unencrypted"));
        return plain.to_string();
    };
    if plain.is_empty() {
        return String::new();
    }
    let cipher = XChaCha20Poly1305::new(&key.into());
    let mut nonce = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let sealed = cipher.encrypt(XNonce::from_slice(&nonce), plain.as_bytes()).expect("encryption cannot fail");
    let mut out = nonce.to_vec();
    out.extend(sealed);
    format!("{PREFIX}{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(out))
}

/// Decrypts a stored value (plain values pass through).
pub fn unseal(stored: &str) -> Result<String, String> {
    let Some(b64) = stored.strip_prefix(PREFIX) else { return Ok(stored.to_string()) };
    let key = key().ok_or("the secret is encrypted but no secret key is installed")?;
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64).map_err(|_| "the stored secret is corrupt")?;
    if bytes.len() < 24 {
        return Err("the stored secret is corrupt".into());
    }
    let cipher = XChaCha20Poly1305::new(&key.into());
    let plain = cipher
        .decrypt(XNonce::from_slice(&bytes[..24]), &bytes[24..])
        .map_err(|_| "the stored secret cannot be decrypted with this secret_key")?;
    String::from_utf8(plain).map_err(|_| "the stored secret is corrupt".into())
}

/// Encrypts the secret fields of `res` that `body` sets, in the validated document `data`.
pub(crate) fn seal_fields(res: &Resource, body: &Value, data: &mut Map<String, Value>) {
    for field in res.fields.iter().filter(|f| matches!(f.kind, Kind::Secret { .. })) {
        if body.get(field.name).is_some_and(Value::is_string)
            && let Some(Value::String(s)) = data.get_mut(field.name)
        {
            *s = seal(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_plain_fallback() {
        let dir = std::env::temp_dir().join(format!("convene-secret-{}", std::process::id()));
        let path = dir.join("secret_key");
        install_key_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let a = seal("hunter2");
        let b = seal("hunter2");
        assert!(a.starts_with(PREFIX) && a != b, "random nonce");
        assert!(!a.contains("hunter2"));
        assert_eq!(unseal(&a).unwrap(), "hunter2");
        assert_eq!(unseal("legacy").unwrap(), "legacy");
        let mut tampered = a.clone();
        tampered.pop();
        tampered.push('A');
        assert!(unseal(&tampered).is_err() || unseal(&tampered).unwrap() != "hunter2");
        install_key_file(&path).unwrap(); // reads the same key back
        assert_eq!(unseal(&a).unwrap(), "hunter2");
        let _ = std::fs::remove_dir_all(dir);
    }
}
