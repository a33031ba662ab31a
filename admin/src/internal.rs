//! The API the conferencing nodes use on the management node (`/api/internal/v1/`): status
//! reports, finished-call records, and configuration look-ups. Authenticated by the shared node
//! secret in `X-Convene-Node-Secret`.

use actix_web::{HttpRequest, HttpResponse, web};
use convene_schema::resources::WORKER_VM;
use convene_schema::store::{config, history};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::api::parse_body;
use crate::error::{ApiError, blocking};
use crate::live::NodeReport;

pub const SECRET_HEADER: &str = "X-Convene-Node-Secret";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/internal/v1")
            .route("/nodes/{name}/status", web::put().to(report))
            .route("/nodes/{name}/policy", web::get().to(node_policy))
            .route("/history", web::post().to(record))
            .route("/service", web::get().to(service))
            .route("/global", web::get().to(global))
            .route("/gateway_rules", web::get().to(gateway_rules))
            .route("/locations/nodes", web::get().to(location_nodes)),
    );
}

fn check_secret(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let given = req.headers().get(SECRET_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    // Constant-time comparison: the secret must not leak through timing.
    let expected = state.node_secret.as_bytes();
    let same = given.len() == expected.len() && given.bytes().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if same { Ok(()) } else { Err(ApiError::Unauthorized) }
}

async fn report(state: web::Data<AppState>, req: HttpRequest, name: web::Path<String>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    check_secret(&state, &req)?;
    let body = parse_body(&body)?;
    let report: NodeReport = serde_json::from_value(body).map_err(|e| ApiError::BadRequest(format!("Not a node report: {e}.")))?;
    if report.name != *name {
        return Err(ApiError::BadRequest("The report's name does not match the URL.".into()));
    }
    let db = state.db.clone();
    let n = report.name.clone();
    let params = vec![("name".to_string(), n.clone())];
    let configured = blocking(move || config::list(&db, &WORKER_VM, &params).map_err(|e| ApiError::Internal(e.to_string()))).await?;
    if configured.total == 0 {
        return Err(ApiError::Forbidden(format!("\"{n}\" is not a configured Conferencing Node (worker_vm).")));
    }
    state.live.update(report);
    Ok(HttpResponse::Ok().json(json!({"status": "success"})))
}

#[derive(Deserialize)]
struct Record {
    conference: Value,
    #[serde(default)]
    participants: Vec<Value>,
}

async fn record(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    check_secret(&state, &req)?;
    let body = parse_body(&body)?;
    let rec: Record = serde_json::from_value(body).map_err(|e| ApiError::BadRequest(format!("Not a history record: {e}.")))?;
    let db = state.db.clone();
    blocking(move || history::record(&db, &rec.conference, &rec.participants).map_err(|e| ApiError::from_store("history", "", e))).await?;
    Ok(HttpResponse::Created().json(json!({"status": "success"})))
}

#[derive(Deserialize)]
struct AliasQuery {
    alias: String,
}

async fn service(state: web::Data<AppState>, req: HttpRequest, q: web::Query<AliasQuery>) -> Result<HttpResponse, ApiError> {
    check_secret(&state, &req)?;
    let db = state.db.clone();
    let alias = q.into_inner().alias;
    let a = alias.clone();
    let found = blocking(move || config::service_by_alias(&db, &a).map_err(|e| ApiError::Internal(e.to_string()))).await?;
    found.map(|s| HttpResponse::Ok().json(s)).ok_or_else(|| ApiError::NotFound(format!("No service has the alias \"{alias}\".")))
}

/// A node's system location and policy profile (with its password: nodes authenticate to the
/// policy server), for `convene node`.
async fn node_policy(state: web::Data<AppState>, req: HttpRequest, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    check_secret(&state, &req)?;
    let db = state.db.clone();
    let name = name.into_inner();
    let p = blocking(move || convene_engine::policy::profile::load(&db, &name).map_err(ApiError::Internal)).await?;
    Ok(HttpResponse::Ok().json(p))
}

async fn global(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    check_secret(&state, &req)?;
    let db = state.db.clone();
    let g = blocking(move || config::global(&db).map_err(|e| ApiError::Internal(e.to_string()))).await?;
    Ok(HttpResponse::Ok().json(g))
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test, web};
    use convene_schema::Db;
    use convene_schema::resources::{POLICY_SERVER, SYSTEM_LOCATION, WORKER_VM};
    use convene_schema::store::{config, secrets};
    use serde_json::{Value, json};

    use crate::AppState;

    /// A separate node reads its location and policy profile (password included) here.
    #[actix_rt::test]
    async fn node_policy_profile() {
        secrets::install_key([9; 32]);
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path().join("c.sqlite3").to_str().unwrap()).unwrap();
        let ps = config::create(&db, &POLICY_SERVER, &json!({"name": "P", "url": "http://p.example.com", "password": "s3cret", "enable_service_lookup": true})).unwrap();
        let loc = config::create(&db, &SYSTEM_LOCATION, &json!({"name": "Oslo", "policy_server": ps["resource_uri"]})).unwrap();
        config::create(&db, &WORKER_VM, &json!({"name": "n1", "hostname": "n1", "address": "10.1.1.1", "system_location": loc["resource_uri"]})).unwrap();
        let state = AppState::new(db, "node-secret");
        let app = test::init_service(App::new().app_data(web::Data::new(state)).configure(crate::configure)).await;
        let req = test::TestRequest::get().uri("/api/internal/v1/nodes/n1/policy").to_request();
        assert_eq!(test::call_service(&app, req).await.status().as_u16(), 401);
        let req = test::TestRequest::get().uri("/api/internal/v1/nodes/n1/policy").insert_header((super::SECRET_HEADER, "node-secret")).to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status().as_u16(), 200);
        let v: Value = test::read_body_json(resp).await;
        assert_eq!(v["node"], json!({"location": "Oslo", "node_ip": "10.1.1.1"}));
        assert_eq!(v["profile"]["url"], "http://p.example.com");
        assert_eq!(v["profile"]["password"], "s3cret");
        assert_eq!(v["profile"]["enable_service_lookup"], true);
        // An unknown node: no location, no policy.
        let req = test::TestRequest::get().uri("/api/internal/v1/nodes/nobody/policy").insert_header((super::SECRET_HEADER, "node-secret")).to_request();
        let v: Value = test::read_body_json(test::call_service(&app, req).await).await;
        assert_eq!(v["profile"], Value::Null);
    }
}

