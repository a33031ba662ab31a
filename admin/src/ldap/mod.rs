//! LDAP sync: provisioning VMRs from a directory (`ldap_sync_source` + `conference_sync_template`).
//!
//! - [`client`]: connect (StartTLS / ldaps with rustls), bind, paged search.
//! - [`template`]: the patterns, rendered with minijinja and Pexip's `pex_*` filters.
//! - [`plan`]: pure planning: creates, updates, deletes, unchanged and clashes.
//! - [`apply`]: writing the plan in batches, one transaction each.
//! - [`status`]: progress for the status API, the dashboard and the command line; the last
//!   result of each template is saved in the database.
//! - [`preview`]: patterns rendered for the first N entries, nothing written (API and dashboard).
//! - [`scheduler`]: the daily automatic sync.
//!
//! A sync runs on its own thread (with a small Tokio runtime for the LDAP client); [`spawn_sync`]
//! starts one and returns at once, [`run_sync`] runs one to the end.

pub mod apply;
pub mod client;
pub mod plan;
pub mod preview;
pub mod scheduler;
pub mod status;
pub mod template;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Instant;

use convene_schema::Db;
use convene_schema::resources::{CONFERENCE_SYNC_TEMPLATE, LDAP_SYNC_SOURCE};
use convene_schema::store::{config, sync};
use serde_json::{Map, Value};

pub use plan::{Clash, Rendered};
pub use status::{SyncRegistry, SyncStatus};

fn as_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A template with its source, ready to search.
pub struct Loaded {
    pub template_id: i64,
    pub template: Map<String, Value>,
    pub source: client::Source,
    pub base: String,
    pub filter: String,
}

/// Loads a template and its source, with the bind password (decrypted, or read from
/// `ldap_bind_password_file`).
pub fn load(db: &Db, template_id: i64) -> Result<Loaded, String> {
    let template = as_map(config::get(db, &CONFERENCE_SYNC_TEMPLATE, template_id).map_err(|e| match e {
        convene_schema::StoreError::NotFound => format!("There is no conference_sync_template with id {template_id}."),
        e => e.to_string(),
    })?);
    let source_id = template
        .get("ldap_sync_source")
        .and_then(|v| LDAP_SYNC_SOURCE.parse_ref(v))
        .ok_or("The template has no ldap_sync_source.")?;
    let src = as_map(config::get(db, &LDAP_SYNC_SOURCE, source_id).map_err(|e| format!("ldap_sync_source {source_id}: {e}"))?);
    let file = src.get("ldap_bind_password_file").and_then(Value::as_str).unwrap_or("").trim().to_string();
    let password = if !file.is_empty() {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("Cannot read ldap_bind_password_file {file}: {e}"))?;
        text.lines().next().unwrap_or("").to_string()
    } else {
        config::secret(db, &LDAP_SYNC_SOURCE, source_id, "ldap_bind_password")
            .map_err(|e| format!("Cannot read the bind password: {e}"))?
            .unwrap_or_default()
    };
    let source = client::Source::from_config(&src, password);
    let rel = template.get("ldap_user_search_dn").and_then(Value::as_str).unwrap_or("");
    let base = client::search_base(&source, rel);
    let filter = template.get("ldap_user_filter").and_then(Value::as_str).unwrap_or("(objectClass=*)").to_string();
    Ok(Loaded { template_id, template, source, base, filter })
}

/// Renders the patterns for the first `n` directory entries; writes nothing.
pub async fn preview(db: &Db, template_id: i64, n: usize) -> Result<Vec<Result<Rendered, (String, String)>>, String> {
    Ok(preview_template(db, template_id, n).await?.1)
}

/// [`preview`], with the template it rendered (see [`preview::run`] for the API and dashboard).
pub async fn preview_template(
    db: &Db,
    template_id: i64,
    n: usize,
) -> Result<(Map<String, Value>, Vec<Result<Rendered, (String, String)>>), String> {
    let l = load(db, template_id)?;
    let patterns = plan::compile(&l.template)?;
    let entries = client::search(&l.source, &l.base, &l.filter, Some(n.max(1)), |_| {}).await?;
    let rows = entries.iter().map(|e| plan::render(&patterns, e).map_err(|err| (e.dn.clone(), err))).collect();
    Ok((l.template, rows))
}

/// Runs one sync of `template_id` to the end, reporting into `registry`. The caller has already
/// called `registry.try_start` (see [`spawn_sync`]); the final status is returned too.
pub async fn run_sync(db: &Db, registry: &SyncRegistry, template_id: i64) -> SyncStatus {
    run_sync_with(db, registry, template_id, None).await
}

