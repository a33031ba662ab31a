//! The dashboard's LDAP sync page end to end, over HTTP like a browser without JavaScript (a
//! session cookie and the CSRF token from the page), against a real OpenLDAP slapd: a template
//! preview that renders names and writes nothing (page and API), "Sync now" with its progress
//! arriving on the page's event stream, the result with counts and clashes, the same result after
//! the Management Node restarts, and a wrong bind password or a stopped server shown clearly.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use convene_tests::server::Convene;
use convene_tests::slapd::{ROOT_DN, ROOT_PW, SUFFIX, Slapd};
use reqwest::blocking::{Client, Response};
use reqwest::header;
use serde_json::{Value, json};

const PW: &str = "ldap-dashboard-password-1";
/// Enough users that a sync takes long enough (a page of 7 entries per round trip) to be seen
/// in progress.
const USERS: usize = 3000;

struct Site {
    client: Client,
    base: String,
    cookie: String,
}

impl Site {
    fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.client.request(method.parse().unwrap(), format!("{}/api/admin/{path}", self.base)).basic_auth("admin", Some(PW));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    fn api_ok(&self, method: &str, path: &str, body: Value) -> Value {
        let (s, v) = self.api(method, path, Some(body));
        assert!((200..300).contains(&s), "{method} {path}: {s} {v}");
        v
    }

    fn vmr_count(&self) -> u64 {
        let (s, v) = self.api("GET", "configuration/v1/conference/?limit=1", None);
        assert_eq!(s, 200, "{v}");
        v["meta"]["total_count"].as_u64().unwrap()
    }

    /// Logs in to the dashboard and keeps the session cookie.
    fn login(client: Client, base: &str) -> Site {
        let r = client
            .post(format!("{base}/admin/login"))
            .form(&[("username", "admin"), ("password", PW), ("next", "/admin/ldap-sync/")])
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "log in");
        let cookie = r
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("convene_session="))
            .expect("session cookie")
            .split(';')
            .next()
            .unwrap()
            .to_string();
        Site { client, base: base.to_string(), cookie }
    }

    fn get(&self, path: &str) -> (u16, String) {
        let r = self.client.get(format!("{}{path}", self.base)).header(header::COOKIE, &self.cookie).send().unwrap();
        let status = r.status().as_u16();
        (status, unescape(&r.text().unwrap()))
    }

    fn page(&self) -> String {
        let (s, html) = self.get("/admin/ldap-sync/");
        assert_eq!(s, 200, "{html}");
        html
    }

    fn csrf(&self) -> String {
        let html = self.page();
        let at = html.find("name=\"csrf_token\" value=\"").expect("a CSRF token on the page") + 25;
        html[at..at + html[at..].find('"').unwrap()].to_string()
    }

    fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client.post(format!("{}{path}", self.base)).header(header::COOKIE, &self.cookie).form(form).send().unwrap()
    }

    /// Presses "Sync now" for template `id`.
    fn sync_now(&self, id: i64) {
        let csrf = self.csrf();
        let r = self.post_form(&format!("/admin/ldap-sync/{id}/sync"), &[("csrf_token", &csrf)]);
        assert_eq!(r.status().as_u16(), 303, "Sync now");
        assert_eq!(r.headers()[header::LOCATION], "/admin/ldap-sync/");
    }

    /// Waits until the status API says template `id` is no longer syncing.
    fn wait_synced(&self, id: i64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (s, st) = self.api("GET", &format!("status/v1/conference_sync/{id}/"), None);
            assert_eq!(s, 200, "{st}");
            if st["sync_status"] != "SYNCING" {
                return st;
            }
            assert!(Instant::now() < deadline, "the sync did not finish: {st}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Undoes the HTML escaping minijinja applies, so assertions read like the page.
fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/").replace("&quot;", "\"").replace("&#x27;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// The card of template `id` on the page.
fn card(html: &str, id: i64) -> String {
    let start = html.find(&format!("id=\"sync-{id}\"")).unwrap_or_else(|| panic!("no card for template {id}:\n{html}"));
    let rest = &html[start..];
    rest[..rest.find("</article>").unwrap_or(rest.len())].to_string()
}

/// Reads the page's event stream on a thread; every event's data arrives on the channel.
fn events(site: &Site) -> mpsc::Receiver<String> {
    let r = Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap()
        .get(format!("{}/admin/ldap-sync/events", site.base))
        .header(header::COOKIE, &site.cookie)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "text/event-stream");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut data = String::new();
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { return };
            if let Some(d) = line.strip_prefix("data: ") {
                data.push_str(d);
                data.push('\n');
            } else if line.is_empty() && !data.is_empty() && tx.send(unescape(&std::mem::take(&mut data))).is_err() {
                return;
            }
        }
    });
    rx
}

