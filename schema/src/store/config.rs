//! Configuration objects: create, read, update, delete, list and bulk-change objects of any
//! resource, with each request in one transaction (a refused request changes nothing).

use std::collections::HashMap;

use diesel::prelude::*;
use serde_json::{Map, Value, json};

use super::query::{self, Bind, Column, JsonTy, Sql};
use super::tables::config_object::dsl as co;
use super::{Conn, Db, Result, StoreError, on_conn};
use crate::descriptor::{Field, Kind, Resource};
use crate::resources::{self, CONFERENCE, CONFERENCE_ALIAS, GLOBAL};
use crate::validate::{self, AliasInput, FieldErrors, Mode};

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = super::tables::config_object)]
pub struct ObjectRow {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub unique_key: Option<String>,
    pub owner_id: Option<i64>,
    pub data: String,
    pub creation_time: String,
}

#[derive(Insertable)]
#[diesel(table_name = super::tables::config_object)]
pub(super) struct NewObject<'a> {
    pub(super) kind: &'a str,
    pub(super) name: &'a str,
    pub(super) unique_key: Option<&'a str>,
    pub(super) owner_id: Option<i64>,
    pub(super) data: &'a str,
    pub(super) creation_time: &'a str,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page {
    pub total: i64,
    pub limit: Option<i64>,
    pub offset: i64,
    pub objects: Vec<Value>,
}

/// The current time as the API writes it (UTC, ISO 8601 without zone, like Pexip).
pub fn now_iso() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// Where each field of `res` can be filtered and sorted on.
pub fn column_of(res: &'static Resource) -> impl Fn(&str) -> Option<(Column, Option<&'static Field>)> {
    move |name: &str| {
        if name == "id" {
            return Some((Column::Plain { sql: "id", int: true }, None));
        }
        let field = res.field(name)?;
        if name == res.key {
            let int = matches!(field.kind, Kind::Int { .. });
            return Some((Column::Plain { sql: "name", int }, Some(field)));
        }
        if name == "creation_time" {
            return Some((Column::Plain { sql: "creation_time", int: false }, Some(field)));
        }
        if res.owner.is_some_and(|(f, _)| f == name) {
            return Some((Column::Plain { sql: "owner_id", int: true }, Some(field)));
        }
        let ty = match field.kind {
            Kind::Int { .. } => JsonTy::Int,
            Kind::Bool => JsonTy::Bool,
            Kind::Aliases | Kind::RefList(_) | Kind::Json | Kind::Secret { .. } => return None,
            _ => JsonTy::Text,
        };
        Some((Column::Json { field: field.name, ty }, Some(field)))
    }
}

/// Lists objects of `res` with Tastypie parameters.
pub fn list(db: &Db, res: &'static Resource, params: &[(String, String)]) -> Result<Page> {
    let q = query::parse(params, &column_of(res))?;
    db.read(|conn| {
        let backend = conn.backend();
        let mut count = Sql::new(backend, "SELECT COUNT(*) AS n FROM config_object WHERE kind = ");
        count.bind(Bind::Text(res.name.into()));
        query::push_filters(&mut count, &q.filters);
        let total = conn.count(count)?;
        // Page in two steps: the ids of the page (skipping rows through the (kind, id) index
        // without reading their documents), then just those rows.
        // With a filter on the key column, SQLite would walk the (kind, id) index to avoid sorting
        // and read every row's name from the table (6 ms at 10,000 VMRs); the (kind, name) index
        // covers the filter and the id, and sorting the few matches is cheap (0.9 ms).
        let on_name = q.filters.iter().any(|f| matches!(f.column, Column::Plain { sql: "name", .. }));
        let from = if backend == query::Backend::Sqlite && on_name {
            "SELECT id AS n FROM config_object INDEXED BY config_object_name WHERE kind = "
        } else {
            "SELECT id AS n FROM config_object WHERE kind = "
        };
        let mut select = Sql::new(backend, from);
        select.bind(Bind::Text(res.name.into()));
        query::push_filters(&mut select, &q.filters);
        query::push_page(&mut select, &q, "id");
        let ids: Vec<i64> = conn.load::<super::Count>(select)?.into_iter().map(|c| c.n).collect();
        let mut rows: Vec<ObjectRow> = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            rows.extend(on_conn!(conn, c => co::config_object
                .filter(co::id.eq_any(chunk))
                .select(ObjectRow::as_select())
                .load::<ObjectRow>(*c))?);
        }
        let position: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        rows.sort_by_key(|r| position.get(&r.id).copied().unwrap_or(usize::MAX));
        let objects = render(conn, res, rows)?;
        Ok(Page { total, limit: q.limit, offset: q.offset, objects })
    })
}

