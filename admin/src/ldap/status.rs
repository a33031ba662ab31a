//! Progress and results of syncs, per template, for `/api/admin/status/v1/conference_sync/`, the
//! dashboard and the command line. Kept in memory (like Pexip's, the status restarts with the
//! Management Node); the VMRs themselves are the durable result.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;

use super::plan::Clash;

/// One template's sync status (Pexip field names; device and end-user counts stay 0: this
/// version syncs VMRs only).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
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

#[derive(Debug, Default)]
pub struct SyncRegistry {
    map: Mutex<HashMap<i64, SyncStatus>>,
}

impl SyncRegistry {
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
        true
    }

    pub fn update(&self, id: i64, f: impl FnOnce(&mut SyncStatus)) {
        let mut map = self.map.lock().expect("sync registry");
        let st = map.entry(id).or_insert_with(|| SyncStatus { template_id: id, sync_status: "NOT_SYNCED".into(), ..Default::default() });
        f(st);
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