fn start_manager(data: &Path) -> Convene {
    let mut c = Convene::start("manager", data, &[("CONVENE_ADMIN_PASSWORD", PW)]);
    c.wait_listening();
    c
}

#[test]
fn ldap_sync_page_preview_sync_now_progress_clashes_and_restart() {
    let mut slapd = Slapd::start(USERS);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start_manager(&data);
    let client = Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(60)).build().unwrap();
    let site = Site::login(client.clone(), &server.base);

    let source = site.api_ok("POST", "configuration/v1/ldap_sync_source/", json!({
        "name": "Example directory", "ldap_server": slapd.url(), "ldap_base_dn": SUFFIX,
        "ldap_bind_username": ROOT_DN, "ldap_bind_password": ROOT_PW,
        "ldap_use_starttls": false, "ldap_permit_no_tls": true, "ldap_search_page_size": 7,
    }));
    let source_path = source["resource_uri"].as_str().unwrap().replace("/api/admin/", "");
    let id = site.api_ok("POST", "configuration/v1/conference_sync_template/", json!({
        "name": "Staff", "ldap_sync_source": source["resource_uri"],
        "ldap_user_filter": "(&(objectClass=inetOrgPerson)(uid=user*))", "ldap_user_search_dn": "ou=people",
        "conference_name": "{{givenName}} {{sn}} VMR", "conference_description": "VMR of {{cn}}",
        "alias_1": "{{uid}}", "alias_2": "{{mail|lower}}", "pin": "{{employeeNumber}}", "host_view": "one_main_seven_pips",
    }))["id"].as_i64().unwrap();
    // Hand-made VMRs a sync must not take over: one holds a user's alias, one a user's VMR name.
    site.api_ok("POST", "configuration/v1/conference/", json!({"name": "Board room", "aliases": [{"alias": "user07"}]}));
    site.api_ok("POST", "configuration/v1/conference/", json!({"name": "User08 Tester VMR"}));

    // The page lists the template with its source, never synced.
    let html = site.page();
    let c = card(&html, id);
    assert!(c.contains(">Staff<") && c.contains("Example directory") && c.contains(&slapd.url()), "{c}");
    assert!(c.contains("Never synced") && c.contains("Sync now"), "{c}");

    // Preview on the page: rendered names for the first 3 entries, nothing written.
    let csrf = site.csrf();
    let r = site.post_form("/admin/ldap-sync/preview", &[("csrf_token", &csrf), ("conference_sync_template_id", &id.to_string()), ("count", "3")]);
    assert_eq!(r.status().as_u16(), 200);
    let html = unescape(&r.text().unwrap());
    assert!(html.contains("Preview of “Staff”: 3 entries"), "{html}");
    for name in ["User00 Tester VMR", "User01 Tester VMR", "User02 Tester VMR"] {
        assert!(html.contains(name), "{name} in {html}");
    }
    assert!(html.contains("user01@example.com") && html.contains("100002") && html.contains("<td data-label=\"Host view\">1 + 7</td>"), "{html}");
    assert!(!html.contains("User03 Tester VMR"), "only 3 entries");
    // Bad input: 400 naming the field.
    let r = site.post_form("/admin/ldap-sync/preview", &[("csrf_token", &csrf), ("conference_sync_template_id", &id.to_string()), ("count", "0")]);
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("id=\"count-error\""));
    // Without the token: refused.
    let r = site.post_form("/admin/ldap-sync/preview", &[("conference_sync_template_id", &id.to_string())]);
    assert_eq!(r.status().as_u16(), 403);

    // The same preview through the API.
    let (s, v) = site.api("POST", "command/v1/conference/sync_preview/", Some(json!({"conference_sync_template_id": id, "count": 2})));
    assert_eq!(s, 200, "{v}");
    let entries = v["data"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{v}");
    assert_eq!(entries[1]["conference_name"], "User01 Tester VMR");
    assert_eq!(entries[1]["pin"], "100001");
    assert_eq!(entries[1]["host_view"], "one_main_seven_pips");
    assert_eq!(entries[1]["aliases"][0]["alias"], "user01");
    assert_eq!(entries[1]["dn"], format!("uid=user01,ou=people,{SUFFIX}"));
    let (s, v) = site.api("POST", "command/v1/conference/sync_preview/", Some(json!({"conference_sync_template_id": id, "count": 1000})));
    assert_eq!(s, 400, "{v}");
    assert!(v["sync_preview"]["count"][0].as_str().unwrap().contains("1 to 100"), "{v}");
    let (s, v) = site.api("POST", "command/v1/conference/sync_preview/", Some(json!({"count": 1})));
    assert_eq!(s, 400, "{v}");
    assert!(v["sync_preview"]["conference_sync_template_id"].is_array(), "{v}");
    let (s, _) = site.api("POST", "command/v1/conference/sync_preview/", Some(json!({"conference_sync_template_id": 4242})));
    assert_eq!(s, 404);
    assert_eq!(site.vmr_count(), 2, "previews write nothing");

    // Sync now, watching the page's event stream.
    let stream = events(&site);
    let first = stream.recv_timeout(Duration::from_secs(10)).expect("the stream sends the list at once");
    assert!(first.contains("Never synced"), "{first}");
    let t0 = Instant::now();
    site.sync_now(id);
    let mut progress_seen = Vec::new();
    let finished = loop {
        let ev = stream.recv_timeout(Duration::from_secs(120)).expect("an event before the sync ends");
        let c = card(&ev, id);
        if let Some(at) = c.find("<progress max=\"100\" value=\"") {
            let v = &c[at + 27..];
            progress_seen.push(v[..v.find('"').unwrap()].parse::<u32>().unwrap());
        } else if c.contains("-counts") {
            break c;
        }
    };
    eprintln!("sync of {USERS} users: {:?}; progress seen on the page: {progress_seen:?}", t0.elapsed());
    assert!(!progress_seen.is_empty(), "the page showed the sync in progress");
    assert!(progress_seen.windows(2).all(|w| w[0] <= w[1]), "{progress_seen:?}");
    assert!(finished.contains("Synced with 2 problems"), "{finished}");
    assert!(finished.contains(&format!("<dt>Created</dt><dd>{}</dd>", USERS - 1)) && finished.contains("<dt>Unchanged</dt><dd>0</dd>"), "{finished}");
    assert!(finished.contains("\"user07\" is already used by \"Board room\"."), "{finished}");
    assert!(finished.contains("not overwriting manually created conference \"User08 Tester VMR\""), "{finished}");
    assert!(finished.contains(&format!("{USERS} directory entries")), "{finished}");
    assert_eq!(site.vmr_count(), 2 + USERS as u64 - 1);
    drop(stream);

    // A restart of the Management Node: the last result is still on the page and in the API.
    server.stop();
    let server = start_manager(&data);
    let site = Site::login(client.clone(), &server.base);
    let c = card(&site.page(), id);
    assert!(c.contains("Synced with 2 problems") && c.contains(&format!("<dt>Created</dt><dd>{}</dd>", USERS - 1)), "{c}");
    assert!(c.contains("\"user07\" is already used by \"Board room\"."), "{c}");
    let (s, st) = site.api("GET", &format!("status/v1/conference_sync/{id}/"), None);
    assert_eq!(s, 200);
    assert_eq!((st["sync_status"].as_str(), st["vmrs_created"].as_u64(), st["sync_errors"].as_u64()), (Some("SYNCED"), Some(USERS as u64 - 1), Some(2)), "{st}");

    // A second sync: nothing to do.
    site.sync_now(id);
    let st = site.wait_synced(id);
    assert_eq!((st["vmrs_unchanged"].as_u64(), st["vmrs_created"].as_u64()), (Some(USERS as u64 - 1), Some(0)), "{st}");
    assert!(card(&site.page(), id).contains(&format!("<dt>Unchanged</dt><dd>{}</dd>", USERS - 1)));

    // A wrong bind password, then a stopped server: each shown clearly on the page.
    site.api_ok("PATCH", &source_path, json!({"ldap_bind_password": "not-the-password"}));
    site.sync_now(id);
    assert_eq!(site.wait_synced(id)["sync_status"], "FAILED");
    let c = card(&site.page(), id);
    assert!(c.contains(">Failed<") && c.contains("role=\"alert\""), "{c}");
    assert!(c.contains("invalid credentials (wrong bind DN or password)"), "{c}");
    site.api_ok("PATCH", &source_path, json!({"ldap_bind_password": ROOT_PW}));
    slapd.stop();
    site.sync_now(id);
    assert_eq!(site.wait_synced(id)["sync_status"], "FAILED");
    let c = card(&site.page(), id);
    assert!(c.contains("Cannot connect to ldap://127.0.0.1:"), "{c}");
    let (s, v) = site.api("POST", "command/v1/conference/sync_preview/", Some(json!({"conference_sync_template_id": id})));
    assert_eq!(s, 503, "{v}");
    assert!(v["error"].as_str().unwrap().contains("Cannot connect to ldap://127.0.0.1:"), "{v}");
    assert_eq!(site.vmr_count(), 2 + USERS as u64 - 1, "failed syncs delete nothing");
    server.stop();
}