/// One object as the API shows it.
pub fn get(db: &Db, res: &'static Resource, id: i64) -> Result<Value> {
    db.read(|conn| {
        let row = find(conn, res, id)?.ok_or(StoreError::NotFound)?;
        Ok(render(conn, res, vec![row])?.remove(0))
    })
}

/// Creates an object; returns it as the API shows it.
pub fn create(db: &Db, res: &'static Resource, body: &Value) -> Result<Value> {
    if res.singleton {
        return Err(FieldErrors::one("__all__", format!("{} is a singleton: PATCH or PUT it instead.", res.name)).into());
    }
    db.transaction(|conn| {
        let global = load_global(conn)?;
        let id = write(conn, res, None, body, Mode::Create, &global)?;
        let row = find(conn, res, id)?.ok_or(StoreError::NotFound)?;
        Ok(render(conn, res, vec![row])?.remove(0))
    })
}

/// Replaces (PUT) or patches (PATCH) an object.
pub fn update(db: &Db, res: &'static Resource, id: i64, body: &Value, mode: Mode) -> Result<Value> {
    db.transaction(|conn| {
        let global = load_global(conn)?;
        write(conn, res, Some(id), body, mode, &global)?;
        let row = find(conn, res, id)?.ok_or(StoreError::NotFound)?;
        Ok(render(conn, res, vec![row])?.remove(0))
    })
}

/// Deletes an object. Refused while another object refers to it; a conference takes its aliases
/// with it and is taken off automatic participants' lists.
pub fn delete(db: &Db, res: &'static Resource, id: i64) -> Result<()> {
    if res.singleton {
        return Err(FieldErrors::one("__all__", format!("{} cannot be deleted.", res.name)).into());
    }
    db.transaction(|conn| remove(conn, res, id))
}

/// Deletes every object of `res` (DELETE on the list URL).
pub fn delete_all(db: &Db, res: &'static Resource) -> Result<usize> {
    if res.singleton {
        return Err(FieldErrors::one("__all__", format!("{} cannot be deleted.", res.name)).into());
    }
    db.transaction(|conn| {
        let ids: Vec<i64> =
            on_conn!(conn, c => co::config_object.filter(co::kind.eq(res.name)).select(co::id).load(*c))?;
        for id in &ids {
            remove(conn, res, *id)?;
        }
        Ok(ids.len())
    })
}

/// A bulk PATCH on a list: each of `objects` is created, or patched when it carries its
/// `resource_uri`; each of `deleted` (URIs) is deleted. All or nothing.
pub fn bulk(db: &Db, res: &'static Resource, objects: &[Value], deleted: &[Value]) -> Result<Vec<i64>> {
    db.transaction(|conn| {
        let global = load_global(conn)?;
        let mut errors = FieldErrors::default();
        let mut ids = Vec::with_capacity(objects.len());
        // Creations of uniquely named top-level objects go through the batched path: a few
        // statements per few hundred objects instead of several per object.
        let batchable = res.key_unique && res.owner.is_none() && !res.singleton;
        let is_create = |o: &Value| matches!(o.get("resource_uri"), None | Some(Value::Null));
        let mut creates = Vec::new();
        for (i, obj) in objects.iter().enumerate() {
            if batchable && is_create(obj) {
                creates.push((i, obj));
                continue;
            }
            let existing = match obj.get("resource_uri") {
                None | Some(Value::Null) => None,
                Some(uri) => match res.parse_ref(uri) {
                    Some(id) => Some(id),
                    None => {
                        errors.add(format!("objects[{i}].resource_uri"), format!("Must be the resource_uri of a {}.", res.name));
                        continue;
                    }
                },
            };
            let mode = if existing.is_some() { Mode::Patch } else { Mode::Create };
            match write(conn, res, existing, obj, mode, &global) {
                Ok(id) => ids.push((i, id)),
                Err(StoreError::Invalid(e)) => errors.merge(e.prefixed(&format!("objects[{i}]."))),
                Err(StoreError::NotFound) => errors.add(format!("objects[{i}].resource_uri"), "No such object."),
                Err(e) => return Err(e),
            }
        }
        if !creates.is_empty() {
            match super::batch::create(conn, res, &creates, &global) {
                Ok(new_ids) => ids.extend(creates.iter().map(|(i, _)| *i).zip(new_ids)),
                Err(StoreError::Invalid(e)) => errors.merge(e),
                Err(e) => return Err(e),
            }
        }
        for (i, uri) in deleted.iter().enumerate() {
            match res.parse_ref(uri) {
                Some(id) => match remove(conn, res, id) {
                    Ok(()) => {}
                    Err(StoreError::Invalid(e)) => errors.merge(e.prefixed(&format!("deleted_objects[{i}]."))),
                    Err(StoreError::NotFound) => errors.add(format!("deleted_objects[{i}]"), "No such object."),
                    Err(e) => return Err(e),
                },
                None => errors.add(format!("deleted_objects[{i}]"), format!("Must be the resource_uri of a {}.", res.name)),
            }
        }
        if !errors.is_empty() {
            return Err(errors.into());
        }
        ids.sort_by_key(|(i, _)| *i);
        Ok(ids.into_iter().map(|(_, id)| id).collect())
    })
}

