//! External and local policy end to end: the real `convene up`, a real HTTP policy server in
//! this test (tests/policy_server.rs, recording every request) and real SIP calls with sipp.
//! External policy: `reject` refuses a call the database would take, `continue` with a result
//! makes a VMR the database lacks (and participant policy renames the caller), `redirect` gives
//! a 302, a 404 falls back to the database, a server slower than the time limit falls back too
//! without holding up other calls, and the requests carry the reference's query parameters.
//! Local policy: a script changes a service, makes one, and rejects; a bad script is refused
//! when saved with its position.
//! Participant and media policy: `preauthenticated_role` lets a caller past a PIN, `locked`
//! starts a conference locked (a second caller waits, one with `bypass_lock` does not), a media location `reject` refuses the
//! call (another location is only logged), and an audio-only caller's avatar is asked for and
//! seen: a video caller (`convene testclient`) decodes the avatar's colour where the audio-only
//! caller is shown.
//! Virtual Reception: the number a caller keys in is put to policy with
//! `trigger=two_stage_dialing`, which can refuse a room the database has or make one it lacks.

#[path = "policy_server.rs"]
mod policy_server;
#[path = "sipp_harness.rs"]
mod sipp_harness;

use std::time::{Duration, Instant};

use policy_server::{PolicyServer, Reply};
use serde_json::{Value, json};
use sipp_harness::{Node, objects};

const CONFIG: &str = "/api/admin/configuration/v1";
const SERVICE: &str = "/policy/v1/service/configuration";
const PARTICIPANT: &str = "/policy/v1/participant/properties";
/// The node's policy time limit in these tests (CONVENE_POLICY_TIMEOUT_MS).
const LIMIT_MS: u64 = 1500;

fn external_server() -> PolicyServer {
    PolicyServer::start(|r| {
        let alias = r.param("local_alias").unwrap_or("");
        let user = alias.trim_start_matches("sip:").split('@').next().unwrap_or("");
        if r.path == PARTICIPANT {
            return if r.param("service_name") == Some("Policy Room") {
                Reply::json(json!({"status": "success", "action": "continue", "result": {"remote_display_name": "Renamed By Policy"}}))
            } else {
                Reply::json(json!({"status": "success", "action": "continue", "result": {}}))
            };
        }
        if r.path != SERVICE {
            return Reply::status(404);
        }
        match user {
            "blocked" => Reply::json(json!({"status": "success", "action": "reject", "result": {}})),
            "policyroom" => Reply::json(json!({"status": "success", "action": "continue",
                "result": {"name": "Policy Room", "service_tag": "from-policy", "service_type": "conference", "participant_limit": 5}})),
            "moved" => Reply::json(json!({"status": "success", "action": "redirect", "result": {"new_alias": "meet@127.0.0.1"}})),
            "slow" => Reply::json(json!({"status": "success", "action": "reject"})).after(Duration::from_millis(LIMIT_MS * 3)),
            "garbage" => Reply::bytes("text/html", "<html>not policy</html>"),
            _ => Reply::status(404),
        }
    })
}

fn start_node() -> Node {
    let limit = LIMIT_MS.to_string();
    Node::start_with(&[("CONVENE_POLICY_TIMEOUT_MS", &limit)])
}

/// Creates a policy profile and assigns it to the node's location.
fn use_profile(node: &Node, profile: Value) {
    let (s, p) = node.post(&format!("{CONFIG}/policy_server/"), profile);
    assert_eq!(s, 201, "{p}");
    let loc = node.get(&format!("{CONFIG}/system_location/?name=Local"));
    let uri = objects(&loc)[0]["resource_uri"].as_str().expect("the Local location").to_string();
    let (s, body) = node.patch(&uri, json!({"policy_server": p["resource_uri"]}));
    assert!(s < 300, "{body}");
}

fn add_vmr(node: &Node, name: &str, alias: &str) {
    let (s, body) = node.post(&format!("{CONFIG}/conference/"), json!({"name": name, "service_type": "conference", "aliases": [{"alias": alias}]}));
    assert_eq!(s, 201, "{body}");
}

