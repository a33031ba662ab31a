//! `/api/admin/status/v1/`: live conferences, participants, Conferencing Nodes and locations, as the
//! nodes last reported them.

use actix_web::{HttpRequest, HttpResponse, web};
use convene_schema::resources::{CONFERENCE_SYNC_TEMPLATE, SYSTEM_LOCATION, WORKER_VM};
use convene_schema::store::config;
use serde_json::{Value, json};

use super::list;
use crate::AppState;
use crate::error::{ApiError, blocking};
use crate::live::NodeReport;

pub const STATUS_PREFIX: &str = "/api/admin/status/v1/";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/status/v1/{resource}/", web::get().to(list_status))
        .route("/status/v1/{resource}/{id}/", web::get().to(get_status));
}

/// Every object of a status resource.
pub async fn objects(state: &AppState, resource: &str) -> Result<Vec<Value>, ApiError> {
    Ok(match resource {
        "conference" => state
            .live
            .conferences()
            .into_iter()
            .map(|(mut c, node)| {
                let id = c.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
                c["resource_uri"] = json!(format!("{STATUS_PREFIX}conference/{id}/"));
                c["node"] = json!(node);
                c
            })
            .collect(),
        "participant" => state
            .live
            .participants()
            .into_iter()
            .map(|(mut p, _)| {
                let id = p.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
                p["resource_uri"] = json!(format!("{STATUS_PREFIX}participant/{id}/"));
                p
            })
            .collect(),
        "worker_vm" => worker_vms(state).await?,
        "system_location" => locations(state).await?,
        "conference_sync" => conference_syncs(state).await?,
        other => return Err(ApiError::NotFound(format!("There is no status resource \"{other}\"."))),
    })
}

async fn configured(state: &AppState, res: &'static convene_schema::descriptor::Resource) -> Result<Vec<Value>, ApiError> {
    let db = state.db.clone();
    let params = vec![("limit".to_string(), "0".to_string())];
    blocking(move || config::list(&db, res, &params).map(|p| p.objects).map_err(|e| ApiError::from_store(res.name, "", e))).await
}

fn node_status(cfg: &Value, live: Option<&(NodeReport, String)>, location_name: &str) -> Value {
    let id = cfg["id"].as_i64().unwrap_or_default();
    let mut v = json!({
        "id": id,
        "name": cfg["name"],
        "configuration_id": id,
        "resource_uri": format!("{STATUS_PREFIX}worker_vm/{id}/"),
        "node_type": cfg["node_type"],
        "system_location": location_name,
        "maintenance_mode": cfg["maintenance_mode"],
        "maintenance_mode_reason": cfg["maintenance_mode_reason"],
        "upgrade_status": "IDLE",
    });
    match live {
        Some((r, last)) => {
            let load = if r.max_media_tokens > 0 { (r.media_tokens_used * 100) / r.max_media_tokens } else { 0 };
            for (k, val) in [
                ("version", json!(r.version)), ("cpu_count", json!(r.cpu_count)), ("cpu_model", json!(r.cpu_model)),
                ("total_ram", json!(r.total_ram)), ("max_hd_calls", json!(r.max_hd_calls)), ("max_sd_calls", json!(r.max_sd_calls)),
                ("max_audio_calls", json!(r.max_audio_calls)), ("max_full_hd_calls", json!(r.max_full_hd_calls)),
                ("max_media_tokens", json!(r.max_media_tokens)), ("media_tokens_used", json!(r.media_tokens_used)),
                ("media_load", json!(load)), ("boot_time", json!(r.boot_time)), ("last_reported", json!(last)),
                ("last_contacted", json!(last)), ("sync_status", json!("SYNCED")),
                ("conference_count", json!(r.conferences.len())), ("participant_count", json!(r.participants.len())),
            ] {
                v[k] = val;
            }
        }
        None => {
            for k in ["version", "cpu_model", "boot_time", "last_reported", "last_contacted"] {
                v[k] = Value::Null;
            }
            for k in ["cpu_count", "total_ram", "max_hd_calls", "max_sd_calls", "max_audio_calls", "max_full_hd_calls",
                "max_media_tokens", "media_tokens_used", "media_load", "conference_count", "participant_count"] {
                v[k] = json!(0);
            }
            v["sync_status"] = json!("NOT_CONNECTED");
        }
    }
    v
}

