//! A running `convene testclient` (tools/src/testclient): a SIP endpoint that sends a solid
//! colour and a tone, decodes what the node sends back and prints one JSON line per sample with
//! the colour of every pane of the picture; used by the end-to-end tests that check what callers
//! really see.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::server::convene_binary;

/// A running `convene testclient`, its JSON lines collected as they come.
pub struct Client {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl Client {
    pub fn start(uri: &str, colour: &str, extra: &[&str]) -> Client {
        let mut child = Command::new(convene_binary())
            .args(["testclient", "--call", uri, "--colour", colour, "--until-stdin-closes", "--seconds", "90"])
            .args(extra)
            .env("CONVENE_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start convene testclient");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = BufReader::new(child.stdout.take().unwrap());
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => sink.lock().unwrap().push(v),
                    Err(_) => eprintln!("testclient said: {line}"),
                }
            }
        });
        Client { name: colour.to_string(), stdin: child.stdin.take(), child, lines }
    }

    pub fn lines(&self) -> Vec<Value> {
        self.lines.lock().unwrap().clone()
    }

    pub fn samples(&self) -> Vec<Value> {
        self.lines().into_iter().filter(|l| l["event"] == "sample").collect()
    }

    pub fn tail(&self) -> String {
        let lines = self.lines();
        lines[lines.len().saturating_sub(6)..].iter().map(|l| l.to_string()).collect::<Vec<_>>().join("\n")
    }

    /// Waits up to `secs` until `check` holds for the lines so far.
    pub fn wait(&mut self, secs: u64, what: &str, check: impl Fn(&[Value]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if check(&self.lines()) {
                return;
            }
            if let Ok(Some(s)) = self.child.try_wait() {
                // Its last lines may still be on their way through the pipe.
                std::thread::sleep(Duration::from_millis(200));
                assert!(check(&self.lines()), "{}: exited ({s}) before {what}:\n{}", self.name, self.tail());
                return;
            }
            assert!(Instant::now() < deadline, "{}: timed out waiting for {what}:\n{}", self.name, self.tail());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn answered(&mut self) {
        self.wait(20, "the call to be answered", |l| l.iter().any(|l| l["event"] == "answered"));
    }

    pub fn receiving(&mut self) {
        self.wait(20, "decoded video", |l| l.iter().any(|l| l["event"] == "sample" && l["frames"].as_u64() > Some(0)));
    }

    /// Waits until the last `n` samples all met the client's expectations.
    pub fn steadily_ok(&mut self, n: usize, secs: u64) {
        self.wait(secs, &format!("{n} passing samples in a row"), |l| {
            let s: Vec<&Value> = l.iter().filter(|l| l["event"] == "sample").collect();
            s.len() >= n && s[s.len() - n..].iter().all(|s| s["ok"] == true)
        });
    }

    /// Closes standard input (the client hangs up) and returns its summary and whether it
    /// exited with success (its expectations held).
    pub fn hang_up(&mut self) -> (Value, bool) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.child.try_wait().ok().flatten() {
                break s;
            }
            assert!(Instant::now() < deadline, "{}: still running 20 s after hanging up", self.name);
            std::thread::sleep(Duration::from_millis(50));
        };
        self.wait(2, "its summary", |l| l.iter().any(|l| l["event"] == "summary"));
        (self.lines().into_iter().find(|l| l["event"] == "summary").unwrap(), status.success())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn colours(sample: &Value) -> Vec<String> {
    sample["panes"].as_array().unwrap().iter().map(|p| p["colour"].as_str().unwrap_or("mixed").to_string()).collect()
}

pub fn level(sample: &Value) -> f64 {
    sample["audio_dbov"].as_f64().unwrap()
}
