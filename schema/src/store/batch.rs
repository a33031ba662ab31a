//! Batched creation for bulk requests: validates every object, checks every unique name and
//! alias against the request and the database in a few `IN` queries, then inserts in multi-row
//! statements. The rules are the ones `config::write` applies to one object; only the number of
//! round trips differs (10,000 VMRs: 4 statements per VMR before, about 4 per 500 VMRs now).

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use serde_json::{Map, Value, json};

use super::config::{NewObject, ObjectRow, alias_owner_name, find, now_iso};
use super::query::{Bind, Sql};
use super::tables::config_object::dsl as co;
use super::{Conn, Result, on_conn};
use crate::descriptor::Resource;
use crate::resources::{self, CONFERENCE_ALIAS};
use crate::validate::{self, AliasInput, FieldErrors, Mode};

const CHUNK: usize = 500;

/// Creates `objects` (each with its index in the request, for error keys) of a resource whose key
/// is unique. Returns the new ids in the order given; on any problem nothing is written and every
/// problem is reported under `objects[i].`.
pub(super) fn create(
    conn: &mut Conn<'_>,
    res: &'static Resource,
    objects: &[(usize, &Value)],
    global: &Map<String, Value>,
) -> Result<Vec<i64>> {
    let mut errors = FieldErrors::default();
    let mut checked = Vec::with_capacity(objects.len());
    for (i, obj) in objects {
        match validate::check(res, None, obj, Mode::Create, global) {
            Ok(mut c) => {
                super::secrets::seal_fields(res, obj, &mut c.data);
                checked.push((*i, c))
            }
            Err(e) => errors.merge(e.prefixed(&format!("objects[{i}]."))),
        }
    }

    // References: each distinct target once.
    let mut known: HashMap<(&str, i64), bool> = HashMap::new();
    for (i, c) in &checked {
        for r in &c.refs {
            let exists = match known.get(&(r.resource, r.id)) {
                Some(e) => *e,
                None => {
                    let target = resources::by_name(r.resource).expect("descriptor refers to a known resource");
                    let e = find(conn, target, r.id)?.is_some();
                    known.insert((r.resource, r.id), e);
                    e
                }
            };
            if !exists {
                errors.add(format!("objects[{i}].{}", r.field), format!("There is no {} with id {}.", r.resource, r.id));
            }
        }
    }

    // Names: unique within the request and against the database.
    let names: Vec<(usize, String)> = checked.iter().map(|(i, c)| (*i, key_of(res, &c.data))).collect();
    let taken_names = existing_keys(conn, res.name, names.iter().map(|(_, n)| n.to_lowercase()))?;
    let mut seen = HashSet::new();
    for (i, name) in &names {
        let key = name.to_lowercase();
        if taken_names.contains_key(&key) || !seen.insert(key) {
            errors.add(format!("objects[{i}].{}", res.key), format!("A {} named \"{name}\" already exists.", res.label));
        }
    }

    // Aliases: unique within the request and against the database.
    let aliases: Vec<(usize, &AliasInput)> =
        checked.iter().flat_map(|(i, c)| c.aliases.iter().flatten().map(move |a| (*i, a))).collect();
    let taken_aliases = existing_keys(conn, CONFERENCE_ALIAS.name, aliases.iter().map(|(_, a)| a.alias.to_lowercase()))?;
    let mut claimed: HashMap<String, usize> = HashMap::new();
    for (i, a) in &aliases {
        let key = a.alias.to_lowercase();
        if let Some(row) = taken_aliases.get(&key) {
            let owner = alias_owner_name(conn, row)?;
            errors.add(format!("objects[{i}].aliases"), format!("Alias \"{}\" is already used by \"{owner}\".", a.alias));
        } else if let Some(first) = claimed.get(&key) {
            let owner = &names.iter().find(|(j, _)| j == first).map(|(_, n)| n.clone()).unwrap_or_default();
            errors.add(format!("objects[{i}].aliases"), format!("Alias \"{}\" is already used by \"{owner}\".", a.alias));
        } else {
            claimed.insert(key, *i);
        }
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }

    // Insert the objects, then their aliases.
    let now = now_iso();
    let has_creation_time = res.field("creation_time").is_some();
    let has_uuid = res.field("uuid").is_some_and(|f| f.readonly);
    let docs: Vec<(String, String, String)> = checked
        .iter_mut()
        .zip(&names)
        .map(|((_, c), (_, name))| {
            if has_creation_time {
                c.data.insert("creation_time".into(), Value::String(now.clone()));
            }
            if has_uuid {
                c.data.insert("uuid".into(), Value::String(uuid::Uuid::new_v4().to_string()));
            }
            (name.clone(), name.to_lowercase(), Value::Object(c.data.clone()).to_string())
        })
        .collect();
    let mut id_of: HashMap<String, i64> = HashMap::with_capacity(docs.len());
    for chunk in docs.chunks(CHUNK) {
        let rows: Vec<NewObject<'_>> = chunk
            .iter()
            .map(|(name, key, data)| NewObject { kind: res.name, name, unique_key: Some(key), owner_id: None, data, creation_time: &now })
            .collect();
        let made: Vec<(i64, Option<String>)> = on_conn!(conn, c => diesel::insert_into(co::config_object)
            .values(&rows)
            .returning((co::id, co::unique_key))
            .get_results(*c))?;
        id_of.extend(made.into_iter().filter_map(|(id, key)| key.map(|k| (k, id))));
    }
    let ids: Vec<i64> = docs.iter().map(|(_, key, _)| id_of[key]).collect();

    let now_ref = now.as_str();
    let alias_docs: Vec<(String, String, i64, String)> = checked
        .iter()
        .zip(&ids)
        .flat_map(|((_, c), id)| {
            let uri = crate::resources::CONFERENCE.uri(*id);
            c.aliases.iter().flatten().map(move |a| {
                let data = json!({"alias": a.alias, "conference": uri, "description": a.description, "creation_time": now_ref});
                (a.alias.clone(), a.alias.to_lowercase(), *id, data.to_string())
            })
        })
        .collect();
    for chunk in alias_docs.chunks(CHUNK) {
        let rows: Vec<NewObject<'_>> = chunk
            .iter()
            .map(|(alias, key, owner, data)| NewObject {
                kind: CONFERENCE_ALIAS.name, name: alias, unique_key: Some(key), owner_id: Some(*owner), data, creation_time: &now,
            })
            .collect();
        on_conn!(conn, c => diesel::insert_into(co::config_object).values(&rows).execute(*c))?;
    }
    Ok(ids)
}

fn key_of(res: &Resource, data: &Map<String, Value>) -> String {
    match data.get(res.key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

/// The rows of `kind` whose unique key is one of `keys`, by key (chunked `IN` queries).
fn existing_keys(conn: &mut Conn<'_>, kind: &str, keys: impl Iterator<Item = String>) -> Result<HashMap<String, ObjectRow>> {
    let keys: Vec<String> = keys.collect::<HashSet<_>>().into_iter().collect();
    let mut found = HashMap::new();
    for chunk in keys.chunks(CHUNK) {
        let mut sql = Sql::new(
            conn.backend(),
            "SELECT id, kind, name, unique_key, owner_id, data, creation_time FROM config_object WHERE kind = ",
        );
        sql.bind(Bind::Text(kind.into())).push(" AND unique_key IN (");
        for (i, key) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Bind::Text(key.clone()));
        }
        sql.push(")");
        for row in conn.load::<ObjectRow>(sql)? {
            if let Some(k) = row.unique_key.clone() {
                found.insert(k, row);
            }
        }
    }
    Ok(found)
}
