//! Call detail records for the History API: finished conference instances and participant calls,
//! written by the conferencing nodes and kept across restarts. At most [`KEEP_CONFERENCES`]
//! conference instances are kept; the oldest go first, with their participants.

use diesel::prelude::*;
use serde_json::{Map, Value};

use super::query::{self, Bind, Column, JsonTy, Sql};
use super::tables::history_record::dsl as hr;
use super::{Db, Result, StoreError, on_conn};
use crate::descriptor::{Field, Kind, Resource, f};
use crate::validate::FieldErrors;

pub const KEEP_CONFERENCES: i64 = 10_000;
pub const HISTORY_PREFIX: &str = "/api/admin/history/v1/";

static CONFERENCE_FIELDS: &[Field] = &[
    f("name", Kind::Str { max: 250 }).required(),
    f("service_type", Kind::Str { max: 32 }),
    f("tag", Kind::Str { max: 250 }),
    f("start_time", Kind::DateTime),
    f("end_time", Kind::DateTime),
    f("duration", Kind::Int { min: 0, max: i64::MAX }),
    f("participant_count", Kind::Int { min: 0, max: i64::MAX }),
    f("instant_message_count", Kind::Int { min: 0, max: i64::MAX }),
];

/// `/api/admin/history/v1/conference/` (descriptor used for filters and the schema).
pub static CONFERENCE: Resource = Resource {
    name: "conference", label: "conference", key: "name", key_unique: false, singleton: false, owner: None,
    fields: CONFERENCE_FIELDS,
};

static PARTICIPANT_FIELDS: &[Field] = &[
    f("conference", Kind::Str { max: 250 }),
    f("conference_name", Kind::Str { max: 250 }),
    f("local_alias", Kind::Str { max: 250 }),
    f("remote_alias", Kind::Str { max: 250 }),
    f("display_name", Kind::Str { max: 250 }),
    f("role", Kind::Str { max: 16 }),
    f("protocol", Kind::Str { max: 16 }),
    f("call_direction", Kind::Str { max: 16 }),
    f("start_time", Kind::DateTime),
    f("end_time", Kind::DateTime),
    f("duration", Kind::Int { min: 0, max: i64::MAX }),
    f("disconnect_reason", Kind::Str { max: 250 }),
    f("media_node", Kind::Str { max: 250 }),
    f("signalling_node", Kind::Str { max: 250 }),
    f("call_quality", Kind::Str { max: 32 }),
    f("bandwidth", Kind::Int { min: 0, max: i64::MAX }),
    f("encryption", Kind::Str { max: 16 }),
    f("media_streams", Kind::Json),
    f("vendor", Kind::Str { max: 250 }),
    f("call_uuid", Kind::Str { max: 64 }),
    f("conversation_id", Kind::Str { max: 64 }),
];

/// `/api/admin/history/v1/participant/`.
pub static PARTICIPANT: Resource = Resource {
    name: "participant", label: "participant", key: "display_name", key_unique: false, singleton: false, owner: None,
    fields: PARTICIPANT_FIELDS,
};

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName, Insertable)]
#[diesel(table_name = super::tables::history_record)]
struct Row {
    id: String,
    kind: String,
    name: String,
    parent_id: Option<String>,
    start_time: String,
    end_time: String,
    data: String,
}

pub fn uri(res: &Resource, id: &str) -> String {
    format!("{HISTORY_PREFIX}{}/{id}/", res.name)
}

fn column_of(res: &'static Resource) -> impl Fn(&str) -> Option<(Column, Option<&'static Field>)> {
    move |name: &str| {
        let field = res.field(name);
        Some(match name {
            "id" => (Column::Plain { sql: "id", int: false }, None),
            "start_time" | "end_time" => (Column::Plain { sql: if name == "start_time" { "start_time" } else { "end_time" }, int: false }, field),
            "conference" if res.name == "participant" => (Column::Plain { sql: "parent_id", int: false }, None),
            _ if name == res.key => (Column::Plain { sql: "name", int: false }, field),
            _ => {
                let field = field?;
                let ty = match field.kind {
                    Kind::Int { .. } => JsonTy::Int,
                    Kind::Bool => JsonTy::Bool,
                    Kind::Json => return None,
                    _ => JsonTy::Text,
                };
                (Column::Json { field: field.name, ty }, Some(field))
            }
        })
    }
}

