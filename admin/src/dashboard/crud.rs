//! List, create, edit and delete pages for the configuration resources, the global settings page
//! and the overview. Saving goes through `convene_schema::store::config`, so the dashboard applies
//! exactly the validation the API does.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use convene_schema::descriptor::{Field, Kind, Resource};
use convene_schema::resources::{self, GLOBAL};
use convene_schema::store::config;
use convene_schema::validate::{self, FieldErrors, Mode};
use convene_schema::{Db, StoreError};
use serde_json::{Map, Value, json};

use super::forms::{self, Pairs, RefOptions, Values};
use super::pages::{self, GLOBAL_PAGE, Page};
use super::session::{Authed, check_csrf};
use super::{DashError, blocking, page as render_page, redirect_with, see_other, url_encode};
use crate::AppState;

const PAGE_SIZE: i64 = 20;
const MAX_PAGE_SIZE: i64 = 200;

fn page_of(slug: &str) -> Result<&'static Page, DashError> {
    pages::by_slug(slug).ok_or_else(|| DashError::NotFound(format!("There is no dashboard page \"{slug}\".")))
}

fn parse_id(raw: &str) -> Result<i64, DashError> {
    raw.parse::<i64>().ok().filter(|i| *i > 0).ok_or_else(|| DashError::NotFound(format!("\"{raw}\" is not an object id.")))
}

/// The name an object goes by (its resource's key field).
fn name_of(res: &Resource, obj: &Value) -> String {
    match obj.get(res.key) {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(v) => v.to_string(),
    }
}

/// Every object the `Ref`/`RefList` fields of `res` selected by `want` can point at, by name.
fn ref_options(db: &Db, res: &Resource, want: impl Fn(&Field) -> bool) -> Result<RefOptions, StoreError> {
    let mut out = RefOptions::new();
    for field in res.fields.iter().filter(|f| want(f)) {
        let (Kind::Ref(target) | Kind::RefList(target)) = field.kind else { continue };
        if out.contains_key(target) {
            continue;
        }
        let Some(target_res) = resources::by_name(target) else { continue };
        let params = [("limit".to_string(), "0".to_string()), ("order_by".to_string(), target_res.key.to_string())];
        let list = config::list(db, target_res, &params)?;
        let options = list
            .objects
            .iter()
            .filter_map(|o| Some((o["resource_uri"].as_str()?.to_string(), name_of(target_res, o))))
            .collect();
        out.insert(target, options);
    }
    Ok(out)
}

fn skip_list(page: &Page) -> Vec<&'static str> {
    page.hidden.iter().chain(page.fixed()).copied().collect()
}

/// Draws the create/edit form of `page` (`id`: the object edited, `None` when creating).
#[allow(clippy::too_many_arguments)]
fn form_response(
    req: &HttpRequest,
    session: &convene_schema::store::users::Session,
    page: &'static Page,
    id: Option<i64>,
    heading: String,
    values: &Values<'_>,
    errors: &FieldErrors,
    refs: &RefOptions,
    status: StatusCode,
) -> Result<HttpResponse, DashError> {
    let res = page.resource;
    let skip = skip_list(page);
    let creating = id.is_none();
    let mut views = forms::views(res, values, errors, refs, &skip, creating);
    let (primary, advanced) = if page.primary.is_empty() {
        (std::mem::take(&mut views), Vec::new())
    } else {
        let mut primary = Vec::new();
        for name in page.primary {
            if let Some(pos) = views.iter().position(|v| v.name == *name) {
                primary.push(views.remove(pos));
            }
        }
        (primary, views)
    };
    let shown: Vec<&str> = primary.iter().chain(&advanced).map(|v| v.name).collect();
    let top_errors: Vec<String> = errors
        .0
        .iter()
        .filter(|(k, _)| !shown.contains(&k.as_str()))
        .flat_map(|(k, msgs)| {
            msgs.iter().map(move |m| if k == "__all__" { m.clone() } else { format!("{}: {m}", forms::label(k)) })
        })
        .collect();
    let action = match (res.singleton, id) {
        (true, _) => "/admin/global/".to_string(),
        (false, Some(id)) => format!("/admin/{}/{id}/", page.slug),
        (false, None) => format!("/admin/{}/new", page.slug),
    };
    let mut ctx = Map::new();
    ctx.insert("title".into(), json!(heading));
    ctx.insert("heading".into(), json!(heading));
    ctx.insert("intro".into(), json!(if res.singleton { page.intro } else { "" }));
    ctx.insert("advanced_open".into(), json!(advanced.iter().any(|v| !v.errors.is_empty())));
    ctx.insert("primary".into(), json!(primary));
    ctx.insert("advanced".into(), json!(advanced));
    ctx.insert("has_errors".into(), json!(!errors.is_empty()));
    ctx.insert("top_errors".into(), json!(top_errors));
    ctx.insert("action".into(), json!(action));
    ctx.insert("cancel_url".into(), json!(if res.singleton { "/admin/".to_string() } else { page.list_url() }));
    ctx.insert("delete_url".into(), json!(id.filter(|_| !res.singleton).map(|id| format!("/admin/{}/{id}/delete", page.slug))));
    ctx.insert("submit_label".into(), json!(if creating { format!("Create {}", page.singular) } else { "Save changes".into() }));
    render_page(req, session, page.slug, status, "form.html", ctx)
}

