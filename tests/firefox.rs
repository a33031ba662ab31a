//! The browser client in Firefox (headless Firefox ESR, fake camera and microphone), driven over
//! its own remote protocol (Marionette: length-prefixed JSON on a TCP port; no geckodriver or
//! npm package needed): a Firefox user joins a VMR from the join page beside a SIP endpoint,
//! decodes the composite and finds the SIP endpoint's colour in it, is in the roster with the SIP
//! caller, and the SIP endpoint receives Firefox's camera in its main pane.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use convene_tests::server::{Convene, free_port};
use convene_tests::testclient::{Client as SipClient, colours};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const PW: &str = "firefox-test-password-1";

/// A headless Firefox with Marionette on a free port, killed on drop.
struct Firefox {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Firefox {
    fn start() -> Firefox {
        let profile = tempfile::tempdir().unwrap();
        let port = free_port();
        let prefs = [
            format!("user_pref(\"marionette.port\", {port});"),
            // Fake camera and microphone, no permission prompt, loopback ICE candidates.
            "user_pref(\"media.navigator.streams.fake\", true);".into(),
            "user_pref(\"media.navigator.permission.disabled\", true);".into(),
            "user_pref(\"media.peerconnection.ice.loopback\", true);".into(),
            "user_pref(\"media.autoplay.default\", 0);".into(),
            "user_pref(\"browser.shell.checkDefaultBrowser\", false);".into(),
            "user_pref(\"datareporting.policy.dataSubmissionEnabled\", false);".into(),
            "user_pref(\"toolkit.telemetry.reportingpolicy.firstRun\", false);".into(),
            "user_pref(\"app.update.disabledForTesting\", true);".into(),
            "user_pref(\"network.captive-portal-service.enabled\", false);".into(),
        ];
        std::fs::write(profile.path().join("user.js"), prefs.join("\n")).unwrap();
        let binary = std::env::var("FIREFOX").unwrap_or_else(|_| "firefox-esr".into());
        let child = Command::new(&binary)
            .args(["--headless", "--marionette", "--no-remote", "--profile"])
            .arg(profile.path())
            .env("MOZ_HEADLESS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary}: {e} (apt-get install firefox-esr)"));
        Firefox { child, port, _profile: profile }
    }
}

impl Drop for Firefox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Marionette session: `[0, id, command, params]` out, `[1, id, error, result]` back, each
/// message framed as `<length>:<json>`.
struct Marionette {
    stream: TcpStream,
    next: u64,
}

impl Marionette {
    fn connect(port: u16) -> Marionette {
        let deadline = Instant::now() + Duration::from_secs(60);
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
                Err(e) => panic!("Firefox's Marionette port did not open: {e}"),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let mut m = Marionette { stream, next: 1 };
        let hello = m.read();
        assert_eq!(hello["applicationType"], "gecko", "{hello}");
        m
    }

    fn read(&mut self) -> Value {
        let mut len = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            self.stream.read_exact(&mut byte).expect("Marionette closed");
            if byte[0] == b':' {
                break;
            }
            len.push(byte[0]);
        }
        let n: usize = String::from_utf8(len).unwrap().parse().unwrap();
        let mut body = vec![0u8; n];
        self.stream.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    fn call(&mut self, command: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        let msg = json!([0, id, command, params]).to_string();
        self.stream.write_all(format!("{}:{msg}", msg.len()).as_bytes()).unwrap();
        loop {
            let r = self.read();
            if r[1] == id {
                assert!(r[2].is_null(), "{command} failed: {}", r[2]);
                return r[3].clone();
            }
        }
    }
}

