//! The directory side: connect (ldap:// with StartTLS, ldaps://, or plain ldap:// only when the
//! source permits it), bind, and search with the Simple Paged Results control (RFC 2696) so large
//! directories come back page by page. TLS is rustls (no OpenSSL); certificates are verified against the
//! system's trusted CAs (rustls-native-certs) plus the PEM file named by `CONVENE_LDAP_CA_FILE` (a private
//! CA), unless the source turns `ldap_verify_certificate` off.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use ldap3::adapters::{EntriesOnly, PagedResults};
use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use serde_json::{Map, Value};

use super::template::Entry;

/// How to reach and search a directory (an `ldap_sync_source` plus a template's search).
#[derive(Debug, Clone)]
pub struct Source {
    pub url: String,
    pub base_dn: String,
    pub bind_dn: String,
    pub password: String,
    pub starttls: bool,
    pub permit_no_tls: bool,
    pub verify_certificate: bool,
    pub page_size: i32,
    pub timeout: Duration,
}

impl Source {
    /// From a stored `ldap_sync_source` and its (decrypted or file-provided) password.
    pub fn from_config(src: &Map<String, Value>, password: String) -> Source {
        let s = |k: &str| src.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let b = |k: &str, d: bool| src.get(k).and_then(Value::as_bool).unwrap_or(d);
        let i = |k: &str, d: i64| src.get(k).and_then(Value::as_i64).unwrap_or(d);
        Source {
            url: s("ldap_server"),
            base_dn: s("ldap_base_dn"),
            bind_dn: s("ldap_bind_username"),
            password,
            starttls: b("ldap_use_starttls", true),
            permit_no_tls: b("ldap_permit_no_tls", false),
            verify_certificate: b("ldap_verify_certificate", true),
            page_size: i("ldap_search_page_size", 500).clamp(1, 10_000) as i32,
            timeout: Duration::from_secs(i("ldap_timeout", 30).clamp(1, 3600) as u64),
        }
    }
}

/// Attributes asked for besides the user attributes: stable identities.
const OPERATIONAL: &[&str] = &["*", "entryUUID", "objectGUID"];

/// Environment variable naming a PEM file of CA certificates trusted for LDAP over TLS, in addition
/// to the system's (for a directory whose certificate comes from a private CA).
pub const CA_FILE_ENV: &str = "CONVENE_LDAP_CA_FILE";

/// The certificates of a PEM CA bundle (`what` names it in errors). Anything other than
/// certificates (a key, say) is skipped; a bundle with no certificate, bad PEM, or a certificate
/// that is not a usable CA certificate is an error.
pub fn parse_ca_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut certs = Vec::new();
    for (i, c) in CertificateDer::pem_slice_iter(pem).enumerate() {
        let c = c.map_err(|e| format!("{what}: PEM block {} cannot be read: {e}", i + 1))?;
        // A trust anchor must parse as an X.509 certificate; check each one so the error names it.
        RootCertStore::empty().add(c.clone()).map_err(|e| {
            let why = match e {
                rustls::Error::InvalidCertificate(c) => format!("{c:?}"),
                e => e.to_string(),
            };
            format!("{what}: certificate {} is not a valid X.509 certificate ({why})", i + 1)
        })?;
        certs.push(c);
    }
    if certs.is_empty() {
        return Err(format!("{what} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
    }
    Ok(certs)
}

/// The extra CAs from [`CA_FILE_ENV`], read at each connection (so a changed file counts at the
/// next sync); none when it is unset or empty.
pub fn extra_cas() -> Result<Vec<CertificateDer<'static>>, String> {
    let Some(path) = std::env::var_os(CA_FILE_ENV).filter(|p| !p.is_empty()) else { return Ok(Vec::new()) };
    let what = format!("{CA_FILE_ENV} {}", path.to_string_lossy());
    let pem = std::fs::read(&path).map_err(|e| format!("Cannot read {what}: {e}"))?;
    parse_ca_pem(&pem, &what)
}

/// The system's trusted CAs, loaded once.
static SYSTEM_CAS: LazyLock<Vec<CertificateDer<'static>>> = LazyLock::new(|| {
    let res = rustls_native_certs::load_native_certs();
    for e in &res.errors {
        tracing::warn!("loading the system's trusted CAs: {e}");
    }
    res.certs
});

