//! LDAP sync over TLS against a real OpenLDAP slapd with a throw-away CA (tests/slapd.rs): StartTLS
//! and ldaps:// with the CA trusted through CONVENE_LDAP_CA_FILE; an untrusted CA, a bad CA file and
//! a server without TLS fail with clear errors and change nothing. The TLS slapd refuses every
//! plain-text operation (`security tls=1`), so a sync that works went over TLS.

use std::path::Path;
use std::time::{Duration, Instant};

use convene_tests::server::{Convene, convene_binary};
use convene_tests::slapd::{ROOT_DN, ROOT_PW, SUFFIX, Slapd, user_ldif};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const PW: &str = "ldap-tls-test-password-1";

struct Api {
    client: Client,
    base: String,
}

impl Api {
    fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/api/admin/{}", self.base, path.trim_start_matches("/api/admin/"));
        let mut r = self.client.request(method.parse().unwrap(), url).basic_auth("admin", Some(PW));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }
    fn get(&self, path: &str) -> Value {
        let (s, v) = self.send("GET", path, None);
        assert_eq!(s, 200, "GET {path}: {v}");
        v
    }
    fn post(&self, path: &str, body: Value) -> Value {
        let (s, v) = self.send("POST", path, Some(body));
        assert!(s == 201 || s == 200, "POST {path}: {s} {v}");
        v
    }
    fn patch(&self, path: &str, body: Value) {
        let (s, v) = self.send("PATCH", path, Some(body));
        assert!(s == 200 || s == 202, "PATCH {path}: {s} {v}");
    }
    /// Conference names, sorted.
    fn vmr_names(&self) -> Vec<String> {
        let list = self.get("configuration/v1/conference/?limit=0");
        let mut v: Vec<String> = list["objects"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_string()).collect();
        v.sort();
        v
    }
    /// Runs `conference/sync` and waits for the status to settle.
    fn sync(&self, template_id: i64) -> Value {
        let (s, v) = self.send("POST", "command/v1/conference/sync/", Some(json!({"conference_sync_template_id": template_id})));
        assert_eq!((s, &v), (200, &json!({"status": "success"})));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let st = self.get(&format!("status/v1/conference_sync/{template_id}/"));
            if st["sync_status"] != "SYNCING" {
                return st;
            }
            assert!(Instant::now() < deadline, "sync did not finish: {st}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A manager with `CONVENE_LDAP_CA_FILE` set to `ca_file` ("" = not set: only the system's CAs).
fn manager(data: &Path, ca_file: &str) -> (Convene, Api) {
    let mut c = Convene::start("manager", data, &[("CONVENE_ADMIN_PASSWORD", PW), ("CONVENE_LDAP_CA_FILE", ca_file)]);
    c.wait_listening();
    let api = Api { client: Client::new(), base: c.base.clone() };
    (c, api)
}

/// A source for `url` (TLS settings in `tls`) and a template over it; returns (source path, template id).
fn source_and_template(api: &Api, url: &str, tls: Value) -> (String, i64) {
    let mut body = json!({
        "name": "Directory", "ldap_server": url, "ldap_base_dn": SUFFIX,
        "ldap_bind_username": ROOT_DN, "ldap_bind_password": ROOT_PW, "ldap_timeout": 10,
    });
    for (k, v) in tls.as_object().unwrap() {
        body[k] = v.clone();
    }
    let src = api.post("configuration/v1/ldap_sync_source/", body);
    let source = src["resource_uri"].as_str().unwrap().to_string();
    let t = api.post(
        "configuration/v1/conference_sync_template/",
        json!({
            "name": "Staff", "ldap_sync_source": source,
            "ldap_user_filter": "(&(objectClass=inetOrgPerson)(uid=user*))", "ldap_user_search_dn": "ou=people",
            "conference_name": "{{givenName}} {{sn}} VMR", "alias_1": "{{uid}}",
        }),
    );
    (source, t["id"].as_i64().unwrap())
}

fn counts(st: &Value) -> (Option<u64>, Option<u64>, Option<u64>, Option<u64>) {
    (st["vmrs_created"].as_u64(), st["vmrs_updated"].as_u64(), st["vmrs_deleted"].as_u64(), st["vmrs_unchanged"].as_u64())
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("User{i:02} Tester VMR")).collect()
}

#[test]
fn starttls_and_ldaps_with_the_private_ca_trusted() {
    let slapd = Slapd::start_tls(6);
    let ca = slapd.tls.as_ref().unwrap().ca_file.to_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (server, api) = manager(&dir.path().join("data"), &ca);

    // StartTLS on ldap://, plain text not permitted (and refused by this server anyway).
    let (source, id) = source_and_template(&api, &slapd.url(), json!({"ldap_use_starttls": true, "ldap_permit_no_tls": false}));
    let st = api.sync(id);
    assert_eq!(st["sync_status"], "SYNCED", "{st}");
    assert_eq!(counts(&st), (Some(6), Some(0), Some(0), Some(0)), "{st}");
    assert_eq!(api.vmr_names(), names(6));

    // ldaps://: a new user arrives and one leaves, both seen through the ldaps:// port.
    slapd.ldap("ldapadd", &user_ldif(6, "Tester"));
    slapd.ldap("ldapdelete", &format!("uid=user00,ou=people,{SUFFIX}\n"));
    api.patch(&source, json!({"ldap_server": slapd.ldaps_url()}));
    let st = api.sync(id);
    assert_eq!(st["sync_status"], "SYNCED", "{st}");
    assert_eq!(counts(&st), (Some(1), Some(0), Some(1), Some(5)), "{st}");
    assert_eq!(api.vmr_names(), names(7)[1..].to_vec());

    // ldaps:// by host name: the certificate names localhost too.
    let port = slapd.tls.as_ref().unwrap().ldaps_port;
    api.patch(&source, json!({"ldap_server": format!("ldaps://localhost:{port}/")}));
    let st = api.sync(id);
    assert_eq!(st["sync_status"], "SYNCED", "{st}");
    assert_eq!(counts(&st), (Some(0), Some(0), Some(0), Some(6)), "{st}");

    // Plain text, permitted by the source, is refused by this server: proof the syncs above used TLS.
    api.patch(&source, json!({"ldap_server": slapd.url(), "ldap_use_starttls": false, "ldap_permit_no_tls": true}));
    let st = api.sync(id);
    assert_eq!(st["sync_status"], "FAILED", "{st}");
    let err = st["sync_last_error_description"].as_str().unwrap();
    eprintln!("error: {err}");
    assert!(err.contains("confidentiality"), "{err}");
    assert_eq!(api.vmr_names().len(), 6);
    server.stop();
}

#[test]
fn an_untrusted_ca_fails_with_a_certificate_error_and_changes_nothing() {
    let slapd = Slapd::start_tls(5);
    let dir = tempfile::tempdir().unwrap();
    // The test CA is not in the system's store and CONVENE_LDAP_CA_FILE is not set.
    let (server, api) = manager(&dir.path().join("data"), "");

    // Without verification (for testing only) the sync works: five VMRs to keep.
    let (source, id) = source_and_template(
        &api,
        &slapd.url(),
        json!({"ldap_use_starttls": true, "ldap_permit_no_tls": false, "ldap_verify_certificate": false}),
    );
    let st = api.sync(id);
    assert_eq!((st["sync_status"].as_str(), st["vmrs_created"].as_u64()), (Some("SYNCED"), Some(5)), "{st}");

    // Verification is on by default: a new source has it.
    let fresh = api.post(
        "configuration/v1/ldap_sync_source/",
        json!({"name": "Defaults", "ldap_server": slapd.url(), "ldap_base_dn": SUFFIX}),
    );
    assert_eq!((fresh["ldap_verify_certificate"].as_bool(), fresh["ldap_use_starttls"].as_bool()), (Some(true), Some(true)), "{fresh}");
    assert_eq!(fresh["ldap_permit_no_tls"].as_bool(), Some(false), "{fresh}");

    // The directory changes (a sync would create one and delete one), then verification goes on.
    slapd.ldap("ldapadd", &user_ldif(5, "Tester"));
    slapd.ldap("ldapdelete", &format!("uid=user01,ou=people,{SUFFIX}\n"));
    api.patch(&source, json!({"ldap_verify_certificate": true}));
    for url in [slapd.url(), slapd.ldaps_url()] {
        api.patch(&source, json!({"ldap_server": url}));
        let st = api.sync(id);
        assert_eq!(st["sync_status"], "FAILED", "{url}: {st}");
        let err = st["sync_last_error_description"].as_str().unwrap();
        eprintln!("{url}: {err}");
    eprintln!("error: {err}");
        assert!(err.contains("TLS certificate verification") && err.contains("UnknownIssuer"), "{url}: {err}");
        assert!(err.contains("CONVENE_LDAP_CA_FILE"), "{url}: the error says how to trust the CA: {err}");
        assert_eq!(counts(&st), (Some(0), Some(0), Some(0), Some(0)), "{url}: {st}");
        assert_eq!(api.vmr_names(), names(5), "{url}: nothing created or deleted");
    }

    // A different CA in CONVENE_LDAP_CA_FILE does not help; a bad file is a clear error; the
    // right CA makes the same sync work (`convene ldap sync` on the same data directory).
    let other = tempfile::tempdir().unwrap();
    let other_ca = convene_tests::slapd::make_certificates(other.path(), "Some other CA");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not a certificate\n").unwrap();
    let broken = dir.path().join("broken.pem");
    std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
    let data = dir.path().join("data");
    let cli = |ca: &Path| {
        let out = std::process::Command::new(convene_binary())
            .args(["ldap", "sync", "--template", "Staff", "--data-dir", data.to_str().unwrap()])
            .env_remove("DATABASE_URL")
            .env("CONVENE_LDAP_CA_FILE", ca)
            .output()
            .unwrap();
        (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let (ok, out) = cli(&other_ca);
    eprintln!("other CA: {out}");
    assert!(!ok && out.contains("UnknownIssuer"), "{out}");
    let (ok, out) = cli(&garbage);
    assert!(!ok && out.contains("garbage.pem holds no PEM certificate"), "{out}");
    let (ok, out) = cli(&dir.path().join("missing.pem"));
    assert!(!ok && out.contains("Cannot read CONVENE_LDAP_CA_FILE") && out.contains("missing.pem"), "{out}");
    let (ok, out) = cli(&broken);
    eprintln!("broken CA file: {out}");
    assert!(!ok && out.contains("broken.pem: certificate 1 is not a valid X.509 certificate"), "{out}");
    assert_eq!(api.vmr_names(), names(5), "failed syncs change nothing");
    let (ok, out) = cli(&slapd.tls.as_ref().unwrap().ca_file);
    assert!(ok && out.contains("created 1") && out.contains("deleted 1"), "{out}");
    let mut want = names(6);
    want.remove(1);
    assert_eq!(api.vmr_names(), want);
    server.stop();
}

#[test]
fn plain_text_is_refused_unless_permitted() {
    // A server without TLS at all.
    let slapd = Slapd::start(4);
    let dir = tempfile::tempdir().unwrap();
    let (server, api) = manager(&dir.path().join("data"), "");

    // Permitted: StartTLS is tried, refused by the server, and the sync continues in plain text.
    let (source, id) = source_and_template(&api, &slapd.url(), json!({"ldap_use_starttls": true, "ldap_permit_no_tls": true}));
    let st = api.sync(id);
    assert_eq!((st["sync_status"].as_str(), st["vmrs_created"].as_u64()), (Some("SYNCED"), Some(4)), "{st}");

    // Not permitted: a user joins, but nothing is read in plain text and nothing changes.
    slapd.ldap("ldapadd", &user_ldif(4, "Tester"));
    slapd.ldap("ldapdelete", &format!("uid=user02,ou=people,{SUFFIX}\n"));
    api.patch(&source, json!({"ldap_permit_no_tls": false}));
    let st = api.sync(id);
    assert_eq!(st["sync_status"], "FAILED", "{st}");
    let err = st["sync_last_error_description"].as_str().unwrap();
    eprintln!("error: {err}");
    assert!(err.contains("StartTLS") && err.contains("refused") && err.contains("ldap_permit_no_tls is off"), "{err}");
    assert_eq!(counts(&st), (Some(0), Some(0), Some(0), Some(0)), "{st}");
    assert_eq!(api.vmr_names(), names(4));

    // StartTLS off and plain text not permitted: refused before connecting.
    api.patch(&source, json!({"ldap_use_starttls": false}));
    let st = api.sync(id);
    assert_eq!(st["sync_status"], "FAILED", "{st}");
    let err = st["sync_last_error_description"].as_str().unwrap();
    eprintln!("error: {err}");
    assert!(err.contains("plain ldap:// without StartTLS"), "{err}");
    assert_eq!(api.vmr_names(), names(4));

    // ldaps:// to this plain port: a TLS failure, not a hang, and nothing changes.
    api.patch(&source, json!({"ldap_server": format!("ldaps://127.0.0.1:{}/", slapd.port), "ldap_permit_no_tls": true}));
    let st = api.sync(id);
    assert_eq!(st["sync_status"], "FAILED", "{st}");
    let err = st["sync_last_error_description"].as_str().unwrap();
    eprintln!("error: {err}");
    assert!(err.contains("TLS with ldaps://"), "{err}");
    assert_eq!(api.vmr_names(), names(4));
    server.stop();
}