/// The global settings as stored.
pub fn global(db: &Db) -> Result<Map<String, Value>> {
    db.read(load_global)
}

/// The service an alias reaches, looked up case-insensitively (for the conferencing nodes).
pub fn service_by_alias(db: &Db, alias: &str) -> Result<Option<Value>> {
    db.read(|conn| {
        let key = alias.to_lowercase();
        let owner: Option<Option<i64>> = on_conn!(conn, c => co::config_object
            .filter(co::kind.eq(CONFERENCE_ALIAS.name))
            .filter(co::unique_key.eq(&key))
            .select(co::owner_id)
            .first(*c)
            .optional())?;
        let Some(Some(conference_id)) = owner else { return Ok(None) };
        let Some(row) = find(conn, &CONFERENCE, conference_id)? else { return Ok(None) };
        let mut service = render(conn, &CONFERENCE, vec![row])?.remove(0);
        // What a conferencing node needs to dial them when the conference starts (the API
        // object keeps `automatic_participants` as references).
        let mut details = Vec::new();
        for uri in service["automatic_participants"].as_array().cloned().unwrap_or_default() {
            let id = uri.as_str().and_then(|u| u.trim_end_matches('/').rsplit('/').next()).and_then(|i| i.parse::<i64>().ok());
            if let Some(row) = id.map(|id| find(conn, &resources::AUTOMATIC_PARTICIPANT, id)).transpose()?.flatten() {
                details.push(object(&resources::AUTOMATIC_PARTICIPANT, &row)?);
            }
        }
        service["automatic_participant_details"] = Value::Array(details);
        Ok(Some(service))
    })
}

/// Creates the singleton objects (`global`) when they are missing.
pub fn ensure_singletons(db: &Db) -> Result<()> {
    db.transaction(|conn| {
        for res in resources::ALL.iter().filter(|r| r.singleton) {
            if find(conn, res, 1)?.is_none() {
                let data = Value::Object(validate::defaults(res)).to_string();
                let now = now_iso();
                let new = NewObject { kind: res.name, name: "1", unique_key: None, owner_id: None, data: &data, creation_time: &now };
                let id: i64 = on_conn!(conn, c => diesel::insert_into(co::config_object).values(&new).returning(co::id).get_result(*c))?;
                if id != 1 {
                    on_conn!(conn, c => diesel::update(co::config_object.filter(co::id.eq(id))).set(co::id.eq(1)).execute(*c))?;
                }
            }
        }
        Ok(())
    })
}

pub(crate) fn load_global(conn: &mut Conn<'_>) -> Result<Map<String, Value>> {
    let row = find(conn, &GLOBAL, 1)?.ok_or(StoreError::NotFound)?;
    let mut data: Map<String, Value> = serde_json::from_str(&row.data)?;
    // Settings added by later versions read as their defaults until first saved.
    for (k, v) in validate::defaults(&GLOBAL) {
        data.entry(k).or_insert(v);
    }
    Ok(data)
}

pub(crate) fn find(conn: &mut Conn<'_>, res: &Resource, id: i64) -> Result<Option<ObjectRow>> {
    Ok(on_conn!(conn, c => co::config_object
        .filter(co::kind.eq(res.name))
        .filter(co::id.eq(id))
        .select(ObjectRow::as_select())
        .first(*c)
        .optional())?)
}