/// What saving a form came to: the stored object, or the problems to show next to the fields.
type Saved = Result<Value, FieldErrors>;

/// Validates and stores a submitted form: created when `id` is `None`, otherwise patched with every
/// field the form shows.
async fn save(state: &AppState, page: &'static Page, id: Option<i64>, pairs: &Pairs) -> Result<Saved, DashError> {
    let res = page.resource;
    let (mut body, form_errors) = forms::form_to_json(res, pairs, &skip_list(page));
    if let Some(st) = page.service_type {
        body.insert("service_type".into(), json!(st));
    }
    let db = state.db.clone();
    blocking(move || {
        let current = match id {
            Some(id) => Some(config::get(&db, res, id)?),
            None => None,
        };
        if let (Some(st), Some(cur)) = (page.service_type, &current)
            && cur["service_type"] != st
        {
            return Err(DashError::NotFound(format!("That service is not a {}.", page.singular)));
        }
        let body = Value::Object(body);
        if !form_errors.is_empty() {
            // Show every problem at once: add what the store would say about the other fields.
            let mut errors = form_errors;
            let global = config::global(&db)?;
            let mode = if id.is_some() { Mode::Patch } else { Mode::Create };
            if let Err(more) = validate::check(res, current.as_ref().and_then(Value::as_object), &body, mode, &global) {
                for (k, v) in more.0 {
                    errors.0.entry(k).or_insert(v);
                }
            }
            return Ok(Err(errors));
        }
        let result = match id {
            None => config::create(&db, res, &body),
            Some(id) => config::update(&db, res, id, &body, Mode::Patch),
        };
        match result {
            Ok(obj) => Ok(Ok(obj)),
            Err(StoreError::Invalid(errors)) => Ok(Err(errors)),
            Err(e) => Err(e.into()),
        }
    })
    .await
}

async fn load_refs(state: &AppState, res: &'static Resource) -> Result<RefOptions, DashError> {
    let db = state.db.clone();
    blocking(move || Ok(ref_options(&db, res, |_| true)?)).await
}