/// A list page of records: (total, objects).
pub fn list(db: &Db, res: &'static Resource, params: &[(String, String)]) -> Result<(i64, Option<i64>, i64, Vec<Value>)> {
    // `conference=<uri or id>` on participants filters by the parent instance.
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| {
            if k == "conference" {
                let id = v.trim_end_matches('/').rsplit('/').next().unwrap_or(v).to_string();
                (k.clone(), id)
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    let mut q = query::parse(&params, &column_of(res))?;
    if q.order.is_empty() {
        q.order.push((Column::Plain { sql: "start_time", int: false }, true));
    }
    db.read(|conn| {
        let backend = conn.backend();
        let mut count = Sql::new(backend, "SELECT COUNT(*) AS n FROM history_record WHERE kind = ");
        count.bind(Bind::Text(res.name.into()));
        query::push_filters(&mut count, &q.filters);
        let total = conn.count(count)?;
        let mut select = Sql::new(backend, "SELECT id, kind, name, parent_id, start_time, end_time, data FROM history_record WHERE kind = ");
        select.bind(Bind::Text(res.name.into()));
        query::push_filters(&mut select, &q.filters);
        query::push_page(&mut select, &q, "id");
        let rows: Vec<Row> = conn.load(select)?;
        let objects = rows.iter().map(|r| render(res, r)).collect::<Result<Vec<_>>>()?;
        Ok((total, q.limit, q.offset, objects))
    })
}

pub fn get(db: &Db, res: &'static Resource, id: &str) -> Result<Value> {
    db.read(|conn| {
        let row: Option<Row> = on_conn!(conn, c => hr::history_record
            .filter(hr::kind.eq(res.name)).filter(hr::id.eq(id))
            .select(Row::as_select()).first(*c).optional())?;
        render(res, &row.ok_or(StoreError::NotFound)?)
    })
}

fn render(res: &Resource, row: &Row) -> Result<Value> {
    let mut data: Map<String, Value> = serde_json::from_str(&row.data)?;
    data.insert("id".into(), Value::String(row.id.clone()));
    data.insert("resource_uri".into(), Value::String(uri(res, &row.id)));
    if res.name == "participant"
        && let Some(parent) = &row.parent_id
    {
        data.insert("conference".into(), Value::String(uri(&CONFERENCE, parent)));
    }
    Ok(Value::Object(data))
}

fn required_str<'a>(rec: &'a Map<String, Value>, field: &str, errors: &mut FieldErrors) -> &'a str {
    match rec.get(field).and_then(Value::as_str) {
        Some(s) if !s.is_empty() => s,
        _ => {
            errors.add(field, "This field is required.");
            ""
        }
    }
}

/// Stores a finished conference instance and the participant records that came with it, in one
/// transaction, then trims the oldest instances beyond [`KEEP_CONFERENCES`].
pub fn record(db: &Db, conference: &Value, participants: &[Value]) -> Result<()> {
    let mut errors = FieldErrors::default();
    let conf = conference.as_object().ok_or_else(|| FieldErrors::one("conference", "Must be an object."))?;
    let conf_id = required_str(conf, "id", &mut errors).to_string();
    let mut rows = vec![row_of(&CONFERENCE, conf, None, &mut errors)];
    for (i, p) in participants.iter().enumerate() {
        match p.as_object() {
            Some(p) => {
                let mut e = FieldErrors::default();
                rows.push(row_of(&PARTICIPANT, p, Some(conf_id.clone()), &mut e));
                errors.merge(e.prefixed(&format!("participants[{i}].")));
            }
            None => errors.add(format!("participants[{i}]"), "Must be an object."),
        }
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let conference_count = rows[0].parent_id.is_none();
    db.transaction(|conn| {
        for row in &rows {
            // A node may resend a record after a lost reply: the second copy replaces the first.
            on_conn!(conn, c => diesel::delete(hr::history_record.filter(hr::id.eq(&row.id))).execute(*c))?;
            on_conn!(conn, c => diesel::insert_into(hr::history_record).values(row).execute(*c))?;
        }
        if conference_count {
            let total: i64 = on_conn!(conn, c => hr::history_record.filter(hr::kind.eq("conference")).count().get_result(*c))?;
            if total > KEEP_CONFERENCES {
                let old: Vec<String> = on_conn!(conn, c => hr::history_record
                    .filter(hr::kind.eq("conference"))
                    .order((hr::end_time.asc(), hr::id.asc()))
                    .limit(total - KEEP_CONFERENCES)
                    .select(hr::id)
                    .load(*c))?;
                for id in &old {
                    on_conn!(conn, c => diesel::delete(hr::history_record.filter(hr::parent_id.eq(id))).execute(*c))?;
                    on_conn!(conn, c => diesel::delete(hr::history_record.filter(hr::id.eq(id))).execute(*c))?;
                }
            }
        }
        Ok(())
    })
}

fn row_of(res: &Resource, rec: &Map<String, Value>, parent: Option<String>, errors: &mut FieldErrors) -> Row {
    let id = required_str(rec, "id", errors).to_string();
    let start_time = required_str(rec, "start_time", errors).to_string();
    let end_time = required_str(rec, "end_time", errors).to_string();
    let name = rec.get(res.key).and_then(Value::as_str).unwrap_or("").to_string();
    let mut data = Map::new();
    for field in res.fields {
        if field.name == "conference" {
            continue;
        }
        let v = rec.get(field.name).cloned().unwrap_or(Value::Null);
        match (field.kind, &v) {
            (_, Value::Null) => {}
            (Kind::Int { .. }, Value::Number(n)) if n.is_i64() => {}
            (Kind::Json, _) => {}
            (Kind::Str { .. } | Kind::DateTime, Value::String(_)) => {}
            _ => errors.add(field.name, "Wrong type."),
        }
        data.insert(field.name.to_string(), v);
    }
    Row { id, kind: res.name.to_string(), name, parent_id: parent, start_time, end_time, data: Value::Object(data).to_string() }
}
