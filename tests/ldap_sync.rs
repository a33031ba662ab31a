//! LDAP sync end to end against a real OpenLDAP slapd started by the test (private config, free
//! loopback port, users loaded with slapadd): `convene manager` is configured through the
//! Management API, syncs run through the `conference/sync` command (progress and results from the
//! `conference_sync` status resource) and through `convene ldap sync`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use convene_tests::server::{Convene, run_convene};
use convene_tests::slapd::{ROOT_DN, ROOT_PW, SUFFIX, Slapd};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const PW: &str = "ldap-test-password-1";

struct Api {
    client: Client,
    base: String,
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("{}/api/admin/{path}", self.base)
    }
    fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.client.request(method.parse().unwrap(), self.url(path)).basic_auth("admin", Some(PW));
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
    /// All conferences by name.
    fn vmrs(&self) -> std::collections::BTreeMap<String, Value> {
        let list = self.get("configuration/v1/conference/?limit=0");
        list["objects"].as_array().unwrap().iter().map(|o| (o["name"].as_str().unwrap().to_string(), o.clone())).collect()
    }
    /// Runs `conference/sync` and waits for the status to settle.
    fn sync(&self, template_id: i64) -> Value {
        let (s, v) = self.send("POST", "command/v1/conference/sync/", Some(json!({"conference_sync_template_id": template_id})));
        assert_eq!((s, &v), (200, &json!({"status": "success"})));
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen_progress = Vec::new();
        loop {
            let st = self.get(&format!("status/v1/conference_sync/{template_id}/"));
            seen_progress.push(st["sync_progress"].as_u64().unwrap_or(0));
            if st["sync_status"] != "SYNCING" {
                assert!(seen_progress.windows(2).all(|w| w[0] <= w[1]), "progress only grows: {seen_progress:?}");
                return st;
            }
            assert!(Instant::now() < deadline, "sync did not finish: {st}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn manager(data: &Path) -> (Convene, Api) {
    let mut c = Convene::start("manager", data, &[("CONVENE_ADMIN_PASSWORD", PW)]);
    c.wait_listening();
    let api = Api { client: Client::new(), base: c.base.clone() };
    (c, api)
}

fn make_source(api: &Api, slapd: &Slapd, password: &str) -> String {
    let src = api.post(
        "configuration/v1/ldap_sync_source/",
        json!({
            "name": "Directory", "ldap_server": slapd.url(), "ldap_base_dn": SUFFIX,
            "ldap_bind_username": ROOT_DN, "ldap_bind_password": password,
            "ldap_use_starttls": false, "ldap_permit_no_tls": true, "ldap_search_page_size": 7,
        }),
    );
    src["resource_uri"].as_str().unwrap().to_string()
}

fn make_template(api: &Api, source: &str, extra: Value) -> i64 {
    let mut body = json!({
        "name": "Staff", "ldap_sync_source": source,
        "ldap_user_filter": "(&(objectClass=inetOrgPerson)(uid=user*))", "ldap_user_search_dn": "ou=people",
        "conference_name": "{{givenName}} {{sn}} VMR",
        "conference_description": "VMR of {{cn}}",
        "alias_1": "{{uid}}", "alias_1_description": "short",
        "alias_2": "{{mail|lower}}",
        "alias_3": "{{telephoneNumber|pex_clean_phone_number|pex_tail(6)}}",
        "pin": "{{employeeNumber}}", "guest_pin": "{{ pex_random_pin(6) }}", "allow_guests": true,
        "pin_settings_overridable": true,
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    api.post("configuration/v1/conference_sync_template/", body)["id"].as_i64().unwrap()
}

fn aliases(vmr: &Value) -> Vec<String> {
    let mut v: Vec<String> = vmr["aliases"].as_array().unwrap().iter().map(|a| a["alias"].as_str().unwrap().to_string()).collect();
    v.sort();
    v
}

#[test]
fn directory_to_vmrs_through_the_management_api() {
    let mut slapd = Slapd::start(50);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (server, api) = manager(&data);

    // Bad input is refused when saved, with the position.
    let source = make_source(&api, &slapd, ROOT_PW);
    let (s, v) = api.send("POST", "configuration/v1/conference_sync_template/", Some(json!({
        "name": "Bad", "ldap_sync_source": source, "ldap_user_filter": "(&(objectClass=person)(uid=a)",
    })));
    assert_eq!(s, 400, "{v}");
    let msg = v["conference_sync_template"]["ldap_user_filter"][0].as_str().unwrap();
    assert!(msg.contains("position 30"), "{msg}");
    let (s, v) = api.send("POST", "configuration/v1/conference_sync_template/", Some(json!({
        "name": "Bad", "ldap_sync_source": source, "conference_name": "{{ givenName }",
    })));
    assert_eq!(s, 400, "{v}");
    let msg = v["conference_sync_template"]["conference_name"][0].as_str().unwrap();
    assert!(msg.contains("line 1, column"), "{msg}");

    // The bind password is not stored in clear text, and never shown.
    let db_bytes = std::fs::read(data.join("convene.sqlite3")).unwrap();
    let wal = std::fs::read(data.join("convene.sqlite3-wal")).unwrap_or_default();
    let needle = ROOT_PW.as_bytes();
    assert!(!db_bytes.windows(needle.len()).chain(wal.windows(needle.len())).any(|w| w == needle), "password stored in clear");
    assert!(data.join("secret_key").exists());
    assert!(api.get(&source.replace("/api/admin/", "")).get("ldap_bind_password").is_none());

    // A hand-made VMR with an alias a user will also want, and one with a user's VMR name.
    api.post("configuration/v1/conference/", json!({"name": "Board room", "aliases": [{"alias": "user07"}]}));
    api.post("configuration/v1/conference/", json!({"name": "User08 Tester VMR", "description": "hand made"}));

    let id = make_template(&api, &source, json!({}));
    let t0 = Instant::now();
    let st = api.sync(id);
    eprintln!("first sync of 50 users: {:?}", t0.elapsed());
    assert_eq!(st["sync_status"], "SYNCED", "{st}");
    assert_eq!((st["vmrs_created"].as_u64(), st["vmrs_unchanged"].as_u64()), (Some(49), Some(0)), "{st}");
    assert_eq!(st["directory_entries"], 50);
    let mut kinds: Vec<&str> = st["clashes"].as_array().unwrap().iter().map(|c| c["kind"].as_str().unwrap()).collect();
    kinds.sort();
    assert_eq!(kinds, ["Alias clash", "Conference clash"], "{st}");
    assert!(st["clashes"].as_array().unwrap().iter().any(|c| c["detail"] == "\"user07\" is already used by \"Board room\"."), "{st}");
    assert_eq!(st["sync_errors"], 2);

    let vmrs = api.vmrs();
    assert_eq!(vmrs.len(), 51);
    let u3 = &vmrs["User03 Tester VMR"];
    assert_eq!(aliases(u3), ["551003", "user03", "user03@example.com"]);
    assert_eq!(u3["pin"], "100003");
    assert_eq!(u3["description"], "VMR of User03 Tester");
    assert_eq!(u3["guest_pin"].as_str().unwrap().len(), 6);
    assert!(u3["sync_tag"].as_str().unwrap().starts_with(&format!("ldap:{id}:")));
    assert_eq!(aliases(&vmrs["User07 Tester VMR"]), ["551007", "user07@example.com"], "clashing alias left out");
    assert_eq!(vmrs["User08 Tester VMR"]["description"], "hand made", "manual VMR untouched");
    assert_eq!(vmrs["Board room"]["sync_tag"], "");

    // Re-sync with nothing changed: all unchanged, the random guest PINs stable.
    let st = api.sync(id);
    assert_eq!((st["vmrs_created"].as_u64(), st["vmrs_updated"].as_u64(), st["vmrs_unchanged"].as_u64()), (Some(0), Some(0), Some(49)), "{st}");
    assert_eq!(api.vmrs()["User03 Tester VMR"]["guest_pin"], u3["guest_pin"]);

    // Manual edits: the PIN (overridable) is kept; the description (not overridable) comes back.
    let u3_path = u3["resource_uri"].as_str().unwrap().replace("/api/admin/", "");
    let (s, v) = api.send("PATCH", &u3_path, Some(json!({"pin": "424242", "description": "mine"})));
    assert_eq!(s, 202.min(s).max(200), "{v}");
    // Directory changes: a surname, a phone number, five users leave.
    slapd.ldap("ldapmodify", &format!("dn: uid=user10,ou=people,{SUFFIX}\nchangetype: modify\nreplace: sn\nsn: Renamed\n"));
    slapd.ldap("ldapmodify", &format!("dn: uid=user11,ou=people,{SUFFIX}\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: 555-999999\n"));
    for i in 40..45 {
        slapd.ldap("ldapdelete", &format!("uid=user{i},ou=people,{SUFFIX}\n"));
    }
    let st = api.sync(id);
    assert_eq!(st["sync_status"], "SYNCED", "{st}");
    assert_eq!((st["vmrs_updated"].as_u64(), st["vmrs_deleted"].as_u64(), st["vmrs_unchanged"].as_u64()), (Some(3), Some(5), Some(41)), "{st}");
    let vmrs = api.vmrs();
    assert_eq!(vmrs["User03 Tester VMR"]["pin"], "424242", "overridable manual edit kept");
    assert_eq!(vmrs["User03 Tester VMR"]["description"], "VMR of User03 Tester");
    assert!(vmrs.contains_key("User10 Renamed VMR") && !vmrs.contains_key("User10 Tester VMR"));
    assert!(aliases(&vmrs["User11 Tester VMR"]).contains(&"999999".to_string()));
    assert!(!vmrs.contains_key("User42 Tester VMR"));
    assert_eq!(vmrs.len(), 46);

    // The directory goes away: a clear error, every VMR stays.
    slapd.stop();
    let st = api.sync(id);
    assert_eq!(st["sync_status"], "FAILED", "{st}");
    let err = st["sync_last_error_description"].as_str().unwrap();
    assert!(err.contains("Cannot connect"), "{err}");
    assert_eq!(api.vmrs().len(), 46);

    // Back, but the filter now matches nobody: the safety threshold keeps everything.
    slapd.run();
    let (s, _) = api.send("PATCH", &format!("configuration/v1/conference_sync_template/{id}/"), Some(json!({"ldap_user_filter": "(uid=nobody)"})));
    assert!(s == 202 || s == 200);
    let st = api.sync(id);
    assert_eq!(st["vmrs_deleted"], 0, "{st}");
    assert!(st["sync_last_error_description"].as_str().unwrap().contains("no entries"), "{st}");
    assert_eq!(api.vmrs().len(), 46);
    server.stop();
}

#[test]
fn command_line_sync_preview_and_bind_errors() {
    let slapd = Slapd::start(12);
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().join("data");
    let (server, api) = manager(&data);
    let source = make_source(&api, &slapd, "wrong-password");
    let id = make_template(&api, &source, json!({"name": "CLI"}));
    let d = data.to_str().unwrap();

    // Wrong bind password: a clear error, through the API status and on the command line.
    let st = api.sync(id);
    assert_eq!(st["sync_status"], "FAILED");
    assert!(st["sync_last_error_description"].as_str().unwrap().contains("invalid credentials"), "{st}");
    let (ok, out) = run_convene(&["ldap", "sync", "--template", "CLI", "--data-dir", d], "");
    assert!(!ok && out.contains("invalid credentials"), "{out}");

    // A password file instead of the stored password.
    let pwfile = dir.path().join("bindpw");
    std::fs::write(&pwfile, format!("{ROOT_PW}\n")).unwrap();
    let (s, v) = api.send("PATCH", &source.replace("/api/admin/", ""), Some(json!({"ldap_bind_password_file": pwfile.to_str().unwrap()})));
    assert!(s == 200 || s == 202, "{v}");

    let (ok, out) = run_convene(&["ldap", "sync", "--template", "CLI", "--preview", "3", "--data-dir", d], "");
    assert!(ok, "{out}");
    assert!(out.contains("Preview of \"CLI\" (3 entries)") && out.contains("User00 Tester VMR") && out.contains("pin: 100000"), "{out}");
    assert_eq!(api.vmrs().len(), 0, "a preview writes nothing");

    let (ok, out) = run_convene(&["ldap", "sync", "--template", &id.to_string(), "--data-dir", d], "");
    assert!(ok, "{out}");
    assert!(out.contains("created 12") && out.contains("100%"), "{out}");
    assert_eq!(api.vmrs().len(), 12);
    // The command line's result is saved too: the running manager shows it, newer than the
    // failed sync it ran itself.
    let st = api.get(&format!("status/v1/conference_sync/{id}/"));
    assert_eq!((st["sync_status"].as_str(), st["vmrs_created"].as_u64()), (Some("SYNCED"), Some(12)), "{st}");
    let (ok, out) = run_convene(&["ldap", "sync", "--data-dir", d], "");
    assert!(ok && out.contains("unchanged 12"), "{out}");
    server.stop();
}

/// `enable_automatic_sync`: the daily sync runs by itself (its first run is after
/// `CONVENE_LDAP_SYNC_FIRST_DELAY_SECS`, an hour by default); a template without it is left alone.
#[test]
fn automatic_sync_runs_by_itself_for_enabled_templates_only() {
    let slapd = Slapd::start(5);
    let dir = tempfile::tempdir().unwrap();
    let mut c = Convene::start("manager", &dir.path().join("data"), &[("CONVENE_ADMIN_PASSWORD", PW), ("CONVENE_LDAP_SYNC_FIRST_DELAY_SECS", "4")]);
    c.wait_listening();
    let api = Api { client: Client::new(), base: c.base.clone() };
    let source = make_source(&api, &slapd, ROOT_PW);
    make_template(&api, &source, json!({"name": "Manual only", "conference_name": "{{givenName}} {{sn}} manual", "alias_1": "m-{{uid}}", "alias_2": "", "alias_3": ""}));
    make_template(&api, &source, json!({"enable_automatic_sync": true}));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let vmrs = api.vmrs();
        if vmrs.len() == 5 {
            assert!(vmrs.keys().all(|n| n.ends_with(" VMR")), "only the automatic template synced: {:?}", vmrs.keys());
            break;
        }
        assert!(vmrs.len() < 5, "{:?}", vmrs.keys());
        assert!(Instant::now() < deadline, "no automatic sync: {} VMRs", vmrs.len());
        std::thread::sleep(Duration::from_millis(200));
    }
}
