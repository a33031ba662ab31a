//! Progress and results of syncs, per template, for `/api/admin/status/v1/conference_sync/`, the
//! dashboard and the command line. A running sync's progress is kept in memory (and announced on
//! [`SyncRegistry::subscribe`] for the dashboard's live page); it is also saved in the database
//! when it starts, every [`HEARTBEAT`] while it runs ([`heartbeat`]) and when it ends
//! ([`persist`]). So the last result of each template survives a restart, a sync run by
//! `convene ldap sync` shows in the Management Node too ([`SyncRegistry::latest`]), and a sync
//! whose process stopped half-way (no heartbeat for [`STALE`]) shows as interrupted instead of
//! running for ever.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use convene_schema::Db;
use convene_schema::store::sync;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::plan::Clash;

/// At most this many clashes and errors are saved with a result (`sync_errors` still counts all).
pub const SAVED_CLASHES: usize = 1000;
/// How often a running sync's progress is saved.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A saved running sync not heard of for this long was interrupted (its process stopped).
/// `CONVENE_LDAP_SYNC_STALE_SECS` changes it (tests).
pub const STALE: Duration = Duration::from_secs(30);

fn stale_after() -> Duration {
    std::env::var("CONVENE_LDAP_SYNC_STALE_SECS").ok().and_then(|s| s.parse().ok()).map(Duration::from_secs).unwrap_or(STALE)
}

/// One template's sync status (Pexip field names; device and end-user counts stay 0: this
/// version syncs VMRs only).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SyncStatus {
    pub template_id: i64,
    pub template_name: String,
    /// `NOT_SYNCED`, `SYNCING`, `SYNCED` or `FAILED`.
    pub sync_status: String,
    /// 0–100.
    pub sync_progress: u32,
    /// What the sync is doing now ("searching the directory (1,500 entries)", "writing", …).
    pub sync_phase: String,
    pub vmrs_created: usize,
    pub vmrs_updated: usize,
    pub vmrs_deleted: usize,
    pub vmrs_unchanged: usize,
    pub devices_created: usize,
    pub devices_updated: usize,
    pub devices_deleted: usize,
    pub devices_unchanged: usize,
    pub end_users_created: usize,
    pub end_users_updated: usize,
    pub end_users_deleted: usize,
    pub end_users_unchanged: usize,
    pub directory_entries: usize,
    /// Clashes and per-entry problems plus sync-level errors.
    pub sync_errors: usize,
    pub sync_last_error_description: String,
    pub clashes: Vec<Clash>,
    pub errors: Vec<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub duration_ms: Option<u64>,
}

impl SyncStatus {
    pub fn is_running(&self) -> bool {
        self.sync_status == "SYNCING"
    }
}

#[derive(Debug)]
pub struct SyncRegistry {
    map: Mutex<HashMap<i64, SyncStatus>>,
    /// Bumped on every change (the dashboard's live page listens).
    changes: watch::Sender<u64>,
    /// Held while saving, so a heartbeat never overwrites the final result.
    saving: Mutex<()>,
}

impl Default for SyncRegistry {
    fn default() -> Self {
        SyncRegistry { map: Mutex::default(), changes: watch::channel(0).0, saving: Mutex::new(()) }
    }
}

fn save(db: &Db, st: &SyncStatus) -> Result<(), String> {
    let mut saved = st.clone();
    saved.clashes.truncate(SAVED_CLASHES);
    saved.errors.truncate(SAVED_CLASHES);
    let mut doc = serde_json::to_value(&saved).map_err(|e| e.to_string())?;
    doc["saved_at"] = serde_json::json!(chrono::Utc::now().to_rfc3339());
    sync::save_status(db, st.template_id, &doc).map_err(|e| e.to_string())
}

/// Saves a sync's status (a finished one: the template's last result).
pub fn persist(db: &Db, registry: &SyncRegistry, st: &SyncStatus) -> Result<(), String> {
    let _guard = registry.saving.lock().expect("sync registry");
    save(db, st)
}