/// The rustls configuration when certificates are verified: the system's CAs plus [`extra_cas`].
fn tls_config() -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(SYSTEM_CAS.iter().cloned());
    for c in extra_cas()? {
        roots.add(c).map_err(|e| format!("{CA_FILE_ENV}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("No trusted CA certificates: the system store is empty and {CA_FILE_ENV} is not set"));
    }
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Why a connection could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// Our side is misconfigured (a bad CA file): never worked around.
    Config(String),
    /// The server cannot be reached.
    Unreachable(String),
    /// TLS could not be set up: StartTLS refused, handshake or certificate failure.
    Tls(String),
    /// Connected, but the bind was refused.
    Bind(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (ConnectError::Config(m) | ConnectError::Unreachable(m) | ConnectError::Tls(m) | ConnectError::Bind(m)) = self;
        f.write_str(m)
    }
}

/// Words an administrator can act on for a failed certificate check (`why` is rustls's reason).
pub fn explain_certificate_error(url: &str, why: &str) -> String {
    let hint = if why.contains("UnknownIssuer") {
        format!(
            " The certificate is not signed by a trusted CA: add the CA certificate (PEM) to the file named by {CA_FILE_ENV}, or to the system's trusted CAs."
        )
    } else if why.contains("NotValidForName") {
        " The certificate does not name the host in ldap_server: use a host name or address it was issued for.".to_string()
    } else if why.contains("Expired") || why.contains("NotValidYet") {
        " The certificate is outside its validity period (check the server's certificate and both clocks).".to_string()
    } else {
        String::new()
    };
    format!("TLS certificate verification of {url} failed: {why}.{hint}")
}

/// Sorts an ldap3 connection error (`starttls`: the StartTLS operation was asked for).
fn classify(url: &str, e: &ldap3::LdapError, starttls: bool, tls: bool) -> ConnectError {
    use ldap3::LdapError;
    if let LdapError::Io { source } = e {
        if let Some(tls_err) = source.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            return match tls_err {
                rustls::Error::InvalidCertificate(c) => ConnectError::Tls(explain_certificate_error(url, &format!("{c:?}"))),
                other => ConnectError::Tls(format!("TLS with {url} failed: {other}")),
            };
        }
        use std::io::ErrorKind::*;
        if matches!(source.kind(), ConnectionRefused | HostUnreachable | NetworkUnreachable | AddrNotAvailable | NotFound) {
            return ConnectError::Unreachable(format!("Cannot connect to {url}: {e}"));
        }
    }
    match e {
        LdapError::LdapResult { result } if starttls => ConnectError::Tls(format!(
            "StartTLS to {url} was refused by the server (rc={}{}): it does not offer TLS on this port",
            result.rc,
            if result.text.is_empty() { String::new() } else { format!(", \"{}\"", result.text) }
        )),
        LdapError::Rustls { .. } | LdapError::DNSName { .. } => ConnectError::Tls(format!("TLS with {url} failed: {e}")),
        LdapError::Timeout { .. } => ConnectError::Unreachable(format!("Cannot connect to {url}: {e}")),
        _ if tls && !starttls => ConnectError::Tls(format!("TLS with {url} failed: {e} (does the server offer ldaps:// on this port?)")),
        _ if tls => ConnectError::Tls(format!("TLS with {url} failed: {e}")),
        _ => ConnectError::Unreachable(format!("Cannot connect to {url}: {e}")),
    }
}

async fn connect(src: &Source, starttls: bool) -> Result<ldap3::Ldap, ConnectError> {
    let tls = starttls || src.url.to_ascii_lowercase().starts_with("ldaps://");
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(src.timeout)
        .set_starttls(starttls)
        .set_no_tls_verify(!src.verify_certificate);
    if tls && src.verify_certificate {
        settings = settings.set_config(tls_config().map_err(ConnectError::Config)?);
    }
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &src.url)
        .await
        .map_err(|e| classify(&src.url, &e, starttls, tls))?;
    ldap3::drive!(conn);
    ldap.with_timeout(src.timeout);
    if !src.bind_dn.is_empty() {
        let res = ldap
            .simple_bind(&src.bind_dn, &src.password)
            .await
            .map_err(|e| ConnectError::Bind(format!("Bind to {} failed: {e}", src.url)))?;
        if res.rc != 0 {
            let why = if res.rc == 49 { "invalid credentials (wrong bind DN or password)".to_string() } else { format!("{res}") };
            return Err(ConnectError::Bind(format!("Bind to {} as \"{}\" failed: {why}", src.url, src.bind_dn)));
        }
    }
    Ok(ldap)
}