pub async fn list(
    req: HttpRequest,
    Authed(session): Authed,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, DashError> {
    let page = page_of(&slug)?;
    let res = page.resource;
    let q: String = forms::get(&query, "q").unwrap_or_default().trim().chars().take(250).collect();
    let limit = forms::get(&query, "limit").and_then(|v| v.parse::<i64>().ok()).filter(|n| *n > 0).unwrap_or(PAGE_SIZE).min(MAX_PAGE_SIZE);
    let offset = forms::get(&query, "offset").and_then(|v| v.parse::<i64>().ok()).filter(|n| *n >= 0).unwrap_or(0);
    let mut params = vec![
        ("limit".to_string(), limit.to_string()),
        ("offset".to_string(), offset.to_string()),
        ("order_by".to_string(), page.order_by.to_string()),
    ];
    if let Some(st) = page.service_type {
        params.push(("service_type".into(), st.into()));
    }
    if !q.is_empty() {
        params.push((format!("{}__icontains", res.key), q.clone()));
    }
    let db = state.db.clone();
    let (list, refs) = blocking(move || {
        let list = config::list(&db, res, &params)?;
        let refs = ref_options(&db, res, |f| page.columns.contains(&f.name) && matches!(f.kind, Kind::Ref(_)))?;
        Ok((list, refs))
    })
    .await?;

    let columns: Vec<Value> = page
        .columns
        .iter()
        .map(|c| json!({"name": c, "label": forms::label(c), "numeric": matches!(res.field(c).map(|f| f.kind), Some(Kind::Int { .. }))}))
        .collect();
    let rows: Vec<Value> = list
        .objects
        .iter()
        .map(|obj| {
            let id = obj["id"].as_i64().unwrap_or_default();
            let cells: Vec<Value> = page
                .columns
                .iter()
                .map(|c| {
                    let field = res.field(c).expect("page columns are fields");
                    json!({"text": forms::cell(field, &obj[*c], &refs), "link": *c == res.key, "label": forms::label(c)})
                })
                .collect();
            json!({"id": id, "name": name_of(res, obj), "url": format!("/admin/{}/{id}/", page.slug), "cells": cells})
        })
        .collect();
    let link = |offset: i64| {
        let mut parts = Vec::new();
        if !q.is_empty() {
            parts.push(format!("q={}", url_encode(&q)));
        }
        if limit != PAGE_SIZE {
            parts.push(format!("limit={limit}"));
        }
        if offset > 0 {
            parts.push(format!("offset={offset}"));
        }
        if parts.is_empty() { page.list_url() } else { format!("{}?{}", page.list_url(), parts.join("&")) }
    };
    let shown = rows.len() as i64;
    let mut ctx = Map::new();
    ctx.insert("title".into(), json!(page.title));
    ctx.insert("page".into(), json!({"slug": page.slug, "title": page.title, "singular": page.singular, "intro": page.intro}));
    ctx.insert("search_label".into(), json!(format!("Search by {}", forms::label(res.key).to_lowercase())));
    ctx.insert("columns".into(), Value::Array(columns));
    ctx.insert("rows".into(), Value::Array(rows));
    ctx.insert("q".into(), json!(q));
    ctx.insert("total".into(), json!(list.total));
    ctx.insert("from".into(), json!(if shown > 0 { offset + 1 } else { 0 }));
    ctx.insert("to".into(), json!(offset + shown));
    ctx.insert("prev_url".into(), json!((offset > 0).then(|| link((offset - limit).max(0)))));
    ctx.insert("next_url".into(), json!((offset + limit < list.total).then(|| link(offset + limit))));
    ctx.insert("new_url".into(), json!(format!("/admin/{}/new", page.slug)));
    render_page(&req, &session, page.slug, StatusCode::OK, "list.html", ctx)
}

pub async fn new_form(req: HttpRequest, Authed(session): Authed, state: web::Data<AppState>, slug: web::Path<String>) -> Result<HttpResponse, DashError> {
    let page = page_of(&slug)?;
    let refs = load_refs(&state, page.resource).await?;
    let defaults = validate::defaults(page.resource);
    let heading = format!("New {}", page.singular);
    form_response(&req, &session, page, None, heading, &Values::Stored(&defaults), &FieldErrors::default(), &refs, StatusCode::OK)
}

pub async fn create(
    req: HttpRequest,
    Authed(session): Authed,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, DashError> {
    let page = page_of(&slug)?;
    check_csrf(&session, &form)?;
    let pairs = form.into_inner();
    match save(&state, page, None, &pairs).await? {
        Ok(obj) => Ok(redirect_with(&page.list_url(), "ok", &format!("Saved {} “{}”.", page.singular, name_of(page.resource, &obj)))),
        Err(errors) => {
            let refs = load_refs(&state, page.resource).await?;
            let heading = format!("New {}", page.singular);
            form_response(&req, &session, page, None, heading, &Values::Submitted(&pairs), &errors, &refs, StatusCode::BAD_REQUEST)
        }
    }
}

pub async fn edit_form(
    req: HttpRequest,
    Authed(session): Authed,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, DashError> {
    let (slug, raw) = path.into_inner();
    let page = page_of(&slug)?;
    let id = parse_id(&raw)?;
    let db = state.db.clone();
    let res = page.resource;
    let (obj, refs) = blocking(move || Ok((config::get(&db, res, id)?, ref_options(&db, res, |_| true)?))).await?;
    if let Some(st) = page.service_type
        && obj["service_type"] != st
    {
        // Listed elsewhere: send the user to the page for its kind of service.
        return match obj["service_type"].as_str().and_then(pages::for_service_type) {
            Some(other) => Ok(see_other(&format!("/admin/{}/{id}/", other.slug))),
            None => Err(DashError::NotFound(format!("That service is not a {}.", page.singular))),
        };
    }
    let heading = format!("Edit {} “{}”", page.singular, name_of(res, &obj));
    let empty = Map::new();
    let values = Values::Stored(obj.as_object().unwrap_or(&empty));
    form_response(&req, &session, page, Some(id), heading, &values, &FieldErrors::default(), &refs, StatusCode::OK)
}

pub async fn update(
    req: HttpRequest,
    Authed(session): Authed,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, DashError> {
    let (slug, raw) = path.into_inner();
    let page = page_of(&slug)?;
    let id = parse_id(&raw)?;
    check_csrf(&session, &form)?;
    let pairs = form.into_inner();
    match save(&state, page, Some(id), &pairs).await? {
        Ok(obj) => Ok(redirect_with(&page.list_url(), "ok", &format!("Saved {} “{}”.", page.singular, name_of(page.resource, &obj)))),
        Err(errors) => {
            let refs = load_refs(&state, page.resource).await?;
            let name = forms::get(&pairs, page.resource.key).unwrap_or_default();
            let heading = format!("Edit {} “{}”", page.singular, name);
            form_response(&req, &session, page, Some(id), heading, &Values::Submitted(&pairs), &errors, &refs, StatusCode::BAD_REQUEST)
        }
    }
}

fn delete_page(
    req: &HttpRequest,
    session: &convene_schema::store::users::Session,
    page: &'static Page,
    id: i64,
    name: &str,
    error: Option<String>,
) -> Result<HttpResponse, DashError> {
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let mut ctx = Map::new();
    ctx.insert("title".into(), json!(format!("Delete {} “{name}”", page.singular)));
    ctx.insert("name".into(), json!(name));
    ctx.insert("singular".into(), json!(page.singular));
    ctx.insert("error".into(), json!(error));
    ctx.insert("action".into(), json!(format!("/admin/{}/{id}/delete", page.slug)));
    ctx.insert("cancel_url".into(), json!(format!("/admin/{}/{id}/", page.slug)));
    ctx.insert("is_service".into(), json!(page.service_type.is_some()));
    render_page(req, session, page.slug, status, "delete.html", ctx)
}

/// Loads an object of `page`, refusing one of another service type.
async fn load_for(state: &AppState, page: &'static Page, id: i64) -> Result<Value, DashError> {
    let db = state.db.clone();
    let obj = blocking(move || Ok(config::get(&db, page.resource, id)?)).await?;
    if let Some(st) = page.service_type
        && obj["service_type"] != st
    {
        return Err(DashError::NotFound(format!("That service is not a {}.", page.singular)));
    }
    Ok(obj)
}

pub async fn confirm_delete(
    req: HttpRequest,
    Authed(session): Authed,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, DashError> {
    let (slug, raw) = path.into_inner();
    let page = page_of(&slug)?;
    let id = parse_id(&raw)?;
    let obj = load_for(&state, page, id).await?;
    delete_page(&req, &session, page, id, &name_of(page.resource, &obj), None)
}

pub async fn delete(
    req: HttpRequest,
    Authed(session): Authed,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, DashError> {
    let (slug, raw) = path.into_inner();
    let page = page_of(&slug)?;
    let id = parse_id(&raw)?;
    check_csrf(&session, &form)?;
    let obj = match load_for(&state, page, id).await {
        Ok(obj) => obj,
        Err(DashError::NotFound(_)) => {
            return Ok(redirect_with(&page.list_url(), "error", &format!("That {} was already deleted.", page.singular)));
        }
        Err(e) => return Err(e),
    };
    let name = name_of(page.resource, &obj);
    let db = state.db.clone();
    let result = blocking(move || match config::delete(&db, page.resource, id) {
        Ok(()) => Ok(Ok(())),
        Err(StoreError::Invalid(e)) => Ok(Err(e)),
        Err(StoreError::NotFound) => Ok(Ok(())),
        Err(e) => Err(e.into()),
    })
    .await?;
    match result {
        Ok(()) => Ok(redirect_with(&page.list_url(), "ok", &format!("Deleted {} “{name}”.", page.singular))),
        Err(errors) => {
            let msg = errors.0.values().flatten().cloned().collect::<Vec<_>>().join(" ");
            delete_page(&req, &session, page, id, &name, Some(msg))
        }
    }
}

pub async fn global_form(req: HttpRequest, Authed(session): Authed, state: web::Data<AppState>) -> Result<HttpResponse, DashError> {
    let db = state.db.clone();
    let (obj, refs) = blocking(move || Ok((config::get(&db, &GLOBAL, 1)?, ref_options(&db, &GLOBAL, |_| true)?))).await?;
    let empty = Map::new();
    let values = Values::Stored(obj.as_object().unwrap_or(&empty));
    form_response(&req, &session, &GLOBAL_PAGE, Some(1), GLOBAL_PAGE.title.into(), &values, &FieldErrors::default(), &refs, StatusCode::OK)
}

pub async fn global_save(
    req: HttpRequest,
    Authed(session): Authed,
    state: web::Data<AppState>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, DashError> {
    check_csrf(&session, &form)?;
    let pairs = form.into_inner();
    match save(&state, &GLOBAL_PAGE, Some(1), &pairs).await? {
        Ok(_) => Ok(redirect_with("/admin/global/", "ok", "Saved global settings.")),
        Err(errors) => {
            let refs = load_refs(&state, &GLOBAL).await?;
            let values = Values::Submitted(&pairs);
            form_response(&req, &session, &GLOBAL_PAGE, Some(1), GLOBAL_PAGE.title.into(), &values, &errors, &refs, StatusCode::BAD_REQUEST)
        }
    }
}

/// The overview: how many objects of each kind exist, and what is live.
pub async fn home(req: HttpRequest, Authed(session): Authed, state: web::Data<AppState>) -> Result<HttpResponse, DashError> {
    let db = state.db.clone();
    let counts = blocking(move || {
        pages::PAGES
            .iter()
            .map(|p| {
                let mut params = vec![("limit".to_string(), "1".to_string())];
                if let Some(st) = p.service_type {
                    params.push(("service_type".into(), st.into()));
                }
                Ok((p, config::list(&db, p.resource, &params)?.total))
            })
            .collect::<Result<Vec<_>, DashError>>()
    })
    .await?;
    let cards: Vec<Value> = counts
        .iter()
        .map(|(p, n)| json!({"title": p.title, "count": n, "url": p.list_url(), "new_url": format!("/admin/{}/new", p.slug), "singular": p.singular}))
        .collect();
    let configured_nodes = counts.iter().find(|(p, _)| p.slug == "nodes").map(|(_, n)| *n).unwrap_or(0);
    let mut ctx = Map::new();
    ctx.insert("title".into(), json!("Overview"));
    ctx.insert("cards".into(), Value::Array(cards));
    ctx.insert(
        "live".into(),
        json!({
            "conferences": state.live.conferences().len(),
            "participants": state.live.participants().len(),
            "nodes_reporting": state.live.nodes().len(),
            "nodes_configured": configured_nodes,
        }),
    );
    render_page(&req, &session, "", StatusCode::OK, "home.html", ctx)
}