fn key_text(res: &Resource, data: &Map<String, Value>) -> String {
    match data.get(res.key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

/// Validates and stores one object; returns its id.
fn write(
    conn: &mut Conn<'_>,
    res: &'static Resource,
    id: Option<i64>,
    body: &Value,
    mode: Mode,
    global: &Map<String, Value>,
) -> Result<i64> {
    let current = match id {
        Some(id) => Some(find(conn, res, id)?.ok_or(StoreError::NotFound)?),
        None => None,
    };
    let current_data: Option<Map<String, Value>> = match &current {
        Some(row) => Some(serde_json::from_str(&row.data)?),
        None => None,
    };
    let mut checked = validate::check(res, current_data.as_ref(), body, mode, global)?;
    super::secrets::seal_fields(res, body, &mut checked.data);
    let mut errors = FieldErrors::default();

    for r in &checked.refs {
        let target = resources::by_name(r.resource).expect("descriptor refers to a known resource");
        if find(conn, target, r.id)?.is_none() || (Some(r.id) == id && r.resource == res.name) {
            errors.add(r.field, format!("There is no {} with id {}.", r.resource, r.id));
        }
    }

    let name = key_text(res, &checked.data);
    let unique_key = res.key_unique.then(|| name.to_lowercase());
    if let Some(key) = &unique_key
        && let Some(other) = find_key(conn, res, key)?
        && Some(other.id) != id
    {
        if res.name == CONFERENCE_ALIAS.name {
            let owner = alias_owner_name(conn, &other)?;
            errors.add(res.key, format!("Alias \"{name}\" is already used by \"{owner}\"."));
        } else {
            errors.add(res.key, format!("A {} named \"{name}\" already exists.", res.label));
        }
    }
    if let Some(aliases) = &checked.aliases
        && !aliases.is_empty()
    {
        let keys: Vec<String> = aliases.iter().map(|a| a.alias.to_lowercase()).collect();
        // An explicit IN list rather than diesel's `= ANY($n)`: PostgreSQL caches a generic plan
        // for the latter, picked while the table was small in this transaction, and then scans
        // the table for every object of a bulk request (quadratic: 34 s for 10,000 VMRs).
        let mut sql = Sql::new(
            conn.backend(),
            "SELECT id, kind, name, unique_key, owner_id, data, creation_time FROM config_object WHERE kind = ",
        );
        sql.bind(Bind::Text(CONFERENCE_ALIAS.name.into())).push(" AND unique_key IN (");
        for (i, key) in keys.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Bind::Text(key.clone()));
        }
        sql.push(")");
        let taken: Vec<ObjectRow> = conn.load(sql)?;
        for other in taken.iter().filter(|o| id.is_none() || o.owner_id != id) {
            let owner = alias_owner_name(conn, other)?;
            errors.add("aliases", format!("Alias \"{}\" is already used by \"{owner}\".", other.name));
        }
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }

    let owner_id = match res.owner {
        Some((field, target)) => checked.data.get(field).and_then(|v| crate::descriptor::parse_ref_to(target, v)),
        None => None,
    };
    let now = now_iso();
    // Only resources that declare `creation_time` show it (`global` does not).
    let has_creation_time = res.field("creation_time").is_some();
    let created = current.is_none();
    let id = match (id, current) {
        (Some(id), Some(row)) => {
            if has_creation_time {
                checked.data.insert("creation_time".into(), Value::String(row.creation_time.clone()));
            }
            let data = Value::Object(checked.data.clone()).to_string();
            on_conn!(conn, c => diesel::update(co::config_object.filter(co::id.eq(id)))
                .set((co::name.eq(&name), co::unique_key.eq(unique_key.as_deref()), co::owner_id.eq(owner_id), co::data.eq(&data)))
                .execute(*c))?;
            id
        }
        _ => {
            if has_creation_time {
                checked.data.insert("creation_time".into(), Value::String(now.clone()));
            }
            if res.field("uuid").is_some_and(|f| f.readonly) {
                checked.data.insert("uuid".into(), Value::String(uuid::Uuid::new_v4().to_string()));
            }
            let data = Value::Object(checked.data.clone()).to_string();
            let new = NewObject { kind: res.name, name: &name, unique_key: unique_key.as_deref(), owner_id, data: &data, creation_time: &now };
            on_conn!(conn, c => diesel::insert_into(co::config_object).values(&new).returning(co::id).get_result::<i64>(*c))?
        }
    };
    if let Some(aliases) = checked.aliases.take() {
        sync_aliases(conn, id, &aliases, &now, created)?;
    }
    Ok(id)
}

