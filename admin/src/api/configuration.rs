//! `/api/admin/configuration/v1/<resource>/`: list, create, bulk change and delete-all on the list
//! URL; get, replace, patch and delete on `<resource>/<id>/`.

use actix_web::{HttpRequest, HttpResponse, web};
use convene_schema::descriptor::Resource;
use convene_schema::resources;
use convene_schema::store::config;
use convene_schema::validate::{FieldErrors, Mode};
use serde_json::Value;

use super::{list, parse_body, schema_doc};
use crate::AppState;
use crate::error::{ApiError, blocking};

pub fn routes(cfg: &mut web::ServiceConfig) {
    for path in ["/configuration/v1/{resource}/schema/", "/configuration/v1/{resource}/schema"] {
        cfg.route(path, web::get().to(schema));
    }
    for path in ["/configuration/v1/{resource}/", "/configuration/v1/{resource}"] {
        cfg.service(
            web::resource(path)
                .route(web::get().to(list_objects))
                .route(web::post().to(create))
                .route(web::patch().to(bulk))
                .route(web::delete().to(delete_all)),
        );
    }
    for path in ["/configuration/v1/{resource}/{id}/", "/configuration/v1/{resource}/{id}"] {
        cfg.service(
            web::resource(path)
                .route(web::get().to(get))
                .route(web::put().to(replace))
                .route(web::patch().to(patch))
                .route(web::delete().to(delete)),
        );
    }
}

fn resource(name: &str) -> Result<&'static Resource, ApiError> {
    resources::by_name(name).ok_or_else(|| ApiError::NotFound(format!("There is no configuration resource \"{name}\".")))
}

fn id(raw: &str, res: &Resource) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|i| *i > 0).ok_or_else(|| ApiError::NotFound(format!("No {} with id \"{raw}\".", res.name)))
}

async fn schema(path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let res = resource(&path)?;
    Ok(HttpResponse::Ok().json(schema_doc::tastypie_schema(res)))
}

async fn list_objects(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let res = resource(&path)?;
    let params = query.into_inner();
    let db = state.db.clone();
    let p = params.clone();
    let page = blocking(move || config::list(&db, res, &p).map_err(|e| ApiError::from_store(res.name, "", e))).await?;
    let body = list::envelope(req.path(), &params, page.total, page.limit, page.offset, page.objects);
    Ok(HttpResponse::Ok().json(body))
}

async fn create(state: web::Data<AppState>, path: web::Path<String>, body: web::Bytes, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let res = resource(&path)?;
    let body = parse_body(&body)?;
    let db = state.db.clone();
    let obj = blocking(move || config::create(&db, res, &body).map_err(|e| ApiError::from_store(res.name, "", e))).await?;
    let uri = obj["resource_uri"].as_str().unwrap_or_default().to_string();
    let location = {
        let info = req.connection_info();
        format!("{}://{}{uri}", info.scheme(), info.host())
    };
    Ok(HttpResponse::Created().insert_header(("Location", location)).json(obj))
}

async fn bulk(state: web::Data<AppState>, path: web::Path<String>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let res = resource(&path)?;
    let body = parse_body(&body)?;
    let objects = match body.get("objects") {
        None => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(ApiError::invalid(res.name, FieldErrors::one("objects", "Must be a list of objects."))),
    };
    let deleted = match body.get("deleted_objects") {
        None => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(ApiError::invalid(res.name, FieldErrors::one("deleted_objects", "Must be a list of resource_uris."))),
    };
    if body.get("objects").is_none() && body.get("deleted_objects").is_none() {
        return Err(ApiError::invalid(res.name, FieldErrors::one("objects", "A bulk PATCH needs \"objects\" and/or \"deleted_objects\".")));
    }
    let db = state.db.clone();
    let ids = blocking(move || config::bulk(&db, res, &objects, &deleted).map_err(|e| ApiError::from_store(res.name, "", e))).await?;
    let uris: Vec<String> = ids.into_iter().map(|id| res.uri(id)).collect();
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "objects": uris })))
}

async fn delete_all(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let res = resource(&path)?;
    let db = state.db.clone();
    blocking(move || config::delete_all(&db, res).map_err(|e| ApiError::from_store(res.name, "", e))).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn get(state: web::Data<AppState>, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (name, raw) = path.into_inner();
    let res = resource(&name)?;
    let id = id(&raw, res)?;
    let db = state.db.clone();
    let obj = blocking(move || config::get(&db, res, id).map_err(|e| ApiError::from_store(res.name, &format!("with id {id}"), e))).await?;
    Ok(HttpResponse::Ok().json(obj))
}

async fn write(state: web::Data<AppState>, path: web::Path<(String, String)>, body: web::Bytes, mode: Mode) -> Result<HttpResponse, ApiError> {
    let (name, raw) = path.into_inner();
    let res = resource(&name)?;
    let id = id(&raw, res)?;
    let body = parse_body(&body)?;
    let db = state.db.clone();
    let obj = blocking(move || {
        config::update(&db, res, id, &body, mode).map_err(|e| ApiError::from_store(res.name, &format!("with id {id}"), e))
    })
    .await?;
    Ok(HttpResponse::Accepted().json(obj))
}

async fn replace(state: web::Data<AppState>, path: web::Path<(String, String)>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    write(state, path, body, Mode::Replace).await
}

async fn patch(state: web::Data<AppState>, path: web::Path<(String, String)>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    write(state, path, body, Mode::Patch).await
}

async fn delete(state: web::Data<AppState>, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (name, raw) = path.into_inner();
    let res = resource(&name)?;
    let id = id(&raw, res)?;
    let db = state.db.clone();
    blocking(move || config::delete(&db, res, id).map_err(|e| ApiError::from_store(res.name, &format!("with id {id}"), e))).await?;
    Ok(HttpResponse::NoContent().finish())
}