/// Saves the progress of the running sync of `id` now and every [`HEARTBEAT`] until it ends.
pub fn heartbeat(db: Db, registry: Arc<SyncRegistry>, id: i64) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("ldap-sync-heartbeat".into())
        .spawn(move || {
            loop {
                {
                    let _guard = registry.saving.lock().expect("sync registry");
                    match registry.get(id) {
                        Some(st) if st.is_running() => {
                            if let Err(e) = save(&db, &st) {
                                tracing::warn!(template_id = id, "cannot save the LDAP sync progress: {e}");
                            }
                        }
                        _ => return,
                    }
                }
                std::thread::sleep(HEARTBEAT);
            }
        })
        .expect("spawn the LDAP sync heartbeat thread")
}

/// A saved status as it is shown: a running sync not saved for [`STALE`] was interrupted.
pub fn from_saved(doc: &serde_json::Value, now: chrono::DateTime<chrono::Utc>) -> Option<SyncStatus> {
    let mut st: SyncStatus = serde_json::from_value(doc.clone()).ok()?;
    if st.is_running() {
        let saved_at = doc["saved_at"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        let stale = saved_at.is_none_or(|t| now.signed_duration_since(t).to_std().is_ok_and(|age| age > stale_after()));
        if stale {
            let why = format!(
                "The sync was interrupted at {} % ({}): the process running it stopped. The VMRs written are complete; the next sync finishes the rest.",
                st.sync_progress, st.sync_phase
            );
            st.sync_status = "FAILED".into();
            st.sync_phase = "interrupted".into();
            st.errors.push(why.clone());
            st.sync_errors += 1;
            st.sync_last_error_description = why;
        }
    }
    Some(st)
}

impl SyncRegistry {
    /// A receiver that sees a change whenever any sync's status changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The status to show for each of `ids`: a sync running here, else the later started of the
    /// one in memory and the one saved in the database (which may be running in another process,
    /// or interrupted); templates never synced are absent. A database that cannot be read leaves
    /// the statuses in memory.
    pub fn latest(&self, db: &Db, ids: &[i64]) -> HashMap<i64, SyncStatus> {
        let saved = match sync::load_statuses(db, ids) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot read the saved LDAP sync results: {e}");
                HashMap::new()
            }
        };
        let now = chrono::Utc::now();
        let mut out = HashMap::new();
        for &id in ids {
            let mem = self.get(id);
            let stored = saved.get(&id).and_then(|v| from_saved(v, now));
            let pick = match (mem, stored) {
                (Some(m), _) if m.is_running() => Some(m),
                (Some(m), Some(s)) => Some(if s.start_time > m.start_time { s } else { m }),
                (m, s) => m.or(s),
            };
            if let Some(mut st) = pick {
                st.template_id = id;
                out.insert(id, st);
            }
        }
        out
    }

    /// Marks a sync of `id` as started; `false` when one is already running.
    pub fn try_start(&self, id: i64, name: &str) -> bool {
        let mut map = self.map.lock().expect("sync registry");
        if map.get(&id).is_some_and(SyncStatus::is_running) {
            return false;
        }
        map.insert(
            id,
            SyncStatus {
                template_id: id,
                template_name: name.to_string(),
                sync_status: "SYNCING".into(),
                sync_phase: "connecting to the directory".into(),
                start_time: Some(convene_schema::store::config::now_iso()),
                ..SyncStatus::default()
            },
        );
        drop(map);
        self.changed();
        true
    }

    pub fn update(&self, id: i64, f: impl FnOnce(&mut SyncStatus)) {
        let mut map = self.map.lock().expect("sync registry");
        let st = map.entry(id).or_insert_with(|| SyncStatus { template_id: id, sync_status: "NOT_SYNCED".into(), ..Default::default() });
        f(st);
        drop(map);
        self.changed();
    }

    pub fn get(&self, id: i64) -> Option<SyncStatus> {
        self.map.lock().expect("sync registry").get(&id).cloned()
    }

    pub fn all(&self) -> Vec<SyncStatus> {
        let mut v: Vec<SyncStatus> = self.map.lock().expect("sync registry").values().cloned().collect();
        v.sort_by_key(|s| s.template_id);
        v
    }
}