#[test]
fn external_policy_decides_calls() {
    let server = external_server();
    let mut node = start_node();
    add_vmr(&node, "Blocked Room", "blocked");
    add_vmr(&node, "Slow Room", "slow");
    add_vmr(&node, "Garbage Room", "garbage");
    use_profile(&node, json!({"name": "External", "url": server.url, "username": "node", "password": "policy-secret",
                              "enable_service_lookup": true, "enable_participant_lookup": true}));

    // reject: refused although the database has the alias.
    node.expect_refusal(404, "blocked");
    let asked = server.to(SERVICE);
    let r = asked.iter().find(|r| r.param("local_alias") == Some("sip:blocked@127.0.0.1")).expect("the policy server was asked");
    // The reference's query parameters.
    for (k, v) in [("remote_alias", None), ("protocol", Some("sip")), ("call_direction", Some("dial_in")), ("trigger", Some("invite")),
                   ("location", Some("Local")), ("node_ip", Some("127.0.0.1")), ("remote_address", Some("127.0.0.1")),
                   ("remote_display_name", Some("Rejected")), ("encryption", Some("Off")), ("registered", Some("False"))] {
        let got = r.param(k).unwrap_or_else(|| panic!("no {k} in {r:?}"));
        if let Some(v) = v {
            assert_eq!(got, v, "{k}");
        }
    }
    assert!(r.param("remote_alias").unwrap().starts_with("sip:sipp@127.0.0.1"), "{r:?}");
    for k in ["remote_port", "bandwidth", "vendor", "call_tag", "version_id", "pseudo_version_id"] {
        assert!(r.param(k).is_some(), "no {k} in {r:?}");
    }
    assert_eq!(r.method, "GET");
    // HTTP Basic with the profile's credentials (node:policy-secret).
    assert_eq!(r.authorization.as_deref(), Some("Basic bm9kZTpwb2xpY3ktc2VjcmV0"));
    // Rejected calls never get as far as participant policy.
    assert!(server.to(PARTICIPANT).is_empty());

    // continue with a result: a VMR the database does not have, and the caller renamed.
    let call = node.sipp("call_hangup.xml", "policyroom", &["-d", "3000"]);
    let st = node.poll("/api/admin/status/v1/participant/", "the policy-made conference", |v| objects(v).len() == 1);
    let p = &objects(&st)[0];
    assert_eq!(p["conference"], "Policy Room");
    assert_eq!(p["display_name"], "Renamed By Policy");
    let confs = node.get("/api/admin/status/v1/conference/");
    assert_eq!(objects(&confs)[0]["tag"], "from-policy");
    call.success();
    assert!(objects(&node.get(&format!("{CONFIG}/conference/?name=Policy%20Room"))).is_empty(), "policy must not write the database");
    let pr = server.to(PARTICIPANT);
    let pr = pr.iter().find(|r| r.param("service_name") == Some("Policy Room")).expect("participant policy asked");
    assert_eq!(pr.param("service_tag"), Some("from-policy"));
    assert_eq!(pr.param("unique_service_name"), Some("Policy Room"));
    assert_eq!(pr.param("local_alias"), Some("sip:policyroom@127.0.0.1"));

    // redirect: a 302 to the new alias.
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(sipp_harness::sipp_dir().join("redirect.xml")).unwrap().replace("@CODE@", r"sip:meet@127\.0\.0\.1");
    let scenario = tmp.path().join("redirect.xml");
    std::fs::write(&scenario, text).unwrap();
    sipp_harness::Sipp::start(&scenario, node.sip_port, "moved", &[]).success();
    // 404 from the policy server: the database decides (meet is the sample VMR, nobody is not).
    node.sipp("call_hangup.xml", "meet", &["-d", "100"]).success();
    node.expect_refusal(404, "nobody-has-this");
    // A malformed answer: the database decides.
    node.sipp("call_hangup.xml", "garbage", &["-d", "100"]).success();

    // A policy server slower than the limit: the database decides, after the limit; and a call
    // placed meanwhile is not held up by it.
    let started = Instant::now();
    let slow = node.sipp("call_hangup.xml", "slow", &["-d", "100"]);
    std::thread::sleep(Duration::from_millis(200));
    let other = Instant::now();
    node.sipp("call_hangup.xml", "meet", &["-d", "100"]).success();
    let other = other.elapsed();
    slow.success();
    let slow_took = started.elapsed();
    assert!(slow_took >= Duration::from_millis(LIMIT_MS), "the slow call took {slow_took:?}");
    assert!(other < Duration::from_millis(LIMIT_MS), "a call during a slow policy request took {other:?}");
    let h = node.poll("/api/admin/history/v1/participant/", "the slow call's record", |v| {
        objects(v).iter().any(|p| p["conference_name"] == "Slow Room")
    });
    assert!(objects(&h).iter().any(|p| p["conference_name"] == "Slow Room"));
}

