//! `/api/admin/history/v1/`: finished conference instances and participant calls (read-only).

use actix_web::{HttpRequest, HttpResponse, web};
use convene_schema::descriptor::Resource;
use convene_schema::store::history;
use serde_json::Value;

use super::list;
use crate::AppState;
use crate::error::{ApiError, blocking};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/history/v1/participant/{id}/media_stream/", web::get().to(media_streams))
        .route("/history/v1/{resource}/", web::get().to(list_records))
        .route("/history/v1/{resource}/{id}/", web::get().to(get_record));
}

fn resource(name: &str) -> Result<&'static Resource, ApiError> {
    match name {
        "conference" => Ok(&history::CONFERENCE),
        "participant" => Ok(&history::PARTICIPANT),
        _ => Err(ApiError::NotFound(format!("There is no history resource \"{name}\"."))),
    }
}

async fn list_records(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let res = resource(&path)?;
    let params = query.into_inner();
    let (db, p) = (state.db.clone(), params.clone());
    let (total, limit, offset, objects) =
        blocking(move || history::list(&db, res, &p).map_err(|e| ApiError::from_store(res.name, "", e))).await?;
    Ok(HttpResponse::Ok().json(list::envelope(req.path(), &params, total, limit, offset, objects)))
}

async fn get_record(state: web::Data<AppState>, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (name, id) = path.into_inner();
    let res = resource(&name)?;
    let db = state.db.clone();
    let what = format!("record {id}");
    let obj = blocking(move || history::get(&db, res, &id).map_err(|e| ApiError::from_store(res.name, &what, e))).await?;
    Ok(HttpResponse::Ok().json(obj))
}

async fn media_streams(state: web::Data<AppState>, path: web::Path<String>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let db = state.db.clone();
    let what = format!("record {id}");
    let obj = blocking(move || history::get(&db, &history::PARTICIPANT, &id).map_err(|e| ApiError::from_store("participant", &what, e))).await?;
    let streams = match obj.get("media_streams") {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    let n = streams.len() as i64;
    Ok(HttpResponse::Ok().json(list::envelope(req.path(), &[], n, None, 0, streams)))
}
