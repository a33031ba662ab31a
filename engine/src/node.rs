//! The node supervisor: the root actor of a Conferencing Node. It owns the node's identity and
//! reports the node's status to the management node on a fixed interval (and, once conferences
//! exist, whenever they change). Conference and participant actors will be its children.

use std::time::Duration;

use actix::prelude::*;
use serde_json::{Value, json};

use crate::{capacity, host};

pub const REPORT_INTERVAL: Duration = Duration::from_secs(5);
pub const SECRET_HEADER: &str = "X-Convene-Node-Secret";

#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The `worker_vm` name this node runs as.
    pub name: String,
    /// Base URL of the management node, e.g. `http://127.0.0.1:8080`.
    pub manager_url: String,
    pub node_secret: String,
    /// Base URL where this node accepts control commands (empty: none yet).
    pub control_url: String,
}

pub struct NodeSupervisor {
    config: NodeConfig,
    http: reqwest::Client,
    boot_time: String,
    cores: usize,
    cpu_model: String,
    total_ram: i64,
    /// Whether the last report was accepted (logged on changes only).
    reporting: Option<bool>,
}

impl NodeSupervisor {
    pub fn new(config: NodeConfig) -> Self {
        NodeSupervisor {
            config,
            http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("HTTP client"),
            boot_time: chrono_now(),
            cores: host::cpu_count(),
            cpu_model: host::cpu_model(),
            total_ram: host::total_ram_mb(),
            reporting: None,
        }
    }

    /// The status report in the shape the management node's internal API takes.
    pub fn report(&self) -> Value {
        let cap = capacity::estimate(self.cores);
        json!({
            "name": self.config.name,
            "version": env!("CARGO_PKG_VERSION"),
            "control_url": self.config.control_url,
            "node_type": "CONFERENCING",
            "cpu_count": self.cores,
            "cpu_model": self.cpu_model,
            "total_ram": self.total_ram,
            "max_hd_calls": cap.max_hd_calls,
            "max_sd_calls": cap.max_sd_calls,
            "max_audio_calls": cap.max_audio_calls,
            "max_full_hd_calls": cap.max_full_hd_calls,
            "max_media_tokens": cap.max_media_tokens,
            "media_tokens_used": 0,
            "boot_time": self.boot_time,
            "conferences": [],
            "participants": [],
        })
    }

    fn send_report(&mut self, ctx: &mut Context<Self>) {
        let url = format!("{}/api/internal/v1/nodes/{}/status", self.config.manager_url.trim_end_matches('/'), self.config.name);
        let request = self.http.put(url).header(SECRET_HEADER, &self.config.node_secret).json(&self.report());
        async move {
            match request.send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    Err(format!("{status}: {body}"))
                }
                Err(e) => Err(e.to_string()),
            }
        }
        .into_actor(self)
        .map(|result, act, _| {
            let ok = result.is_ok();
            if act.reporting != Some(ok) {
                match result {
                    Ok(()) => tracing::info!(node = %act.config.name, "reporting to the management node"),
                    Err(e) => tracing::warn!(node = %act.config.name, error = %e, "the management node refused or missed a status report"),
                }
                act.reporting = Some(ok);
            }
        })
        .spawn(ctx);
    }
}

impl Actor for NodeSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::info!(node = %self.config.name, cores = self.cores, "conferencing node started");
        self.send_report(ctx);
        ctx.run_interval(REPORT_INTERVAL, |act, ctx| act.send_report(ctx));
    }
}

fn chrono_now() -> String {
    convene_schema::store::config::now_iso()
}
