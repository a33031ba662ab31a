//! Storage for LDAP sync: a snapshot of the conferences and aliases a sync plans against, and
//! writing one batch of the plan in one transaction (a crash or a failure mid-way leaves every
//! VMR either as it was or completely written, never half). `sync_tag`, read-only through the
//! API, is written here.

use std::collections::HashMap;

use diesel::prelude::*;
use serde_json::{Map, Value, json};

use super::config::{NewObject, load_global, now_iso, remove, sync_aliases};
use super::tables::config_object::dsl as co;
use super::{Conn, Db, Result, StoreError, on_conn};
use crate::resources::{CONFERENCE, CONFERENCE_ALIAS};
use crate::validate::{AliasInput, FieldErrors};

/// A conference as stored, with its aliases.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConference {
    pub id: i64,
    pub name: String,
    /// The stored document (including `sync_tag` and bookkeeping such as `_ldap_sync`).
    pub data: Map<String, Value>,
    /// (alias, description), in creation order.
    pub aliases: Vec<(String, String)>,
}

impl StoredConference {
    pub fn sync_tag(&self) -> &str {
        self.data.get("sync_tag").and_then(Value::as_str).unwrap_or("")
    }
}

/// What a sync plans against.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Conferences whose `sync_tag` starts with the prefix asked for (the template's own).
    pub owned: Vec<StoredConference>,
    /// Every conference name (lower-cased) → (id, sync_tag).
    pub names: HashMap<String, (i64, String)>,
    /// Every conference id → its name as written.
    pub display_names: HashMap<i64, String>,
    /// Every alias (lower-cased) → the id of its conference.
    pub aliases: HashMap<String, i64>,
    /// The global settings (for PIN rules).
    pub global: Map<String, Value>,
}

/// Loads the snapshot for a template whose VMRs carry sync tags starting with `tag_prefix`.
pub fn snapshot(db: &Db, tag_prefix: &str) -> Result<Snapshot> {
    db.read(|conn| {
        let global = load_global(conn)?;
        let rows: Vec<(i64, String, String)> = on_conn!(conn, c => co::config_object
            .filter(co::kind.eq(CONFERENCE.name))
            .select((co::id, co::name, co::data))
            .load(*c))?;
        let mut names = HashMap::with_capacity(rows.len());
        let mut display_names = HashMap::with_capacity(rows.len());
        let mut owned = Vec::new();
        let mut owned_index: HashMap<i64, usize> = HashMap::new();
        for (id, name, data) in rows {
            // Cheap pre-check before parsing: most documents of a big installation are synced.
            let tag = if data.contains("\"sync_tag\"") {
                let doc: Map<String, Value> = serde_json::from_str(&data)?;
                let tag = doc.get("sync_tag").and_then(Value::as_str).unwrap_or("").to_string();
                if !tag.is_empty() && tag.starts_with(tag_prefix) {
                    owned_index.insert(id, owned.len());
                    owned.push(StoredConference { id, name: name.clone(), data: doc, aliases: Vec::new() });
                }
                tag
            } else {
                String::new()
            };
            names.insert(name.to_lowercase(), (id, tag));
            display_names.insert(id, name);
        }
        let alias_rows: Vec<(i64, String, Option<String>, Option<i64>, String)> = on_conn!(conn, c => co::config_object
            .filter(co::kind.eq(CONFERENCE_ALIAS.name))
            .order(co::id)
            .select((co::id, co::name, co::unique_key, co::owner_id, co::data))
            .load(*c))?;
        let mut aliases = HashMap::with_capacity(alias_rows.len());
        for (_, alias, key, owner, data) in alias_rows {
            let owner = owner.unwrap_or_default();
            aliases.insert(key.unwrap_or_else(|| alias.to_lowercase()), owner);
            if let Some(i) = owned_index.get(&owner) {
                let doc: Map<String, Value> = serde_json::from_str(&data)?;
                let desc = doc.get("description").and_then(Value::as_str).unwrap_or("").to_string();
                owned[*i].aliases.push((alias, desc));
            }
        }
        Ok(Snapshot { owned, names, display_names, aliases, global })
    })
}

/// One conference to write: `id` `None` creates it.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncWrite {
    pub id: Option<i64>,
    /// The complete validated document (with `sync_tag`).
    pub data: Map<String, Value>,
    pub aliases: Vec<AliasInput>,
}

impl SyncWrite {
    pub fn name(&self) -> &str {
        self.data.get("name").and_then(Value::as_str).unwrap_or("")
    }
}

/// Writes one batch in one transaction: deletes `deletes` (conference ids whose `sync_tag` must
/// still start with `tag_prefix`), then updates, then creates. Returns the ids written, in order.
/// Any failure (a name or alias taken meanwhile, a lost database) writes nothing of the batch.
pub fn apply_batch(db: &Db, tag_prefix: &str, deletes: &[i64], writes: &[SyncWrite]) -> Result<Vec<i64>> {
    db.transaction(|conn| apply_in(conn, tag_prefix, deletes, writes))
}

fn owned_tag(conn: &mut Conn<'_>, id: i64) -> Result<Option<String>> {
    let data: Option<String> = on_conn!(conn, c => co::config_object
        .filter(co::kind.eq(CONFERENCE.name))
        .filter(co::id.eq(id))
        .select(co::data)
        .first(*c)
        .optional())?;
    Ok(match data {
        Some(d) => Some(serde_json::from_str::<Map<String, Value>>(&d)?.get("sync_tag").and_then(Value::as_str).unwrap_or("").to_string()),
        None => None,
    })
}

