//! Progress and results of syncs, per template, for `/api/admin/status/v1/conference_sync/`, the
//! dashboard and the command line. A running sync's progress is kept in memory (and announced on
//! [`SyncRegistry::subscribe`] for the dashboard's live page); every finished sync is also saved
//! in the database ([`persist`]), so the last result of each template survives a restart and a
//! sync run by `convene ldap sync` shows in the Management Node too ([`SyncRegistry::latest`]).

use std::collections::HashMap;
use std::sync::Mutex;

use convene_schema::Db;
use convene_schema::store::sync;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::plan::Clash;

/// At most this many clashes and errors are saved with a result (`sync_errors` still counts all).
pub const SAVED_CLASHES: usize = 1000;

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
}

impl Default for SyncRegistry {
    fn default() -> Self {
        SyncRegistry { map: Mutex::default(), changes: watch::channel(0).0 }
    }
}

/// Saves a finished sync as the template's last result.
pub fn persist(db: &Db, st: &SyncStatus) -> Result<(), String> {
    let mut saved = st.clone();
    saved.clashes.truncate(SAVED_CLASHES);
    saved.errors.truncate(SAVED_CLASHES);
    let doc = serde_json::to_value(&saved).map_err(|e| e.to_string())?;
    sync::save_status(db, st.template_id, &doc).map_err(|e| e.to_string())
}

impl SyncRegistry {
    /// A receiver that sees a change whenever any sync's status changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The status to show for each of `ids`: a running sync's progress, else the newer of the
    /// result in memory and the one saved in the database; templates never synced are absent.
    /// A database that cannot be read leaves the results in memory.
    pub fn latest(&self, db: &Db, ids: &[i64]) -> HashMap<i64, SyncStatus> {
        let saved = match sync::load_statuses(db, ids) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot read the saved LDAP sync results: {e}");
                HashMap::new()
            }
        };
        let mut out = HashMap::new();
        for &id in ids {
            let mem = self.get(id);
            let stored: Option<SyncStatus> = saved.get(&id).and_then(|v| serde_json::from_value(v.clone()).ok());
            let pick = match (mem, stored) {
                (Some(m), _) if m.is_running() => Some(m),
                (Some(m), Some(s)) => Some(if s.end_time > m.end_time { s } else { m }),
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
