//! Live status fed by the conferencing nodes: each node reports a snapshot of itself, its
//! conference instances and its participants; the Status API and the dashboard read the union.
//! A node that stops reporting is dropped after [`NODE_EXPIRY`].

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;

pub const NODE_EXPIRY: Duration = Duration::from_secs(30);

/// What a node reports about itself (Pexip `worker_vm` status fields plus where to reach it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeReport {
    /// The configured `worker_vm` name.
    pub name: String,
    pub version: String,
    /// Base URL of the node's control API (commands are forwarded there).
    #[serde(default)]
    pub control_url: String,
    /// Where callers reach the node by SIP (`host:port`).
    #[serde(default)]
    pub sip_address: String,
    pub node_type: String,
    pub cpu_count: i64,
    pub cpu_model: String,
    pub total_ram: i64,
    pub max_hd_calls: i64,
    pub max_sd_calls: i64,
    pub max_audio_calls: i64,
    pub max_full_hd_calls: i64,
    pub max_media_tokens: i64,
    pub media_tokens_used: i64,
    pub boot_time: String,
    /// Live conference instances (Pexip status `conference` objects; `id` is a UUID).
    #[serde(default)]
    pub conferences: Vec<Value>,
    /// Live participants (Pexip status `participant` objects).
    #[serde(default)]
    pub participants: Vec<Value>,
}

struct Entry {
    report: NodeReport,
    last_reported: String,
    seen: Instant,
}

/// The live registry; cheap to share behind an `Arc`.
pub struct Live {
    nodes: Mutex<BTreeMap<String, Entry>>,
    changed: watch::Sender<u64>,
}

impl Default for Live {
    fn default() -> Self {
        Live { nodes: Mutex::new(BTreeMap::new()), changed: watch::channel(0).0 }
    }
}

impl Live {
    pub fn update(&self, report: NodeReport) {
        let now = convene_schema::store::config::now_iso();
        let mut nodes = self.nodes.lock().expect("live lock");
        let changed = nodes.get(&report.name).is_none_or(|e| e.report != report);
        nodes.insert(report.name.clone(), Entry { report, last_reported: now, seen: Instant::now() });
        drop(nodes);
        if changed {
            self.changed.send_modify(|v| *v += 1);
        }
    }

    /// Subscribes to changes (the value is a change counter).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn expire(&self) {
        let mut nodes = self.nodes.lock().expect("live lock");
        let before = nodes.len();
        nodes.retain(|_, e| e.seen.elapsed() < NODE_EXPIRY);
        if nodes.len() != before {
            drop(nodes);
            self.changed.send_modify(|v| *v += 1);
        }
    }

    /// The node's report and when it arrived, if it is reporting.
    pub fn node(&self, name: &str) -> Option<(NodeReport, String)> {
        self.expire();
        self.nodes.lock().expect("live lock").get(name).map(|e| (e.report.clone(), e.last_reported.clone()))
    }

    pub fn nodes(&self) -> Vec<(NodeReport, String)> {
        self.expire();
        self.nodes.lock().expect("live lock").values().map(|e| (e.report.clone(), e.last_reported.clone())).collect()
    }

    /// All live conferences, each with the node that hosts it.
    pub fn conferences(&self) -> Vec<(Value, String)> {
        self.expire();
        let nodes = self.nodes.lock().expect("live lock");
        nodes.values().flat_map(|e| e.report.conferences.iter().map(|c| (c.clone(), e.report.name.clone()))).collect()
    }

    pub fn participants(&self) -> Vec<(Value, String)> {
        self.expire();
        let nodes = self.nodes.lock().expect("live lock");
        nodes.values().flat_map(|e| e.report.participants.iter().map(|p| (p.clone(), e.report.name.clone()))).collect()
    }

    /// The control URL of the node hosting the live conference with this id or name.
    pub fn conference_node(&self, id_or_name: &str) -> Option<(Value, String)> {
        self.conferences().into_iter().find(|(c, _)| {
            c.get("id").and_then(Value::as_str) == Some(id_or_name) || c.get("name").and_then(Value::as_str) == Some(id_or_name)
        })
        .and_then(|(c, node)| self.node(&node).map(|(r, _)| (c, r.control_url)))
    }

    pub fn participant_node(&self, id: &str) -> Option<(Value, String)> {
        self.participants().into_iter().find(|(p, _)| p.get("id").and_then(Value::as_str) == Some(id))
            .and_then(|(p, node)| self.node(&node).map(|(r, _)| (p, r.control_url)))
    }
}
