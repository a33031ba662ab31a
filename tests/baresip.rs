//! A real SIP endpoint for end-to-end tests: baresip (package `baresip-core`, `baresip-ffmpeg`
//! for H.264), headless, driven over its `ctrl_tcp` interface (netstring-framed JSON). Each
//! instance gets its own config directory, SIP port, RTP port range and control port; it sends a
//! sine tone and a test pattern, and reports what happened as events (`CALL_ESTABLISHED`,
//! `CALL_RTPESTAB`, `CALL_RTCP` with packet counts, `CALL_CLOSED`). Killed on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::server::free_port;

pub struct Baresip {
    child: Child,
    ctrl: TcpStream,
    events: mpsc::Receiver<Value>,
    /// Every event seen so far.
    pub seen: Vec<Value>,
    pub name: String,
    /// Its SIP port on 127.0.0.1 (it answers calls by itself).
    pub sip_port: u16,
    _dir: tempfile::TempDir,
}

/// A UDP+TCP port `p` with `p + 1` free as well (baresip binds both).
fn free_pair() -> u16 {
    loop {
        let p = free_port();
        if p < 65000
            && std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok()
            && std::net::UdpSocket::bind(("127.0.0.1", p + 1)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok()
        {
            return p;
        }
    }
}

impl Baresip {
    /// Starts an instance that offers `audio_codecs` (e.g. `opus/48000/2`, `PCMU/8000/1`) and
    /// `video_codecs` (`VP8`, `H264`, or empty for audio only).
    pub fn start(name: &str, audio_codecs: &str, video_codecs: &str) -> Baresip {
        Baresip::start_with_camera(name, audio_codecs, video_codecs, "testsrc2")
    }

    /// As [`start`](Self::start), with the camera an ffmpeg lavfi source (`testsrc2`, `color=c=blue`).
    pub fn start_with_camera(name: &str, audio_codecs: &str, video_codecs: &str, camera: &str) -> Baresip {
        Baresip::start_with(name, audio_codecs, video_codecs, camera, "")
    }

    /// As [`start_with_camera`](Self::start_with_camera), with more config lines (e.g.
    /// `sip_cafile /path/ca.pem` to trust a TLS server).
    pub fn start_with(name: &str, audio_codecs: &str, video_codecs: &str, camera: &str, extra_config: &str) -> Baresip {
        let dir = tempfile::tempdir().unwrap();
        let sip = free_pair();
        let ctrl = free_port();
        let rtp = 20000 + (free_port() % 20000) / 200 * 200;
        let video = if video_codecs.is_empty() {
            "video_source fakevideo,nil\n".to_string()
        } else {
            let sep = if camera.contains('=') { ':' } else { '=' };
            format!("video_source avformat,lavfi,{camera}{sep}size=320x240:rate=15\nvideo_size 320x240\nvideo_fps 15\nvideo_bitrate 250000\n")
        };
        let config = format!(
            "sip_listen 127.0.0.1:{sip}\nnet_interface 127.0.0.1\naudio_player aufile,/dev/null\naudio_source ausine,440\n\
             audio_alert aufile,/dev/null\nausrc_srate 48000\nauplay_srate 48000\nausrc_channels 2\nauplay_channels 2\nvideo_display fakevideo,nil\n{video}rtp_ports {rtp}-{}\nrtp_stats yes\n\
             statmode_default off\nctrl_tcp_listen 127.0.0.1:{ctrl}\nmodule_path /usr/lib/baresip/modules\n\
             module g711.so\nmodule g722.so\nmodule opus.so\nmodule ausine.so\nmodule aufile.so\nmodule avformat.so\n\
             module fakevideo.so\nmodule vp8.so\nmodule avcodec.so\nmodule ctrl_tcp.so\nmodule_app account.so\n\
             module_app contact.so\nmodule_app menu.so\n",
            rtp + 199
        );
        std::fs::write(dir.path().join("config"), format!("{config}{extra_config}\n")).unwrap();
        let video_param = if video_codecs.is_empty() { String::new() } else { format!(";video_codecs={video_codecs}") };
        let account = format!(
            "\"{name}\" <sip:{name}@127.0.0.1:{sip}>;regint=0;answermode=auto;audio_codecs={audio_codecs}{video_param}\n"
        );
        std::fs::write(dir.path().join("accounts"), account).unwrap();
        let log = std::fs::File::create(dir.path().join("baresip.log")).unwrap();
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("baresip (apt-get install baresip-core baresip-ffmpeg)");
        let deadline = Instant::now() + Duration::from_secs(10);
        let ctrl = loop {
            match TcpStream::connect(("127.0.0.1", ctrl)) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => panic!("baresip control port: {e}"),
            }
        };
        let (tx, events) = mpsc::channel();
        let mut reader = ctrl.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            while let Ok(n) = reader.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                // Netstrings: `<len>:<json>,`
                while let Some(colon) = buf.iter().position(|b| *b == b':') {
                    let Some(len) = std::str::from_utf8(&buf[..colon]).ok().and_then(|s| s.parse::<usize>().ok()) else {
                        buf.clear();
                        break;
                    };
                    if buf.len() < colon + 1 + len + 1 {
                        break;
                    }
                    if let Ok(v) = serde_json::from_slice::<Value>(&buf[colon + 1..colon + 1 + len]) {
                        let _ = tx.send(v);
                    }
                    buf.drain(..colon + 1 + len + 1);
                }
            }
        });
        Baresip { child, ctrl, events, seen: Vec::new(), name: name.to_string(), sip_port: sip, _dir: dir }
    }

    fn command(&mut self, command: &str, params: &str) {
        let body = json!({"command": command, "params": params, "token": command}).to_string();
        let framed = format!("{}:{body},", body.len());
        self.ctrl.write_all(framed.as_bytes()).expect("baresip control");
    }

    /// Calls `uri`.
    pub fn dial(&mut self, uri: &str) {
        self.command("dial", uri);
    }

    /// Sends DTMF keys (RFC 4733 in the audio stream), one at a time.
    pub fn send_digits(&mut self, digits: &str) {
        for d in digits.chars() {
            self.command("sndcode", &d.to_string());
            // baresip sends one event per key; keys pressed too fast merge into one.
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    pub fn hangup(&mut self) {
        self.command("hangup", "");
    }

    fn drain(&mut self) {
        while let Ok(v) = self.events.try_recv() {
            self.seen.push(v);
        }
    }

    /// Waits (up to `secs`) for an event for which `check` holds; returns it.
    pub fn wait_event(&mut self, secs: u64, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        if let Some(v) = self.seen.iter().find(|v| check(v)) {
            return v.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if check(&v) {
                        return v;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{}: baresip went away waiting for {what}", self.name),
            }
            if Instant::now() >= deadline {
                let types: Vec<String> =
                    self.seen.iter().map(|v| format!("{}({})", v["type"].as_str().unwrap_or("?"), v["param"])).collect();
                panic!("{}: timed out waiting for {what}; events: {}\nlog:\n{}", self.name, types.join(" "), self.log_tail());
            }
        }
    }

    /// Waits for an event of `kind` (and `param`, if given).
    pub fn wait(&mut self, secs: u64, kind: &str, param: Option<&str>) -> Value {
        let what = format!("{kind} {}", param.unwrap_or(""));
        self.wait_event(secs, &what, |v| v["type"] == kind && param.is_none_or(|p| v["param"] == p))
    }

    /// Waits until the node's RTCP sender reports say it sent at least `min` packets on
    /// `stream` (`audio`, `video`) and baresip has them. Returns the count.
    pub fn wait_media_from_node(&mut self, secs: u64, stream: &str, min: u64) -> u64 {
        let v = self.wait_event(secs, &format!("{min} {stream} packets from the node"), |v| {
            v["type"] == "CALL_RTCP" && v["param"] == stream && v["rtcp_stats"]["rx"]["sent"].as_u64().unwrap_or(0) >= min
        });
        v["rtcp_stats"]["rx"]["sent"].as_u64().unwrap()
    }

    /// After the call: baresip's RTP statistics for `stream` (`rtp_stats yes`): packets it
    /// sent, packets it received, and packets the node's receiver reports acknowledged.
    pub fn call_stats(&self, stream: &str) -> CallStats {
        let log = self.log();
        let mut lines = log.lines().skip_while(|l| !(l.starts_with(stream) && l.contains("Transmit:")));
        let mut stats = CallStats::default();
        let two = |l: &str| -> (u64, u64) {
            let n: Vec<u64> = l.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
            (n.first().copied().unwrap_or(0), n.get(1).copied().unwrap_or(0))
        };
        lines.next();
        for l in lines.take(7) {
            if l.starts_with("packets:") {
                (stats.sent, stats.received) = two(l);
            } else if l.starts_with("pkt.report:") {
                stats.acknowledged = two(l).0;
            }
        }
        stats
    }

    /// Whether the call ended (`CALL_CLOSED` seen) within `secs`.
    pub fn closed_within(&mut self, secs: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            self.drain();
            if self.seen.iter().any(|v| v["type"] == "CALL_CLOSED") {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The end of baresip's log (codec choices, received resolution).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self._dir.path().join("baresip.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The whole log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("baresip.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> PathBuf {
        self._dir.path().to_path_buf()
    }
}

/// One stream's RTP statistics at the end of a call.
#[derive(Debug, Default, Clone, Copy)]
pub struct CallStats {
    pub sent: u64,
    pub received: u64,
    /// Packets the far end's RTCP receiver reports acknowledged (what the node received).
    pub acknowledged: u64,
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
