//! Streaming a conference to an RTMP server (nginx-rtmp): a SIP endpoint in a VMR, then the
//! Management API's `participant/dial` with protocol rtmp. ffmpeg pulls the stream back and
//! ffprobe finds H.264 video of the conference's size and AAC audio of the expected duration;
//! the stream is a participant (protocol rtmp) in the Status API, survives the RTMP server going
//! away and coming back (it reconnects), and ends when disconnected.

use std::time::Duration;

use convene_tests::baresip::Baresip;
use convene_tests::nginx_rtmp::{NginxRtmp, probe};
use convene_tests::server::{Convene, free_port, status_participants, wait_until as wait_for};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const PW: &str = "rtmp-stream-test-password-1";

fn participants(http: &Client, base: &str) -> Vec<Value> {
    status_participants(http, base, PW)
}

/// Pulls 3 s of the stream and checks what ffprobe finds.
fn check_stream(rtmp: &NginxRtmp) {
    let mut file = None;
    wait_for("a stream to pull", 30, || {
        file = rtmp.pull("conference", 3);
        file.is_some()
    });
    let info = probe(&file.unwrap());
    let streams = info["streams"].as_array().cloned().unwrap_or_default();
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap_or_else(|| panic!("no video: {info}"));
    let audio = streams.iter().find(|s| s["codec_type"] == "audio").unwrap_or_else(|| panic!("no audio: {info}"));
    assert_eq!(video["codec_name"], "h264", "{info}");
    // The VMR's max_callrate_out (400 kbps) sizes the conference's picture: 480x270.
    assert_eq!((video["width"].as_u64(), video["height"].as_u64()), (Some(480), Some(270)), "{info}");
    assert_eq!((audio["codec_name"].as_str(), audio["sample_rate"].as_str()), (Some("aac"), Some("48000")), "{info}");
    let duration: f64 = info["format"]["duration"].as_str().and_then(|d| d.parse().ok()).unwrap_or(0.0);
    assert!((2.5..=4.0).contains(&duration), "duration {duration}: {info}");
}

#[test]
fn a_conference_is_streamed_to_rtmp_reconnects_and_stops_when_disconnected() {
    let mut rtmp = NginxRtmp::start();
    let dir = tempfile::tempdir().unwrap();
    let sip = format!("127.0.0.1:{}", free_port());
    let mut up = Convene::start("up", &dir.path().join("data"), &[("CONVENE_SIP", &sip), ("CONVENE_ADMIN_PASSWORD", PW)]);
    up.wait_listening();
    let http = Client::new();
    let r = http
        .post(format!("{}/api/admin/configuration/v1/conference/", up.base))
        .basic_auth("admin", Some(PW))
        .json(&json!({"name": "Town Hall", "max_callrate_out": 400, "aliases": [{"alias": "townhall"}]}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);

    let mut speaker = Baresip::start("speaker", "opus/48000/2", "VP8");
    speaker.dial(&format!("sip:townhall@{sip}"));
    speaker.wait(20, "CALL_ESTABLISHED", None);

    let dial = |body: Value| http.post(format!("{}/api/admin/command/v1/participant/dial/", up.base)).basic_auth("admin", Some(PW)).json(&body).send().unwrap();
    let bad = dial(json!({"conference_alias": "townhall", "destination": "sip:x@127.0.0.1", "protocol": "rtmp"}));
    assert_eq!(bad.status().as_u16(), 400, "an rtmp dial needs an rtmp:// URL");
    let r = dial(json!({"conference_alias": "townhall", "destination": rtmp.url("conference"), "protocol": "rtmp", "remote_display_name": "Live stream"}));
    assert_eq!(r.status().as_u16(), 200);
    let id = r.json::<Value>().unwrap()["data"]["participant_id"].as_str().unwrap().to_string();
    wait_for("the stream in the Status API", 20, || {
        participants(&http, &up.base).iter().any(|p| p["id"] == id.as_str() && p["protocol"] == "rtmp" && p["is_streaming"] == true)
    });
    check_stream(&rtmp);

    // The RTMP server goes away and comes back: the stream resumes by itself.
    rtmp.stop();
    std::thread::sleep(Duration::from_millis(500));
    rtmp.restart();
    check_stream(&rtmp);
    assert!(participants(&http, &up.base).iter().any(|p| p["id"] == id.as_str()), "the stream stayed a participant");

    // Disconnected: it leaves, and nothing is published any more.
    let r = http
        .post(format!("{}/api/admin/command/v1/participant/disconnect/", up.base))
        .basic_auth("admin", Some(PW))
        .json(&json!({"participant_id": id}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    wait_for("the stream gone", 20, || !participants(&http, &up.base).iter().any(|p| p["id"] == id.as_str()));
    assert!(rtmp.pull("conference", 1).is_none(), "still published after the disconnect");
    speaker.hangup();
}
