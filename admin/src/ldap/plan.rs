//! The sync plan, computed without touching LDAP or the database: directory entries + the
//! template + the current conferences → what to create, update, delete and leave alone, and every
//! clash. Pure, so every rule is unit-tested here.
//!
//! Rules:
//! - A VMR belongs to the template when its `sync_tag` is `ldap:<template id>:<entry key>`; the
//!   entry key is the entry's `entryUUID`/`objectGUID` (else its DN), so a renamed user keeps
//!   their VMR. Hand-made VMRs (no `sync_tag`) and other templates' VMRs are never touched.
//! - A name already used by a hand-made VMR or another template's VMR is a clash (the entry is
//!   skipped). An alias used elsewhere, or rendered for two entries, is a clash (the alias is
//!   left out; the VMR is still written).
//! - An entry whose patterns fail to render or whose VMR would be invalid is reported and its
//!   existing VMR is kept as it is (never deleted for it).
//! - Overridable settings: the value the sync last wrote is kept in the VMR's `_ldap_sync`
//!   bookkeeping; when the current value differs from it, someone edited it by hand and the edit
//!   is kept, otherwise the newly rendered value is written.
//! - Deletions are withheld when the directory returned nothing while the template owns VMRs, or
//!   when they would exceed `max_deletions_percent` of the template's VMRs (100: no limit).

use std::collections::{HashMap, HashSet};

use convene_schema::resources::CONFERENCE;
use convene_schema::store::sync::{Snapshot, StoredConference, SyncWrite};
use convene_schema::validate::{self, AliasInput, Mode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::template::{Entry, Patterns};

/// The patterns of a template that are rendered per entry.
pub const PATTERN_FIELDS: &[&str] = &[
    "conference_name", "conference_description",
    "alias_1", "alias_1_description", "alias_2", "alias_2_description",
    "alias_3", "alias_3_description", "alias_4", "alias_4_description",
    "alias_5", "alias_5_description", "alias_6", "alias_6_description",
    "alias_7", "alias_7_description", "alias_8", "alias_8_description",
    "pin", "guest_pin", "tag",
];

/// Conference fields the sync sets (besides `aliases`).
const SYNCED: &[&str] = &["name", "description", "pin", "guest_pin", "allow_guests", "service_type", "host_view", "call_type", "tag"];

/// Where a sync template's own VMRs are marked.
pub fn tag_prefix(template_id: i64) -> String {
    format!("ldap:{template_id}:")
}

/// A problem with one entry that did not stop the sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clash {
    /// "Duplicate alias", "Alias clash", "Conference clash", "Sync template clash",
    /// "Duplicate conference name", "Template error", "Invalid VMR".
    pub kind: String,
    /// The directory entry (DN).
    pub entry: String,
    pub detail: String,
}

/// One entry rendered (the preview shows these).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rendered {
    pub dn: String,
    pub name: String,
    pub description: String,
    pub aliases: Vec<(String, String)>,
    pub pin: String,
    pub guest_pin: String,
    pub tag: String,
}

/// What one sync does.
#[derive(Debug, Default, Clone)]
pub struct Plan {
    pub creates: Vec<SyncWrite>,
    pub updates: Vec<SyncWrite>,
    /// (conference id, name)
    pub deletes: Vec<(i64, String)>,
    pub unchanged: usize,
    pub clashes: Vec<Clash>,
    /// Problems with the sync as a whole (withheld deletions).
    pub errors: Vec<String>,
}

fn s<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}
fn b(m: &Map<String, Value>, k: &str) -> bool {
    m.get(k).and_then(Value::as_bool).unwrap_or(false)
}

/// Renders one entry's patterns.
pub fn render(patterns: &Patterns, entry: &Entry) -> Result<Rendered, String> {
    let r = |name: &str| patterns.render(name, entry);
    let mut aliases = Vec::new();
    for n in 1..=8 {
        let alias = r(&format!("alias_{n}"))?;
        if !alias.is_empty() {
            aliases.push((alias, r(&format!("alias_{n}_description"))?));
        }
    }
    Ok(Rendered {
        dn: entry.dn.clone(),
        name: r("conference_name")?,
        description: r("conference_description")?,
        aliases,
        pin: r("pin")?,
        guest_pin: r("guest_pin")?,
        tag: r("tag")?,
    })
}

/// Compiles a template's patterns.
pub fn compile(template: &Map<String, Value>) -> Result<Patterns, String> {
    Patterns::compile(PATTERN_FIELDS.iter().map(|f| (*f, s(template, f))))
}