fn apply_in(conn: &mut Conn<'_>, tag_prefix: &str, deletes: &[i64], writes: &[SyncWrite]) -> Result<Vec<i64>> {
    let not_owned = |what: String| StoreError::Invalid(FieldErrors::one("__all__", what));
    for id in deletes {
        match owned_tag(conn, *id)? {
            None => continue, // already gone
            Some(tag) if tag.starts_with(tag_prefix) && !tag.is_empty() => remove(conn, &CONFERENCE, *id)?,
            Some(_) => return Err(not_owned(format!("Conference {id} is no longer owned by this sync template."))),
        }
    }
    let now = now_iso();
    // Updates: first drop the aliases each conference loses, so aliases can move between the
    // conferences of one batch.
    for w in writes {
        let Some(id) = w.id else { continue };
        match owned_tag(conn, id)? {
            Some(tag) if tag.starts_with(tag_prefix) && !tag.is_empty() => {}
            Some(_) => return Err(not_owned(format!("\"{}\" is no longer owned by this sync template.", w.name()))),
            None => return Err(StoreError::NotFound),
        }
        let keep: Vec<String> = w.aliases.iter().map(|a| a.alias.to_lowercase()).collect();
        on_conn!(conn, c => diesel::delete(co::config_object
            .filter(co::kind.eq(CONFERENCE_ALIAS.name))
            .filter(co::owner_id.eq(id))
            .filter(co::unique_key.ne_all(&keep)))
            .execute(*c))?;
    }
    let mut ids = Vec::with_capacity(writes.len());
    let mut creates: Vec<(usize, String, String)> = Vec::new();
    for (i, w) in writes.iter().enumerate() {
        let name = w.name().to_string();
        match w.id {
            Some(id) => {
                let data = Value::Object(w.data.clone()).to_string();
                let key = name.to_lowercase();
                on_conn!(conn, c => diesel::update(co::config_object.filter(co::id.eq(id)))
                    .set((co::name.eq(&name), co::unique_key.eq(Some(&key)), co::data.eq(&data)))
                    .execute(*c))?;
                sync_aliases(conn, id, &w.aliases, &now, false)?;
                ids.push(id);
            }
            None => {
                let mut data = w.data.clone();
                data.insert("creation_time".into(), Value::String(now.clone()));
                creates.push((i, name, Value::Object(data).to_string()));
                ids.push(0);
            }
        }
    }
    if !creates.is_empty() {
        let keys: Vec<String> = creates.iter().map(|(_, n, _)| n.to_lowercase()).collect();
        let rows: Vec<NewObject<'_>> = creates
            .iter()
            .zip(&keys)
            .map(|((_, name, data), key)| NewObject {
                kind: CONFERENCE.name, name, unique_key: Some(key), owner_id: None, data, creation_time: &now,
            })
            .collect();
        let made: Vec<(i64, Option<String>)> = on_conn!(conn, c => diesel::insert_into(co::config_object)
            .values(&rows)
            .returning((co::id, co::unique_key))
            .get_results(*c))?;
        let by_key: HashMap<String, i64> = made.into_iter().filter_map(|(id, k)| k.map(|k| (k, id))).collect();
        let mut alias_docs: Vec<(String, String, i64, String)> = Vec::new();
        for ((i, _, _), key) in creates.iter().zip(&keys) {
            let id = by_key[key];
            ids[*i] = id;
            let uri = CONFERENCE.uri(id);
            for a in &writes[*i].aliases {
                let data = json!({"alias": a.alias, "conference": uri, "description": a.description, "creation_time": now});
                alias_docs.push((a.alias.clone(), a.alias.to_lowercase(), id, data.to_string()));
            }
        }
        for chunk in alias_docs.chunks(500) {
            let rows: Vec<NewObject<'_>> = chunk
                .iter()
                .map(|(alias, key, owner, data)| NewObject {
                    kind: CONFERENCE_ALIAS.name, name: alias, unique_key: Some(key), owner_id: Some(*owner), data, creation_time: &now,
                })
                .collect();
            on_conn!(conn, c => diesel::insert_into(co::config_object).values(&rows).execute(*c))?;
        }
    }
    Ok(ids)
}

/// Whether `e` means a name or alias was taken (a unique index refused the write).
pub fn is_conflict(e: &StoreError) -> bool {
    matches!(e, StoreError::Db(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)))
}

/// Saves the last finished sync of template `template_id` (a JSON document), replacing the one
/// before.
pub fn save_status(db: &Db, template_id: i64, status: &Value) -> Result<()> {
    use super::tables::ldap_sync_status::dsl as ss;
    let data = status.to_string();
    let now = now_iso();
    db.transaction(|conn| {
        on_conn!(conn, c => diesel::delete(ss::ldap_sync_status.filter(ss::template_id.eq(template_id))).execute(*c))?;
        on_conn!(conn, c => diesel::insert_into(ss::ldap_sync_status)
            .values((ss::template_id.eq(template_id), ss::data.eq(&data), ss::updated.eq(&now)))
            .execute(*c))?;
        Ok(())
    })
}

/// The last finished sync saved for each of `template_ids` (all templates when empty).
pub fn load_statuses(db: &Db, template_ids: &[i64]) -> Result<HashMap<i64, Value>> {
    use super::tables::ldap_sync_status::dsl as ss;
    let rows: Vec<(i64, String)> = db.read(|conn| {
        Ok(if template_ids.is_empty() {
            on_conn!(conn, c => ss::ldap_sync_status.select((ss::template_id, ss::data)).load(*c))?
        } else {
            on_conn!(conn, c => ss::ldap_sync_status
                .filter(ss::template_id.eq_any(template_ids))
                .select((ss::template_id, ss::data))
                .load(*c))?
        })
    })?;
    rows.into_iter().map(|(id, d)| Ok((id, serde_json::from_str(&d)?))).collect()
}