fn find_key(conn: &mut Conn<'_>, res: &Resource, key: &str) -> Result<Option<ObjectRow>> {
    Ok(on_conn!(conn, c => co::config_object
        .filter(co::kind.eq(res.name))
        .filter(co::unique_key.eq(key))
        .select(ObjectRow::as_select())
        .first(*c)
        .optional())?)
}

pub(super) fn alias_owner_name(conn: &mut Conn<'_>, alias_row: &ObjectRow) -> Result<String> {
    Ok(match alias_row.owner_id {
        Some(owner) => find(conn, &CONFERENCE, owner)?.map(|r| r.name).unwrap_or_default(),
        None => String::new(),
    })
}

/// Makes a conference's alias rows match `aliases`: keeps matching rows (updating descriptions),
/// adds new ones, deletes the rest.
pub(super) fn sync_aliases(conn: &mut Conn<'_>, conference_id: i64, aliases: &[AliasInput], now: &str, created: bool) -> Result<()> {
    let existing: Vec<ObjectRow> = if created {
        Vec::new()
    } else {
        on_conn!(conn, c => co::config_object
            .filter(co::kind.eq(CONFERENCE_ALIAS.name))
            .filter(co::owner_id.eq(conference_id))
            .select(ObjectRow::as_select())
            .load(*c))?
    };
    let conference_uri = CONFERENCE.uri(conference_id);
    let mut fresh = Vec::new();
    for row in &existing {
        if !aliases.iter().any(|a| Some(a.alias.to_lowercase()) == row.unique_key) {
            on_conn!(conn, c => diesel::delete(co::config_object.filter(co::id.eq(row.id))).execute(*c))?;
        }
    }
    for a in aliases {
        let data = json!({
            "alias": a.alias, "conference": conference_uri, "description": a.description,
        });
        match existing.iter().find(|r| Some(a.alias.to_lowercase()) == r.unique_key) {
            Some(row) => {
                let mut data = data;
                data["creation_time"] = Value::String(row.creation_time.clone());
                let data = data.to_string();
                on_conn!(conn, c => diesel::update(co::config_object.filter(co::id.eq(row.id)))
                    .set((co::name.eq(&a.alias), co::data.eq(&data)))
                    .execute(*c))?;
            }
            None => {
                let mut data = data;
                data["creation_time"] = Value::String(now.to_string());
                fresh.push((a, a.alias.to_lowercase(), data.to_string()));
            }
        }
    }
    // New aliases in one statement.
    let rows: Vec<NewObject<'_>> = fresh
        .iter()
        .map(|(a, key, data)| NewObject {
            kind: CONFERENCE_ALIAS.name, name: &a.alias, unique_key: Some(key),
            owner_id: Some(conference_id), data, creation_time: now,
        })
        .collect();
    if !rows.is_empty() {
        on_conn!(conn, c => diesel::insert_into(co::config_object).values(&rows).execute(*c))?;
    }
    Ok(())
}

/// Objects (other than `except`) whose document mentions `uri`.
fn referencing(conn: &mut Conn<'_>, uri: &str, except: i64) -> Result<Vec<ObjectRow>> {
    let pattern = format!("%\"{uri}\"%");
    Ok(on_conn!(conn, c => co::config_object
        .filter(co::data.like(&pattern))
        .filter(co::id.ne(except))
        .select(ObjectRow::as_select())
        .load(*c))?)
}

pub(super) fn remove(conn: &mut Conn<'_>, res: &'static Resource, id: i64) -> Result<()> {
    find(conn, res, id)?.ok_or(StoreError::NotFound)?;
    let uri = res.uri(id);
    if res.name == CONFERENCE.name {
        on_conn!(conn, c => diesel::delete(co::config_object
            .filter(co::kind.eq(CONFERENCE_ALIAS.name))
            .filter(co::owner_id.eq(id)))
            .execute(*c))?;
    }
    let mut users = Vec::new();
    for row in referencing(conn, &uri, id)? {
        let Some(other) = resources::by_name(&row.kind) else { continue };
        let mut data: Map<String, Value> = serde_json::from_str(&row.data)?;
        // References held in lists (an automatic participant's conferences) just drop this one;
        // single references hold the object in use.
        let mut changed = false;
        let mut blocking = false;
        for field in other.fields {
            match (field.kind, data.get_mut(field.name)) {
                (Kind::RefList(_), Some(Value::Array(items))) => {
                    let before = items.len();
                    items.retain(|v| v.as_str() != Some(uri.as_str()));
                    changed |= items.len() != before;
                }
                (Kind::Ref(_), Some(Value::String(s))) if *s == uri => blocking = true,
                _ => {}
            }
        }
        if blocking {
            users.push(format!("{} \"{}\"", other.label, row.name));
        } else if changed {
            let data = Value::Object(data).to_string();
            on_conn!(conn, c => diesel::update(co::config_object.filter(co::id.eq(row.id))).set(co::data.eq(&data)).execute(*c))?;
        }
    }
    if !users.is_empty() {
        users.truncate(5);
        return Err(FieldErrors::one("__all__", format!("Still in use by {}.", users.join(", "))).into());
    }
    on_conn!(conn, c => diesel::delete(co::config_object.filter(co::id.eq(id))).execute(*c))?;
    Ok(())
}

