//! The directory side: connect (ldap:// with StartTLS, ldaps://, or plain ldap:// only when the
//! source permits it), bind, and search with the Simple Paged Results control (RFC 2696) so large
//! directories come back page by page. TLS is rustls (no OpenSSL); certificates are verified against the
//! system's trusted CAs (rustls-native-certs) unless the source turns `ldap_verify_certificate` off.

use std::collections::BTreeMap;
use std::time::Duration;

use ldap3::adapters::{EntriesOnly, PagedResults};
use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
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

async fn connect(src: &Source, starttls: bool) -> Result<ldap3::Ldap, String> {
    let settings = LdapConnSettings::new()
        .set_conn_timeout(src.timeout)
        .set_starttls(starttls)
        .set_no_tls_verify(!src.verify_certificate);
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &src.url)
        .await
        .map_err(|e| format!("Cannot connect to {}: {e}", src.url))?;
    ldap3::drive!(conn);
    ldap.with_timeout(src.timeout);
    if !src.bind_dn.is_empty() {
        let res = ldap
            .simple_bind(&src.bind_dn, &src.password)
            .await
            .map_err(|e| format!("Bind to {} failed: {e}", src.url))?;
        if res.rc != 0 {
            let why = if res.rc == 49 { "invalid credentials (wrong bind DN or password)".to_string() } else { format!("{res}") };
            return Err(format!("Bind to {} as \"{}\" failed: {why}", src.url, src.bind_dn));
        }
    }
    Ok(ldap)
}

/// Connects and binds: ldaps:// is TLS from the start; ldap:// uses StartTLS when enabled and
/// falls back to plain text only when `ldap_permit_no_tls` allows it.
pub async fn open(src: &Source) -> Result<ldap3::Ldap, String> {
    let url = src.url.to_ascii_lowercase();
    if url.starts_with("ldaps://") {
        return connect(src, false).await;
    }
    if !url.starts_with("ldap://") {
        return Err(format!("\"{}\" is not an ldap:// or ldaps:// URL", src.url));
    }
    if src.starttls {
        match connect(src, true).await {
            Ok(l) => return Ok(l),
            Err(e) if src.permit_no_tls && !e.contains("Bind to") => {
                tracing::warn!("StartTLS to {} failed ({e}); continuing without TLS as the source permits", src.url);
            }
            Err(e) => return Err(e),
        }
    } else if !src.permit_no_tls {
        return Err(format!(
            "{} is plain ldap:// without StartTLS: turn on ldap_use_starttls, use ldaps://, or allow it with ldap_permit_no_tls",
            src.url
        ));
    }
    connect(src, false).await
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