/// Runs in the page: join from the form, wait for decoded video, then read the composite.
const JOIN_AND_WATCH: &str = r#"
const done = arguments[arguments.length - 1];
(async () => {
  const wait = (ms) => new Promise((r) => setTimeout(r, ms));
  for (let i = 0; i < 100 && !window.convene; i++) await wait(100);
  document.getElementById('name').value = 'Fox';
  document.getElementById('alias').value = arguments[0];
  document.getElementById('join').click();
  const t0 = Date.now();
  let stats = null;
  while (Date.now() - t0 < 40000) {
    await wait(250);
    stats = await window.convene.inboundVideo();
    if (stats && stats.framesDecoded > 30) break;
  }
  const v = document.getElementById('remote');
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  let blue = 0;
  if (c.width) {
    const ctx = c.getContext('2d');
    ctx.drawImage(v, 0, 0);
    const px = ctx.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < px.length; i += 16) { n++; if (px[i + 2] > 150 && px[i] < 100 && px[i + 1] < 100) blue++; }
    blue = blue / n;
  }
  const roster = [...document.querySelectorAll('#roster li')].map((li) => li.textContent);
  const error = document.getElementById('error').hidden ? null : document.getElementById('error').textContent;
  const text = (id) => { const e = document.getElementById(id); return e && !e.hidden ? e.textContent : null; };
  const call = window.convene.state.call;
  done({ stats, blue, roster, error, userAgent: navigator.userAgent, mediaMessage: text('media-message'), mediaState: text('media-state'),
         notice: text('notice'), call: !!call, pc: call && call.pc ? { ice: call.pc.iceConnectionState, conn: call.pc.connectionState, signaling: call.pc.signalingState } : null,
         local: window.convene.local ? Object.keys(window.convene.local) : null,
         statTypes: call && call.pc ? [...(await call.pc.getStats()).values()].map((s) => `${s.type}:${s.kind || ''}:${s.packetsReceived ?? ''}:${s.framesDecoded ?? ''}`) : null,
         offer: call && call.pc && call.pc.localDescription ? call.pc.localDescription.sdp.split('\r\n').filter((l) => /^(m=video|a=rtpmap|a=fmtp|a=rtcp-fb|a=extmap|a=sendrecv|a=recvonly|a=sendonly)/.test(l)) : null,
         answer: call && call.pc && call.pc.remoteDescription ? call.pc.remoteDescription.sdp.split('\r\n').filter((l) => /^(m=|a=rtpmap|a=setup|a=sendrecv|a=recvonly|a=sendonly|a=mid)/.test(l)) : null });
})();
"#;

#[test]
fn the_browser_client_works_in_firefox_beside_a_sip_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let sip = format!("127.0.0.1:{}", free_port());
    let mut up = Convene::start("up", &dir.path().join("data"), &[("CONVENE_SIP", &sip), ("CONVENE_ADMIN_PASSWORD", PW)]);
    up.wait_listening();
    let http = Client::new();
    let r = http
        .post(format!("{}/api/admin/configuration/v1/conference/", up.base))
        .basic_auth("admin", Some(PW))
        .json(&json!({"name": "Fox Room", "max_callrate_out": 300, "aliases": [{"alias": "foxroom"}]}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);

    let mut blue = SipClient::start(&format!("sip:foxroom@{sip}"), "blue", &[]);
    blue.answered();

    let firefox = Firefox::start();
    let mut m = Marionette::connect(firefox.port);
    m.call("WebDriver:NewSession", json!({"capabilities": {"alwaysMatch": {"acceptInsecureCerts": true}}}));
    m.call("WebDriver:SetTimeouts", json!({"script": 90_000}));
    m.call("WebDriver:Navigate", json!({"url": format!("{}/?alias=foxroom", up.client_api)}));
    let out = m.call("WebDriver:ExecuteAsyncScript", json!({"script": JOIN_AND_WATCH, "args": ["foxroom"]}));
    let r = &out["value"];
    println!("{r}");
    assert!(r["userAgent"].as_str().is_some_and(|ua| ua.contains("Firefox")), "{r}");
    assert!(r["error"].is_null(), "the page shows an error: {r}");
    assert!(r["stats"]["framesDecoded"].as_u64() > Some(30), "Firefox decoded no video: {r}");
    assert!(r["blue"].as_f64() > Some(0.05), "the SIP endpoint's blue is not in Firefox's picture: {r}");
    let roster = r["roster"].to_string();
    assert!(roster.contains("Fox") && roster.contains("blue"), "roster: {roster}");
    // The SIP endpoint sees Firefox's fake camera (not the black of an empty pane) in its main pane.
    blue.wait(20, "Firefox's picture in the main pane", |l| {
        l.iter().any(|s| s["event"] == "sample" && s["frames"].as_u64() > Some(0) && colours(s).first().is_some_and(|c| c != "black"))
    });
    let _ = blue.hang_up();
}