const SCRIPT: &str = r#"{% if call_info.local_alias is startingwith("sip:nope@") %}
{"status": "success", "action": "reject", "result": {}}
{% elif call_info.local_alias is startingwith("sip:vip@") %}
{"status": "success", "action": "continue", "result": {"name": "VIP {{ call_info.remote_display_name }}", "service_tag": "vip", "service_type": "conference"}}
{% elif service_config %}
{"status": "success", "action": "continue", "result": {{ service_config|pex_update({"name": service_config.name ~ " via local policy"})|pex_to_json }}}
{% else %}
{"status": "success", "action": "continue"}
{% endif %}"#;

const PARTICIPANT_SCRIPT: &str = r#"{% if call_info.service_tag == "closed" %}{"status": "success", "action": "reject"}
{% elif call_info.service_tag == "vip" %}{"status": "success", "action": "continue", "result": {"remote_display_name": "{{ call_info.remote_display_name }} (VIP)"}}
{% else %}{"status": "success", "action": "continue", "result": {{ participant_config|pex_to_json }}}{% endif %}"#;

#[test]
fn local_policy_changes_makes_and_rejects() {
    let mut node = start_node();
    // A bad script is refused when saved, naming the field and the position.
    let (s, body) = node.post(&format!("{CONFIG}/policy_server/"), json!({"name": "Bad", "enable_internal_service_policy": true,
        "internal_service_policy_template": "{\n  \"action\": {% if call_info.protocol %}\"reject\"\n}"}));
    assert_eq!(s, 400, "{body}");
    let text = body.to_string();
    assert!(text.contains("internal_service_policy_template") && text.contains("line"), "{body}");

    add_vmr(&node, "Nope Room", "nope");
    let (s, body) = node.post(&format!("{CONFIG}/conference/"), json!({"name": "Closed Room", "tag": "closed", "service_type": "conference", "aliases": [{"alias": "closed"}]}));
    assert_eq!(s, 201, "{body}");
    use_profile(&node, json!({"name": "Local", "enable_internal_service_policy": true, "internal_service_policy_template": SCRIPT,
                              "enable_internal_participant_policy": true, "internal_participant_policy_template": PARTICIPANT_SCRIPT}));
    let profiles = node.get(&format!("{CONFIG}/policy_server/?name=Local"));
    try_it_page(&node, &objects(&profiles)[0]["id"].to_string());
    node.expect_refusal(404, "nope");
    // Changed: the sample VMR under another name.
    let call = node.sipp("call_hangup.xml", "meet", &["-d", "2000"]);
    let st = node.poll("/api/admin/status/v1/participant/", "the call", |v| objects(v).len() == 1);
    assert_eq!(objects(&st)[0]["conference"], "Sample VMR via local policy");
    call.success();
    // Made: a service the database lacks, named from the call.
    let call = node.sipp("call_hangup.xml", "vip", &["-d", "2000"]);
    let st = node.poll("/api/admin/status/v1/participant/", "the VIP call", |v| objects(v).iter().any(|p| p["conference"] == "VIP Bob"));
    // Participant policy renamed the caller in the VIP room.
    assert_eq!(objects(&st)[0]["display_name"], "Bob (VIP)");
    call.success();
    // Participant policy refuses callers of a service by its tag.
    node.expect_refusal(403, "closed");
    // Unknown aliases stay unknown.
    node.expect_refusal(404, "nobody-has-this");
}