/// Connects and binds: ldaps:// is TLS from the start; ldap:// uses StartTLS when enabled and
/// falls back to plain text only when `ldap_permit_no_tls` allows it (Pexip's "allow insecure
/// connections if TLS cannot be established"); a bad CA file or an unreachable server never falls back.
pub async fn open(src: &Source) -> Result<ldap3::Ldap, String> {
    let url = src.url.to_ascii_lowercase();
    if url.starts_with("ldaps://") {
        return connect(src, false).await.map_err(|e| e.to_string());
    }
    if !url.starts_with("ldap://") {
        return Err(format!("\"{}\" is not an ldap:// or ldaps:// URL", src.url));
    }
    if src.starttls {
        match connect(src, true).await {
            Ok(l) => return Ok(l),
            Err(ConnectError::Tls(e)) if src.permit_no_tls => {
                tracing::warn!("{e}; continuing without TLS as the source permits (ldap_permit_no_tls)");
            }
            Err(ConnectError::Tls(e)) => {
                return Err(format!("{}. Not continuing in plain text: ldap_permit_no_tls is off.", e.trim_end_matches('.')));
            }
            Err(e) => return Err(e.to_string()),
        }
    } else if !src.permit_no_tls {
        return Err(format!(
            "{} is plain ldap:// without StartTLS: turn on ldap_use_starttls, use ldaps://, or allow it with ldap_permit_no_tls",
            src.url
        ));
    }
    connect(src, false).await.map_err(|e| e.to_string())
}

/// Where a template searches: `ldap_user_search_dn` relative to the base DN.
pub fn search_base(src: &Source, relative: &str) -> String {
    match (relative.trim(), src.base_dn.trim()) {
        ("", base) => base.to_string(),
        (rel, "") => rel.to_string(),
        (rel, base) => format!("{rel},{base}"),
    }
}

fn entry_from(se: SearchEntry) -> Entry {
    let mut attrs: BTreeMap<String, Vec<String>> = se.attrs.into_iter().collect();
    for (k, vals) in se.bin_attrs {
        // Binary attributes (objectGUID) as base64, for pex_to_uuid.
        use base64::Engine;
        attrs.insert(k, vals.iter().map(|v| base64::engine::general_purpose::STANDARD.encode(v)).collect());
    }
    let find = |name: &str| attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.first()).cloned();
    let key = find("entryUUID").or_else(|| find("objectGUID")).unwrap_or_else(|| se.dn.to_lowercase());
    Entry { dn: se.dn, key, attrs }
}

/// Searches the subtree under `base` with `filter`, paged; `limit` stops after that many entries
/// (preview). `progress` is told how many entries have arrived. Any failure — including one on a
/// later page — is an error: a partial answer must never look complete.
pub async fn search(
    src: &Source,
    base: &str,
    filter: &str,
    limit: Option<usize>,
    mut progress: impl FnMut(usize),
) -> Result<Vec<Entry>, String> {
    let mut ldap = open(src).await?;
    let adapters: Vec<Box<dyn ldap3::adapters::Adapter<_, _>>> =
        vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(src.page_size))];
    let mut stream = ldap
        .streaming_search_with(adapters, base, Scope::Subtree, filter, OPERATIONAL.to_vec())
        .await
        .map_err(|e| format!("Search of \"{base}\" failed: {e}"))?;
    let mut out = Vec::new();
    loop {
        match stream.next().await {
            Ok(Some(re)) => {
                out.push(entry_from(SearchEntry::construct(re)));
                if out.len() % 500 == 0 {
                    progress(out.len());
                }
                if limit.is_some_and(|n| out.len() >= n) {
                    let _ = stream.finish().await;
                    let _ = ldap.unbind().await;
                    return Ok(out);
                }
            }
            Ok(None) => break,
            Err(e) => return Err(format!("Search of \"{base}\" failed after {} entries: {e}", out.len())),
        }
    }
    let res = stream.finish().await;
    let _ = ldap.unbind().await;
    if res.rc != 0 {
        return Err(format!("Search of \"{base}\" failed: {res}"));
    }
    progress(out.len());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed CA certificate (openssl, valid until 2126); only parsed here, never trusted.
    const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBlTCCATugAwIBAgIUU6J+PIB2Ltf7abNXh9LCvW+xMegwCgYIKoZIzj0EAwIw