async fn worker_vms(state: &AppState) -> Result<Vec<Value>, ApiError> {
    let nodes = configured(state, &WORKER_VM).await?;
    let locations = configured(state, &SYSTEM_LOCATION).await?;
    let live = state.live.nodes();
    Ok(nodes
        .iter()
        .map(|cfg| {
            let loc = locations.iter().find(|l| l["resource_uri"] == cfg["system_location"]).and_then(|l| l["name"].as_str()).unwrap_or("");
            let report = live.iter().find(|(r, _)| Some(r.name.as_str()) == cfg["name"].as_str());
            node_status(cfg, report, loc)
        })
        .collect())
}

async fn locations(state: &AppState) -> Result<Vec<Value>, ApiError> {
    let nodes = worker_vms(state).await?;
    let locations = configured(state, &SYSTEM_LOCATION).await?;
    Ok(locations
        .iter()
        .map(|loc| {
            let id = loc["id"].as_i64().unwrap_or_default();
            let mine: Vec<&Value> = nodes.iter().filter(|n| n["system_location"] == loc["name"]).collect();
            let sum = |k: &str| mine.iter().map(|n| n[k].as_i64().unwrap_or(0)).sum::<i64>();
            let (tokens, used) = (sum("max_media_tokens"), sum("media_tokens_used"));
            json!({
                "id": id, "name": loc["name"], "resource_uri": format!("{STATUS_PREFIX}system_location/{id}/"),
                "max_hd_calls": sum("max_hd_calls"), "max_sd_calls": sum("max_sd_calls"), "max_audio_calls": sum("max_audio_calls"),
                "max_full_hd_calls": sum("max_full_hd_calls"), "max_media_tokens": tokens, "media_tokens_used": used,
                "media_load": if tokens > 0 { used * 100 / tokens } else { 0 },
            })
        })
        .collect())
}

async fn list_status(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let objects = objects(&state, &path).await?;
    Ok(HttpResponse::Ok().json(list::page_in_memory(req.path(), &query, objects)?))
}

async fn get_status(state: web::Data<AppState>, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (resource, id) = path.into_inner();
    let objects = objects(&state, &resource).await?;
    let found = objects.into_iter().find(|o| match &o["id"] {
        Value::String(s) => *s == id,
        Value::Number(n) => n.to_string() == id,
        _ => false,
    });
    found
        .map(|o| HttpResponse::Ok().json(o))
        .ok_or_else(|| ApiError::NotFound(format!("No live {resource} with id {id}.")))
}

/// One object per sync template: its last (or running) sync, with Pexip's fields and the clashes.
async fn conference_syncs(state: &AppState) -> Result<Vec<Value>, ApiError> {
    let templates = configured(state, &CONFERENCE_SYNC_TEMPLATE).await?;
    // Running syncs from memory, finished ones also from the database (they survive restarts).
    let ids: Vec<i64> = templates.iter().filter_map(|t| t["id"].as_i64()).collect();
    let (db, registry) = (state.db.clone(), state.ldap.clone());
    let mut latest = blocking(move || Ok(registry.latest(&db, &ids))).await?;
    Ok(templates
        .iter()
        .map(|t| {
            let id = t["id"].as_i64().unwrap_or_default();
            let st = latest.remove(&id).unwrap_or_else(|| crate::ldap::SyncStatus {
                template_id: id,
                sync_status: "NOT_SYNCED".into(),
                ..Default::default()
            });
            let mut v = serde_json::to_value(&st).unwrap_or_default();
            v["id"] = json!(id);
            v["template_name"] = t["name"].clone();
            v["conference_sync_template"] = json!(CONFERENCE_SYNC_TEMPLATE.uri(id));
            v["resource_uri"] = json!(format!("{STATUS_PREFIX}conference_sync/{id}/"));
            v
        })
        .collect())
}