/// The dashboard's "try it" form runs a profile's script on typed-in call parameters.
fn try_it_page(node: &Node, profile_id: &str) {
    let http = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let base = &node.up.base;
    let r = http.post(format!("{base}/admin/login")).form(&[("username", "admin"), ("password", sipp_harness::PW), ("next", "/admin/")]).send().unwrap();
    let cookie = r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find(|c| c.starts_with("convene_session="))
        .expect("a session cookie").split(';').next().unwrap().to_string();
    let page = http.get(format!("{base}/admin/policy-try/")).header("Cookie", &cookie).send().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().unwrap();
    let csrf = html.split("name=\"csrf_token\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("a CSRF token").to_string();
    let run = |script: &str, alias: &str| {
        let r = http.post(format!("{base}/admin/policy-try/")).header("Cookie", &cookie)
            .form(&[("csrf_token", csrf.as_str()), ("profile", profile_id), ("kind", "service"), ("script", script),
                    ("local_alias", alias), ("remote_display_name", "Carol"), ("protocol", "sip")])
            .send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let (s, html) = run("", "sip:vip@example.com");
    assert_eq!(s, 200, "{html}");
    assert!(html.contains("VIP Carol") && html.contains("<strong>continue</strong>"), "{html}");
    // With no configuration typed in, the database's for the alias: the sample VMR, renamed.
    let (s, html) = run("", "sip:meet@example.com");
    assert_eq!(s, 200);
    assert!(html.contains("Sample VMR via local policy"), "{html}");
    let (s, html) = run("", "sip:nope@example.com");
    assert!(s == 200 && html.contains("<strong>reject</strong>"), "{html}");
    // A failing script: the error and its line.
    let (s, html) = run("ok\n{{ call_info.local_alias|pex_regex_replace('(', '') }}", "sip:x@y");
    assert_eq!(s, 422, "{html}");
    assert!(html.contains("line 2") && html.contains("regular expression"), "{html}");
}

const LOCATION: &str = "/policy/v1/participant/location";
const AVATAR: &str = "/policy/v1/participant/avatar/";

/// A small real JPEG, made with GStreamer's command line tools.
fn a_jpeg(dir: &std::path::Path) -> Vec<u8> {
    let path = dir.join("avatar.jpg");
    let ok = std::process::Command::new("gst-launch-1.0")
        .args(["-q", "videotestsrc", "num-buffers=1", "pattern=solid-color", "foreground-color=0xffffff00", "!", "video/x-raw,width=320,height=180", "!", "jpegenc", "!", "filesink"])
        .arg(format!("location={}", path.display()))
        .status()
        .expect("gst-launch-1.0")
        .success();
    assert!(ok, "gst-launch-1.0 could not make a JPEG");
    std::fs::read(path).unwrap()
}

fn participants_of(node: &Node, conference: &str) -> Vec<Value> {
    objects(&node.get("/api/admin/status/v1/participant/")).into_iter().filter(|p| p["conference"] == conference).collect()
}

#[test]
fn participant_and_media_policy_roles_lock_location_and_avatars() {
    let tmp = tempfile::tempdir().unwrap();
    let jpeg = a_jpeg(tmp.path());
    let locked_room_callers = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let server = PolicyServer::start(move |r| {
        let service = |name: &str, extra: Value| {
            let mut result = json!({"name": name, "service_tag": "t", "service_type": "conference"});
            result.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            Reply::json(json!({"status": "success", "action": "continue", "result": result}))
        };
        if r.path.starts_with(AVATAR) {
            return Reply::bytes("image/jpeg", jpeg.clone());
        }
        match r.path.as_str() {
            SERVICE => {
                let alias = r.param("local_alias").unwrap_or("");
                match alias.trim_start_matches("sip:").split('@').next().unwrap_or("") {
                    "pinroom" => service("PIN Room", json!({"pin": "1234"})),
                    "plainpin" => service("Plain PIN Room", json!({"pin": "1234"})),
                    "lockedroom" => service("Locked Room", json!({"pin": "1234", "allow_guests": true, "locked": true})),
                    "nomedia" => service("No Media Room", json!({})),
                    "farroom" => service("Far Room", json!({})),
                    _ => Reply::status(404),
                }
            }
            PARTICIPANT => match r.param("service_name") {
                Some("PIN Room") => Reply::json(json!({"status": "success", "action": "continue", "result": {"preauthenticated_role": "chair"}})),
                Some("Locked Room") => {
                    // The first caller is vouched for as a Host, the second as a Guest, the third as
                    // a Guest who may bypass the lock.
                    let result = match locked_room_callers.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                        0 => json!({"preauthenticated_role": "chair"}),
                        1 => json!({"preauthenticated_role": "guest"}),
                        _ => json!({"preauthenticated_role": "guest", "bypass_lock": true, "remote_display_name": "Lock Bypasser"}),
                    };
                    Reply::json(json!({"status": "success", "action": "continue", "result": result}))
                }
                _ => Reply::json(json!({"status": "success", "action": "continue", "result": {}})),
            },
            LOCATION => match r.param("service_name") {
                Some("No Media Room") => Reply::json(json!({"status": "success", "action": "reject"})),
                Some("Far Room") => Reply::json(json!({"status": "success", "action": "continue", "result": {"location": "Somewhere Else"}})),
                _ => Reply::json(json!({"status": "success", "action": "continue", "result": {"location": r.param("location").unwrap_or("")}})),
            },
            _ => Reply::status(404),
        }
    });
    let mut node = start_node();
    use_profile(&node, json!({"name": "Participant policy", "url": server.url, "enable_service_lookup": true, "enable_participant_lookup": true,
                              "enable_media_location_lookup": true, "enable_avatar_lookup": true}));

    // Without policy's word, a PIN-protected VMR keeps a caller at PIN entry: not a participant yet.
    let waiting = node.sipp("call_hangup.xml", "plainpin", &["-d", "4000"]);
    node.poll("/api/admin/status/v1/conference/", "the plain PIN room", |v| objects(v).iter().any(|c| c["name"] == "Plain PIN Room"));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(participants_of(&node, "Plain PIN Room").is_empty(), "a caller got past the PIN without entering it");
    // preauthenticated_role chair: in at once, as a Host, without a PIN.
    let chair = node.sipp("call_hangup.xml", "pinroom", &["-d", "3000"]);
    let st = node.poll("/api/admin/status/v1/participant/", "the preauthenticated chair", |v| objects(v).iter().any(|p| p["conference"] == "PIN Room"));
    let p = objects(&st).into_iter().find(|p| p["conference"] == "PIN Room").unwrap();
    assert_eq!(p["role"], "chair", "{p}");
    assert_eq!(p["is_waiting"], false, "{p}");
    chair.success();
    waiting.success();

    // locked: the conference starts locked. The Host policy vouched for is let in (as with the
    // host PIN); the Guest after them waits; a Guest with bypass_lock does not.
    let host = node.sipp("call_hangup.xml", "lockedroom", &["-d", "9000"]);
    node.poll("/api/admin/status/v1/participant/", "the locked room's host", |v| objects(v).iter().any(|p| p["conference"] == "Locked Room"));
    let guest = node.sipp("call_hangup.xml", "lockedroom", &["-d", "6000"]);
    node.poll("/api/admin/status/v1/participant/", "the locked room's guest", |v| {
        objects(v).iter().filter(|p| p["conference"] == "Locked Room").count() == 2
    });
    let bypasser = node.sipp("call_hangup.xml", "lockedroom", &["-d", "3000"]);
    let st = node.poll("/api/admin/status/v1/participant/", "the lock bypasser", |v| {
        objects(v).iter().filter(|p| p["conference"] == "Locked Room").count() == 3
    });
    let ps: Vec<Value> = objects(&st).into_iter().filter(|p| p["conference"] == "Locked Room").collect();
    let find = |f: &dyn Fn(&Value) -> bool, what: &str| ps.iter().find(|p| f(p)).unwrap_or_else(|| panic!("no {what} in {ps:?}")).clone();
    assert_eq!(find(&|p| p["role"] == "chair", "chair")["is_waiting"], false, "{ps:?}");
    let waiting = find(&|p| p["role"] == "guest" && p["display_name"] != "Lock Bypasser", "guest");
    assert_eq!(waiting["is_waiting"], true, "the second caller must wait in a locked conference: {ps:?}");
    let bypass = find(&|p| p["display_name"] == "Lock Bypasser", "lock bypasser");
    assert_eq!((bypass["role"].as_str(), bypass["is_waiting"].as_bool()), (Some("guest"), Some(false)), "{ps:?}");
    let confs = objects(&node.get("/api/admin/status/v1/conference/"));
    let locked = confs.iter().find(|c| c["name"] == "Locked Room").expect("the locked room");
    assert_eq!(locked["is_locked"], true);
    bypasser.success();
    guest.success();
    host.success();

    // Media location: reject refuses the call; another location is logged and the call goes on here.
    node.expect_refusal(403, "nomedia");
    node.sipp("call_hangup.xml", "farroom", &["-d", "100"]).success();
    let asked = server.to(LOCATION);
    let r = asked.iter().find(|r| r.param("service_name") == Some("No Media Room")).expect("a media location request");
    assert_eq!(r.param("local_alias"), Some("sip:nomedia@127.0.0.1"));
    for (k, v) in [("location", "Local"), ("protocol", "sip"), ("call_direction", "dial_in"), ("service_tag", "t"), ("unique_service_name", "No Media Room")] {
        assert_eq!(r.param(k), Some(v), "{k} in {r:?}");
    }
    assert!(asked.iter().any(|r| r.param("service_name") == Some("Far Room")));
    // A refused call is not asked about its avatar.
    let avatars = server.recorded().into_iter().filter(|r| r.path.starts_with(AVATAR)).collect::<Vec<_>>();
    assert!(avatars.iter().all(|r| r.param("service_name") != Some("No Media Room")), "{avatars:?}");
    // The audio-only callers' avatars were asked for, by their alias, at the tile's size.
    let a = avatars.iter().find(|r| r.param("service_name") == Some("PIN Room")).unwrap_or_else(|| panic!("no avatar request: {avatars:?}"));
    assert_eq!(a.path, format!("{AVATAR}sip:bob@127.0.0.1"));
    assert_eq!(a.method, "GET");
    assert_eq!((a.param("width"), a.param("height")), (Some("640"), Some("360")));
    assert_eq!(a.param("remote_alias"), Some("sip:bob@127.0.0.1"));
    // The node is still well after decoding avatars.
    node.sipp("call_hangup.xml", "pinroom", &["-d", "100"]).success();
}

/// The avatar policy serves for an audio-only caller is what a video caller sees of them.
#[test]
fn a_video_caller_sees_an_audio_only_callers_avatar() {
    let tmp = tempfile::tempdir().unwrap();
    let yellow = a_jpeg(tmp.path());
    let server = PolicyServer::start(move |r| {
        if r.path.starts_with(AVATAR) {
            return Reply::bytes("image/jpeg", yellow.clone());
        }
        if r.path == SERVICE && r.param("local_alias").is_some_and(|a| a.starts_with("sip:avatarroom@")) {
            // One pane: whoever a caller sees fills their picture.
            return Reply::json(json!({"status": "success", "action": "continue",
                "result": {"name": "Avatar Room", "service_tag": "", "service_type": "conference", "view": "one_main_zero_pips"}}));
        }
        Reply::status(404)
    });
    let mut node = start_node();
    use_profile(&node, json!({"name": "Avatars", "url": server.url, "enable_service_lookup": true, "enable_avatar_lookup": true}));
    // Bob calls with audio only (sipp), and stays.
    let bob = node.sipp("call_hangup.xml", "avatarroom", &["-d", "16000"]);
    node.poll("/api/admin/status/v1/participant/", "bob in the avatar room", |v| objects(v).iter().any(|p| p["conference"] == "Avatar Room"));
    let asked = || server.recorded().into_iter().filter(|r| r.path.starts_with(AVATAR)).count();
    let deadline = Instant::now() + Duration::from_secs(10);
    while asked() == 0 {
        assert!(Instant::now() < deadline, "no avatar request");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A green video caller must see yellow (the avatar) filling its picture.
    let uri = format!("sip:avatarroom@127.0.0.1:{}", node.sip_port);
    let out = std::process::Command::new(convene_tests::server::convene_binary())
        .args(["testclient", "--call", &uri, "--colour", "green", "--layout", "1:0", "--expect-main", "yellow", "--need-ok", "4", "--seconds", "10"])
        .env("CONVENE_LOG", "warn")
        .output()
        .expect("convene testclient");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let tail: Vec<&str> = stdout.lines().rev().take(8).collect();
    assert!(out.status.success(), "the video caller did not see the avatar:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    bob.success();
    // Only the audio-only caller was asked about.
    assert_eq!(asked(), 1, "{:?}", server.recorded());
}

#[test]
fn a_virtual_reception_asks_policy_for_the_number_entered() {
    // Policy answers only the reception's lookups (trigger two_stage_dialing): 8888 is a room it
    // makes, 6666 is refused; everything else comes from the database.
    let server = PolicyServer::start(|r| {
        if r.path != SERVICE || r.param("trigger") != Some("two_stage_dialing") {
            return Reply::status(404);
        }
        match r.param("local_alias") {
            Some("8888") => Reply::json(json!({"status": "success", "action": "continue",
                "result": {"name": "Policy Reception Room", "service_tag": "from-reception", "service_type": "conference"}})),
            Some("6666") => Reply::json(json!({"status": "success", "action": "reject", "result": {}})),
            _ => Reply::status(404),
        }
    });
    let mut node = start_node();
    let (s, body) = node.post(&format!("{CONFIG}/conference/"), json!({"name": "Reception", "service_type": "two_stage_dialing",
        "match_string": r"(\d{4})", "replace_string": r"\1", "aliases": [{"alias": "reception"}]}));
    assert_eq!(s, 201, "{body}");
    add_vmr(&node, "Room 6666", "6666");
    use_profile(&node, json!({"name": "External", "url": server.url, "enable_service_lookup": true}));

    let mut caller = convene_tests::baresip::Baresip::start("alice", "PCMU/8000/1", "");
    caller.dial(&format!("sip:reception@127.0.0.1:{}", node.sip_port));
    caller.wait(20, "CALL_ESTABLISHED", None);
    caller.wait(20, "CALL_RTPESTAB", Some("audio"));
    node.poll("/api/admin/status/v1/participant/", "alice at the reception", |v| objects(v).iter().any(|p| p["conference"] == "Reception"));
    // Policy refuses 6666, although the database has it: the caller stays at the reception.
    caller.send_digits("6666#");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.to(SERVICE).iter().any(|r| r.param("local_alias") == Some("6666")) {
        assert!(Instant::now() < deadline, "policy was never asked about 6666");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let st = node.get("/api/admin/status/v1/participant/");
    assert!(objects(&st).iter().all(|p| p["conference"] == "Reception"), "{st}");
    // 8888 is a room only policy knows: the caller lands there.
    caller.send_digits("8888#");
    let st = node.poll("/api/admin/status/v1/participant/", "alice in the policy's room", |v| {
        objects(v).iter().any(|p| p["conference"] == "Policy Reception Room")
    });
    assert_eq!(objects(&st).len(), 1, "{st}");
    let asked = server.to(SERVICE);
    let r = asked.iter().find(|r| r.param("local_alias") == Some("8888")).expect("asked about 8888");
    assert_eq!(r.param("trigger"), Some("two_stage_dialing"));
    assert_eq!(r.param("protocol"), Some("sip"));
    assert!(r.param("remote_alias").is_some_and(|a| a.starts_with("sip:alice@")), "{r:?}");
    let confs = node.get("/api/admin/status/v1/conference/");
    assert!(objects(&confs).iter().any(|c| c["tag"] == "from-reception"), "{confs}");
    caller.hangup();
}
