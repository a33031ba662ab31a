//! The daily automatic sync: every template with `enable_automatic_sync` is synced once a day.
//! The first run is an hour after the Management Node starts (not at once, so a restart loop
//! cannot hammer the directory); after that, a template is due 24 h after its last sync started.

use std::time::Duration;

use convene_schema::resources::CONFERENCE_SYNC_TEMPLATE;
use convene_schema::store::config;
use serde_json::Value;

use crate::AppState;

pub const DAY: Duration = Duration::from_secs(24 * 3600);

/// Starts the scheduler on the current (actix/tokio) runtime.
pub fn start(state: AppState) {
    let first = std::env::var("CONVENE_LDAP_SYNC_FIRST_DELAY_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3600);
    actix_rt::spawn(async move {
        tokio::time::sleep(Duration::from_secs(first)).await;
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        let mut last_run: std::collections::HashMap<i64, std::time::Instant> = Default::default();
        loop {
            tick.tick().await;
            let db = state.db.clone();
            let params = vec![("limit".to_string(), "0".to_string())];
            let templates = match actix_web::web::block(move || config::list(&db, &CONFERENCE_SYNC_TEMPLATE, &params)).await {
                Ok(Ok(page)) => page.objects,
                _ => continue,
            };
            for t in templates {
                if t.get("enable_automatic_sync") != Some(&Value::Bool(true)) {
                    continue;
                }
                let Some(id) = t.get("id").and_then(Value::as_i64) else { continue };
                if last_run.get(&id).is_some_and(|at| at.elapsed() < DAY) {
                    continue;
                }
                let name = t.get("name").and_then(Value::as_str).unwrap_or("");
                if super::spawn_sync(state.db.clone(), state.ldap.clone(), id, name).is_ok() {
                    tracing::info!(template = name, "automatic daily LDAP sync started");
                    last_run.insert(id, std::time::Instant::now());
                }
            }
        }
    });
}