HzEdMBsGA1UEAwwUQ29udmVuZSB1bml0IHRlc3QgQ0EwIBcNMjYxMTI1MTEwNzQ4
WhgPMjEyNjExMDExMTA3NDhaMB8xHTAbBgNVBAMMFENvbnZlbmUgdW5pdCB0ZXN0
IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEW8uupNWpcYNVAjEaGOBGyPi0
MVJXeg/IZ1kfO15goTUHGFX4pBHfZ5cW/FQoAgZkUwD5OjqtMbdCPcKAHlT266NT
MFEwHQYDVR0OBBYEFHZZvFP8FM/LusJAu5hs/wVdB3OvMB8GA1UdIwQYMBaAFHZZ
vFP8FM/LusJAu5hs/wVdB3OvMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID
SAAwRQIgOLsGqy39oDhr/aR4LUPkNQfEE2isW4ttfuM6ZI9zar8CIQCTbhPqFMgj
IsdhQbhaz0yE9JzeBKOyAdnmhzYvCyK6fA==
-----END CERTIFICATE-----
";

    #[test]
    fn ca_bundles_are_parsed_and_bad_ones_named() {
        assert_eq!(parse_ca_pem(CA.as_bytes(), "f").unwrap().len(), 1);
        // A bundle with two certificates and a key (skipped) between them.
        let bundle = format!("{CA}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n{CA}");
        assert_eq!(parse_ca_pem(bundle.as_bytes(), "f").unwrap().len(), 2);
        let e = parse_ca_pem(b"not a certificate\n", "CONVENE_LDAP_CA_FILE /x.pem").unwrap_err();
        assert_eq!(e, "CONVENE_LDAP_CA_FILE /x.pem holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        let e = parse_ca_pem(b"", "f").unwrap_err();
        assert!(e.contains("no PEM certificate"), "{e}");
        let bad = format!("{CA}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        let e = parse_ca_pem(bad.as_bytes(), "f").unwrap_err();
        assert!(e.starts_with("f: certificate 2 is not a valid X.509 certificate"), "{e}");
        let cut = &CA[..CA.len() - 30];
        assert!(parse_ca_pem(cut.as_bytes(), "f").is_err(), "a truncated PEM block is an error");
    }

    #[test]
    fn certificate_errors_say_what_to_do() {
        let e = explain_certificate_error("ldaps://d:636/", "UnknownIssuer");
        assert!(e.starts_with("TLS certificate verification of ldaps://d:636/ failed: UnknownIssuer."), "{e}");
        assert!(e.contains(CA_FILE_ENV), "{e}");
        let e = explain_certificate_error("ldaps://d:636/", "NotValidForNameContext { .. }");
        assert!(e.contains("does not name the host"), "{e}");
        let e = explain_certificate_error("ldaps://d:636/", "ExpiredContext { .. }");
        assert!(e.contains("validity period"), "{e}");
    }

    #[test]
    fn connect_errors_are_sorted() {
        let io = |kind| ldap3::LdapError::Io { source: std::io::Error::from(kind) };
        let url = "ldap://d/";
        assert!(matches!(classify(url, &io(std::io::ErrorKind::ConnectionRefused), true, true), ConnectError::Unreachable(_)));
        assert!(matches!(classify(url, &io(std::io::ErrorKind::UnexpectedEof), false, true), ConnectError::Tls(_)));
        assert!(matches!(classify(url, &io(std::io::ErrorKind::UnexpectedEof), false, false), ConnectError::Unreachable(_)));
        let cert = ldap3::LdapError::Io {
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
            ),
        };
        match classify(url, &cert, true, true) {
            ConnectError::Tls(m) => assert!(m.contains("UnknownIssuer") && m.contains(CA_FILE_ENV), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