/// Every call routing rule (with `outgoing_location_name`), for a separate conferencing node's
/// gateway matching.
async fn gateway_rules(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    check_secret(&state, &req)?;
    let db = state.db.clone();
    let rules = blocking(move || convene_engine::directory::gateway_rules_from(&db).map_err(ApiError::Internal)).await?;
    Ok(HttpResponse::Ok().json(rules))
}

#[derive(Deserialize)]
struct LocationQuery {
    name: String,
}

/// The live Conferencing Nodes in a system location (`?name=`), with their SIP addresses: where
/// a node sends a caller whose gateway rule places calls from that location.
async fn location_nodes(state: web::Data<AppState>, req: HttpRequest, q: web::Query<LocationQuery>) -> Result<HttpResponse, ApiError> {
    check_secret(&state, &req)?;
    let db = state.db.clone();
    let location = q.into_inner().name;
    let names = blocking(move || convene_engine::directory::location_node_names(&db, &location).map_err(ApiError::Internal)).await?;
    let nodes: Vec<Value> = state
        .live
        .nodes()
        .into_iter()
        .filter(|(r, _)| names.contains(&r.name) && !r.sip_address.is_empty())
        .map(|(r, _)| json!({"name": r.name, "sip_address": r.sip_address}))
        .collect();
    Ok(HttpResponse::Ok().json(nodes))
}