/// Turns stored rows into API objects: adds `id` and `resource_uri`, drops secrets, and for
/// conferences expands `aliases` and derives `automatic_participants`.
fn render(conn: &mut Conn<'_>, res: &'static Resource, rows: Vec<ObjectRow>) -> Result<Vec<Value>> {
    let mut aliases: HashMap<i64, Vec<Value>> = HashMap::new();
    let mut adps: HashMap<String, Vec<Value>> = HashMap::new();
    if res.name == CONFERENCE.name && !rows.is_empty() {
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        for chunk in ids.chunks(500) {
            let alias_rows: Vec<ObjectRow> = on_conn!(conn, c => co::config_object
                .filter(co::kind.eq(CONFERENCE_ALIAS.name))
                .filter(co::owner_id.eq_any(chunk))
                .order(co::id)
                .select(ObjectRow::as_select())
                .load(*c))?;
            for row in alias_rows {
                let owner = row.owner_id.unwrap_or_default();
                aliases.entry(owner).or_default().push(object(&CONFERENCE_ALIAS, &row)?);
            }
        }
        let adp_rows: Vec<ObjectRow> = on_conn!(conn, c => co::config_object
            .filter(co::kind.eq(resources::AUTOMATIC_PARTICIPANT.name))
            .order(co::id)
            .select(ObjectRow::as_select())
            .load(*c))?;
        for row in adp_rows {
            let data: Map<String, Value> = serde_json::from_str(&row.data)?;
            for conf in data.get("conference").and_then(Value::as_array).into_iter().flatten() {
                if let Some(uri) = conf.as_str() {
                    adps.entry(uri.to_string()).or_default().push(Value::String(resources::AUTOMATIC_PARTICIPANT.uri(row.id)));
                }
            }
        }
    }
    rows.into_iter()
        .map(|row| {
            let mut obj = object(res, &row)?;
            if res.name == CONFERENCE.name {
                obj["aliases"] = Value::Array(aliases.remove(&row.id).unwrap_or_default());
                obj["automatic_participants"] = Value::Array(adps.remove(&res.uri(row.id)).unwrap_or_default());
            }
            Ok(obj)
        })
        .collect()
}

fn object(res: &Resource, row: &ObjectRow) -> Result<Value> {
    let mut data: Map<String, Value> = serde_json::from_str(&row.data)?;
    // Server bookkeeping (e.g. `_ldap_sync`) is never shown.
    data.retain(|k, _| !k.starts_with('_'));
    for field in res.fields {
        if matches!(field.kind, Kind::Secret { .. }) {
            data.remove(field.name);
        } else if !data.contains_key(field.name) && field.is_stored() {
            data.insert(field.name.to_string(), validate::default_value(field));
        }
    }
    data.insert("id".into(), Value::from(row.id));
    data.insert("resource_uri".into(), Value::String(res.uri(row.id)));
    Ok(Value::Object(data))
}

/// Reads a stored secret (for the parts of the product that use it, never for the API).
pub fn secret(db: &Db, res: &'static Resource, id: i64, field: &str) -> Result<Option<String>> {
    db.read(|conn| {
        let row = find(conn, res, id)?.ok_or(StoreError::NotFound)?;
        let data: Map<String, Value> = serde_json::from_str(&row.data)?;
        match data.get(field).and_then(Value::as_str).filter(|s| !s.is_empty()) {
            Some(stored) => super::secrets::unseal(stored)
                .map(Some)
                .map_err(|e| StoreError::Invalid(FieldErrors::one(field, e))),
            None => Ok(None),
        }
    })
}