fn alias_set(list: &[(String, String)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list.iter().map(|(a, d)| (a.to_lowercase(), d.clone())).collect();
    v.sort();
    v
}

/// Computes the plan. `entries` are the directory's answer, `snap` the database's state.
pub fn plan(template_id: i64, template: &Map<String, Value>, patterns: &Patterns, entries: &[Entry], snap: &Snapshot) -> Plan {
    let prefix = tag_prefix(template_id);
    let mut out = Plan::default();
    let owned_by_tag: HashMap<&str, &StoredConference> = snap.owned.iter().map(|c| (c.sync_tag(), c)).collect();
    let owned_ids: HashSet<i64> = snap.owned.iter().map(|c| c.id).collect();
    let clash = |out: &mut Plan, kind: &str, entry: &str, detail: String| {
        out.clashes.push(Clash { kind: kind.into(), entry: entry.into(), detail })
    };

    // 1. Render every entry (sorted by key: the same winner at every sync).
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    sorted.dedup_by(|a, b| a.key == b.key);
    let mut seen_tags: HashSet<String> = HashSet::new();
    let mut rendered: Vec<(String, Rendered)> = Vec::new();
    for e in sorted {
        let tag = format!("{prefix}{}", e.key);
        seen_tags.insert(tag.clone());
        match render(patterns, e) {
            Ok(r) if r.name.is_empty() => clash(&mut out, "Template error", &e.dn, "conference_name rendered as empty text.".into()),
            Ok(r) => rendered.push((tag, r)),
            Err(msg) => clash(&mut out, "Template error", &e.dn, msg),
        }
    }

    // 2. Names: unique among this sync, not taken by VMRs this template does not own.
    let mut claimed_names: HashMap<String, usize> = HashMap::new();
    let mut keep = vec![true; rendered.len()];
    for (i, (tag, r)) in rendered.iter().enumerate() {
        let key = r.name.to_lowercase();
        if let Some(first) = claimed_names.get(&key) {
            let other = &rendered[*first].1.dn;
            clash(&mut out, "Duplicate conference name", &r.dn, format!("\"{}\" is also the name rendered for {other}.", r.name));
            keep[i] = false;
            continue;
        }
        if let Some((_, other_tag)) = snap.names.get(&key)
            && other_tag != tag
            && !other_tag.starts_with(&prefix)
        {
            if other_tag.is_empty() {
                clash(&mut out, "Conference clash", &r.dn, format!("not overwriting manually created conference \"{}\".", r.name));
            } else {
                clash(&mut out, "Sync template clash", &r.dn, format!("\"{}\" belongs to another sync template.", r.name));
            }
            keep[i] = false;
            continue;
        }
        claimed_names.insert(key, i);
    }

    // 3. Aliases: an alias stays with the VMR that holds it; otherwise the first entry wins.
    let mut alias_claims: HashMap<String, usize> = HashMap::new();
    for (i, (tag, r)) in rendered.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        if let Some(cur) = owned_by_tag.get(tag.as_str()) {
            for (a, _) in &r.aliases {
                let k = a.to_lowercase();
                if snap.aliases.get(&k) == Some(&cur.id) {
                    alias_claims.entry(k).or_insert(i);
                }
            }
        }
    }
    let mut final_aliases: Vec<Vec<(String, String)>> = vec![Vec::new(); rendered.len()];
    for (i, (_, r)) in rendered.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        let mut mine: HashSet<String> = HashSet::new();
        for (a, d) in &r.aliases {
            let k = a.to_lowercase();
            if !mine.insert(k.clone()) {
                continue; // the same alias twice in one template: once is enough
            }
            match alias_claims.get(&k) {
                Some(j) if *j != i => {
                    clash(&mut out, "Duplicate alias", &r.dn, format!("\"{a}\" is also rendered for {}.", rendered[*j].1.dn));
                    continue;
                }
                Some(_) => {}
                None => {
                    if let Some(owner) = snap.aliases.get(&k)
                        && !owned_ids.contains(owner)
                    {
                        let owner_name = snap.display_names.get(owner).map(String::as_str).unwrap_or("another service");
                        clash(&mut out, "Alias clash", &r.dn, format!("\"{a}\" is already used by \"{owner_name}\"."));
                        continue;
                    }
                    alias_claims.insert(k, i);
                }
            }
            final_aliases[i].push((a.clone(), d.clone()));
        }
    }

    // 4. Each kept entry: a create, an update or unchanged.
    let allow_guests = b(template, "allow_guests");
    for (i, (tag, r)) in rendered.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        let mut desired = Map::new();
        desired.insert("name".into(), json!(r.name));
        desired.insert("description".into(), json!(r.description));
        desired.insert("pin".into(), json!(r.pin));
        desired.insert("guest_pin".into(), json!(r.guest_pin));
        desired.insert("allow_guests".into(), json!(allow_guests));
        desired.insert("service_type".into(), json!(s(template, "service_type")));
        desired.insert("host_view".into(), json!(s(template, "host_view")));
        desired.insert("call_type".into(), json!(s(template, "call_type")));
        desired.insert("tag".into(), json!(r.tag));
        let mut aliases = final_aliases[i].clone();
        // What this sync writes, remembered to recognise manual edits next time.
        let state = json!({
            "pin": r.pin, "guest_pin": r.guest_pin, "allow_guests": allow_guests,
            "host_view": desired["host_view"], "description": r.description, "aliases": alias_set(&aliases),
        });

        let current = owned_by_tag.get(tag.as_str()).copied();
        if let Some(cur) = current {
            let last = cur.data.get("_ldap_sync").and_then(Value::as_object);
            // A group keeps the current value when it was edited by hand (differs from what the
            // sync last wrote; without a record, from what it would write now).
            let fresh = desired.clone();
            let edited = |fields: &[&str], cur_val: Value, last_key: &[&str]| -> bool {
                let was: Value = match last {
                    Some(l) => json!(last_key.iter().map(|k| l.get(*k).cloned().unwrap_or(Value::Null)).collect::<Vec<_>>()),
                    None => json!(fields.iter().map(|f| fresh.get(*f).cloned().unwrap_or(Value::Null)).collect::<Vec<_>>()),
                };
                cur_val != was
            };
            let cur_of = |fields: &[&str]| json!(fields.iter().map(|f| cur.data.get(*f).cloned().unwrap_or(Value::Null)).collect::<Vec<_>>());
            let pin_fields = ["pin", "guest_pin", "allow_guests"];
            if b(template, "pin_settings_overridable") && edited(&pin_fields, cur_of(&pin_fields), &pin_fields) {
                for f in pin_fields {
                    desired.insert(f.into(), cur.data.get(f).cloned().unwrap_or(Value::Null));
                }
            }
            if b(template, "host_view_overridable") && edited(&["host_view"], cur_of(&["host_view"]), &["host_view"]) {
                desired.insert("host_view".into(), cur.data.get("host_view").cloned().unwrap_or(Value::Null));
            }
            if b(template, "conference_description_overridable") && edited(&["description"], cur_of(&["description"]), &["description"]) {
                desired.insert("description".into(), cur.data.get("description").cloned().unwrap_or(Value::Null));
            }
            if b(template, "aliases_overridable") {
                let cur_set = alias_set(&cur.aliases);
                let was = match last.and_then(|l| l.get("aliases")) {
                    Some(v) => v.clone(),
                    None => json!(alias_set(&aliases)),
                };
                if json!(cur_set) != was {
                    aliases = cur.aliases.clone();
                }
            }
        }

        let alias_json: Vec<Value> = aliases.iter().map(|(a, d)| json!({"alias": a, "description": d})).collect();
        let mut body = desired.clone();
        body.insert("aliases".into(), Value::Array(alias_json));
        let body = Value::Object(body);
        let checked = match current {
            Some(cur) => validate::check(&CONFERENCE, Some(&cur.data), &body, Mode::Patch, &snap.global),
            None => validate::check(&CONFERENCE, None, &body, Mode::Create, &snap.global),
        };
        let mut checked = match checked {
            Ok(c) => c,
            Err(e) => {
                clash(&mut out, "Invalid VMR", &r.dn, format!("\"{}\": {e}", r.name));
                continue;
            }
        };
        checked.data.insert("sync_tag".into(), json!(tag));
        checked.data.insert("_ldap_sync".into(), state);
        let aliases: Vec<AliasInput> = checked.aliases.take().unwrap_or_default();
        match current {
            Some(cur) => {
                let same_fields = SYNCED.iter().chain(["sync_tag", "_ldap_sync"].iter()).all(|f| cur.data.get(*f) == checked.data.get(*f));
                let new_aliases: Vec<(String, String)> = aliases.iter().map(|a| (a.alias.clone(), a.description.clone())).collect();
                let exact = |l: &[(String, String)]| {
                    let mut v = l.to_vec();
                    v.sort();
                    v
                };
                let same_aliases = exact(&cur.aliases) == exact(&new_aliases);
                if same_fields && same_aliases {
                    out.unchanged += 1;
                } else {
                    out.updates.push(SyncWrite { id: Some(cur.id), data: checked.data, aliases });
                }
            }
            None => out.creates.push(SyncWrite { id: None, data: checked.data, aliases }),
        }
    }

    // 5. Deletions, within the safety threshold.
    let mut deletes: Vec<(i64, String)> =
        snap.owned.iter().filter(|c| !seen_tags.contains(c.sync_tag())).map(|c| (c.id, c.name.clone())).collect();
    deletes.sort();
    let max = template.get("max_deletions_percent").and_then(Value::as_i64).unwrap_or(50);
    let owned = snap.owned.len();
    if !deletes.is_empty() && max < 100 {
        if entries.is_empty() {
            out.errors.push(format!(
                "The directory search returned no entries: {owned} VMRs kept. Check the filter and search base, or set max_deletions_percent to 100 to allow removing them all."
            ));
            deletes.clear();
        } else if (deletes.len() as i64) * 100 > max * owned as i64 {
            out.errors.push(format!(
                "{} of {owned} VMRs would be deleted, more than max_deletions_percent ({max} %): none deleted.",
                deletes.len()
            ));
            deletes.clear();
        }
    }
    out.deletes = deletes;
    out
}