#[test]
fn a_sync_interrupted_by_a_restart_is_shown_and_the_next_one_finishes() {
    let slapd = Slapd::start(USERS);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [("CONVENE_ADMIN_PASSWORD", PW), ("CONVENE_LDAP_SYNC_STALE_SECS", "2")];
    let mut server = Convene::start("manager", &data, &env);
    server.wait_listening();
    let client = Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(60)).build().unwrap();
    let site = Site::login(client.clone(), &server.base);
    let source = site.api_ok("POST", "configuration/v1/ldap_sync_source/", json!({
        "name": "Directory", "ldap_server": slapd.url(), "ldap_base_dn": SUFFIX, "ldap_bind_username": ROOT_DN,
        "ldap_bind_password": ROOT_PW, "ldap_use_starttls": false, "ldap_permit_no_tls": true, "ldap_search_page_size": 7,
    }));
    let id = site.api_ok("POST", "configuration/v1/conference_sync_template/", json!({
        "name": "Everyone", "ldap_sync_source": source["resource_uri"], "ldap_user_search_dn": "ou=people",
        "ldap_user_filter": "(uid=user*)", "conference_name": "{{cn}}", "alias_1": "{{uid}}",
    }))["id"].as_i64().unwrap();

    // Stop the Management Node (SIGKILL) while the sync is writing.
    let stream = events(&site);
    site.sync_now(id);
    loop {
        let ev = stream.recv_timeout(Duration::from_secs(120)).expect("progress");
        let c = card(&ev, id);
        assert!(!c.contains("-counts"), "the sync finished before it could be interrupted: {c}");
        if c.contains("written ") {
            break;
        }
    }
    server.stop();
    drop(stream);

    let mut server = Convene::start("manager", &data, &env);
    server.wait_listening();
    let site = Site::login(client, &server.base);
    let written = site.vmr_count();
    assert!(written > 0 && written < USERS as u64, "interrupted half-way ({written} written)");
    let (s, aliases) = site.api("GET", "configuration/v1/conference_alias/?limit=1", None);
    assert_eq!((s, aliases["meta"]["total_count"].as_u64()), (200, Some(written)), "every VMR written is whole, with its alias");
    let st = site.wait_synced(id);
    assert_eq!(st["sync_status"], "FAILED", "{st}");
    let why = st["sync_last_error_description"].as_str().unwrap();
    assert!(why.contains("The sync was interrupted at") && why.contains("the next sync finishes the rest"), "{why}");
    let c = card(&site.page(), id);
    assert!(c.contains(">Failed<") && c.contains("The sync was interrupted at"), "{c}");
    assert_eq!(site.vmr_count(), written, "the VMRs written before the stop are kept");

    site.sync_now(id);
    let st = site.wait_synced(id);
    assert_eq!(st["sync_status"], "SYNCED", "{st}");
    assert_eq!(st["vmrs_created"].as_u64(), Some(USERS as u64 - written), "{st}");
    assert_eq!(site.vmr_count(), USERS as u64);
    server.stop();
}