pub(crate) async fn run_sync_with(db: &Db, registry: &SyncRegistry, template_id: i64, stop_after: Option<usize>) -> SyncStatus {
    let started = Instant::now();
    let result = sync_inner(db, registry, template_id, stop_after).await;
    registry.update(template_id, |st| {
        st.end_time = Some(config::now_iso());
        st.duration_ms = Some(started.elapsed().as_millis() as u64);
        match result {
            Ok(()) => {
                st.sync_status = "SYNCED".into();
                st.sync_progress = 100;
                st.sync_phase = "done".into();
            }
            Err(e) => {
                tracing::warn!(template_id, "LDAP sync failed: {e}");
                st.sync_status = "FAILED".into();
                st.sync_phase = "failed".into();
                st.errors.push(e.clone());
                st.sync_errors += 1;
                st.sync_last_error_description = e;
            }
        }
    });
    let last = registry.get(template_id).unwrap_or_default();
    if let Err(e) = status::persist(db, registry, &last) {
        tracing::warn!(template_id, "cannot save the LDAP sync result: {e}");
    }
    last
}

async fn sync_inner(db: &Db, registry: &SyncRegistry, id: i64, stop_after: Option<usize>) -> Result<(), String> {
    let l = load(db, id)?;
    let patterns = plan::compile(&l.template)?;
    registry.update(id, |st| {
        st.template_name = l.template.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        st.sync_phase = "searching the directory".into();
        st.sync_progress = 5;
    });
    let entries = client::search(&l.source, &l.base, &l.filter, None, |n| {
        registry.update(id, |st| st.sync_phase = format!("searching the directory ({n} entries)"));
    })
    .await?;
    registry.update(id, |st| {
        st.directory_entries = entries.len();
        st.sync_phase = "planning".into();
        st.sync_progress = 20;
    });
    let prefix = plan::tag_prefix(id);
    let snap = sync::snapshot(db, &prefix).map_err(|e| format!("Cannot read the configuration: {e}"))?;
    let p = plan::plan(id, &l.template, &patterns, &entries, &snap);
    let total = p.deletes.len() + p.updates.len() + p.creates.len();
    registry.update(id, |st| {
        st.vmrs_unchanged = p.unchanged;
        st.clashes = p.clashes.clone();
        st.errors = p.errors.clone();
        st.sync_phase = format!("writing {total} changes");
        st.sync_progress = if total == 0 { 99 } else { 20 };
    });
    let applied = apply::apply(
        db,
        &prefix,
        &p,
        |done, total| {
            registry.update(id, |st| {
                st.sync_progress = 20 + (79 * done / total.max(1)) as u32;
                st.sync_phase = format!("written {done} of {total} changes");
            })
        },
        stop_after,
    );
    registry.update(id, |st| {
        st.vmrs_created = applied.created;
        st.vmrs_updated = applied.updated;
        st.vmrs_deleted = applied.deleted;
        st.clashes.extend(applied.clashes.iter().cloned());
        st.errors.extend(applied.errors.iter().cloned());
        st.sync_errors = st.clashes.len() + st.errors.len();
        st.sync_last_error_description = st
            .errors
            .last()
            .cloned()
            .or_else(|| st.clashes.last().map(|c| format!("{}: {} ({})", c.kind, c.detail, c.entry)))
            .unwrap_or_default();
    });
    Ok(())
}

/// Runs `f` on a new thread with a current-thread Tokio runtime (the LDAP client is async; the
/// storage calls block, which is fine on a thread of their own).
pub fn on_sync_thread<T: Send + 'static>(f: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>> + Send + 'static) -> std::thread::JoinHandle<T> {
    std::thread::Builder::new()
        .name("ldap-sync".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
            rt.block_on(f())
        })
        .expect("spawn the LDAP sync thread")
}

/// Starts a sync in the background; `Err` when one of this template is already running.
pub fn spawn_sync(db: Db, registry: Arc<SyncRegistry>, template_id: i64, name: &str) -> Result<std::thread::JoinHandle<SyncStatus>, String> {
    if !registry.try_start(template_id, name) {
        return Err(format!("A sync of template {template_id} is already running."));
    }
    status::heartbeat(db.clone(), registry.clone(), template_id);
    Ok(on_sync_thread(move || Box::pin(async move { run_sync(&db, &registry, template_id).await })))
}
