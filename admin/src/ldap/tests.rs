//! Planning rules (pure) and batch atomicity (SQLite), without a directory.

use std::collections::BTreeMap;

use convene_schema::Db;
use convene_schema::resources::{CONFERENCE, CONFERENCE_SYNC_TEMPLATE};
use convene_schema::store::{config, sync};
use convene_schema::validate;
use serde_json::{Map, Value, json};

use super::plan::{self, Plan};
use super::template::Entry;
use super::apply;

fn template(extra: Value) -> Map<String, Value> {
    let mut t = validate::defaults(&CONFERENCE_SYNC_TEMPLATE);
    t.insert("conference_name".into(), json!("{{givenName}} {{sn}} VMR"));
    t.insert("alias_1".into(), json!("{{uid}}"));
    t.insert("alias_2".into(), json!("{{mail}}"));
    t.insert("pin".into(), json!("{{employeeNumber}}"));
    for (k, v) in extra.as_object().unwrap() {
        t.insert(k.clone(), v.clone());
    }
    t
}

fn user(i: usize) -> Entry {
    let mut attrs = BTreeMap::new();
    for (k, v) in [
        ("givenName", format!("User{i}")),
        ("sn", "Test".to_string()),
        ("uid", format!("user{i}")),
        ("mail", format!("user{i}@example.com")),
        ("employeeNumber", format!("{:06}", 100000 + i)),
    ] {
        attrs.insert(k.to_string(), vec![v]);
    }
    Entry { dn: format!("uid=user{i},ou=people,dc=example,dc=com"), key: format!("key-{i:05}"), attrs }
}

fn snapshot_from(db: &Db) -> sync::Snapshot {
    sync::snapshot(db, &plan::tag_prefix(1)).unwrap()
}

fn db() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("t.sqlite3").to_str().unwrap()).unwrap();
    (db, dir)
}

fn run(db: &Db, t: &Map<String, Value>, entries: &[Entry]) -> (Plan, apply::Applied) {
    let p = plan::plan(1, t, &plan::compile(t).unwrap(), entries, &snapshot_from(db));
    let a = apply::apply(db, &plan::tag_prefix(1), &p, |_, _| {}, None);
    (p, a)
}

fn conference_named(db: &Db, name: &str) -> Value {
    let page = config::list(db, &CONFERENCE, &[("name".into(), name.into())]).unwrap();
    page.objects.into_iter().next().unwrap_or(Value::Null)
}

#[test]
fn creates_then_nothing_then_updates_and_deletes() {
    let (db, _d) = db();
    let t = template(json!({}));
    let users: Vec<Entry> = (0..10).map(user).collect();
    let (p, a) = run(&db, &t, &users);
    assert_eq!((p.creates.len(), a.created, p.clashes.len()), (10, 10, 0), "{:?}", p.clashes);
    let c = conference_named(&db, "User3 Test VMR");
    assert_eq!(c["pin"], "100003");
    assert_eq!(c["sync_tag"], "ldap:1:key-00003");
    assert!(c.get("_ldap_sync").is_none(), "bookkeeping is not shown");
    let aliases: Vec<&str> = c["aliases"].as_array().unwrap().iter().map(|a| a["alias"].as_str().unwrap()).collect();
    assert_eq!(aliases, ["user3", "user3@example.com"]);

    let (p, _) = run(&db, &t, &users);
    assert_eq!((p.creates.len(), p.updates.len(), p.deletes.len(), p.unchanged), (0, 0, 0, 10));

    let mut changed = users.clone();
    changed[2].attrs.insert("sn".into(), vec!["Renamed".into()]);
    changed.remove(5);
    let (p, a) = run(&db, &t, &changed);
    assert_eq!((a.updated, a.deleted, p.unchanged), (1, 1, 8));
    assert!(conference_named(&db, "User2 Renamed VMR").is_object());
    assert!(conference_named(&db, "User5 Test VMR").is_null());
}

#[test]
fn manual_vmrs_are_left_alone_and_clashes_reported() {
    let (db, _d) = db();
    config::create(&db, &CONFERENCE, &json!({"name": "User1 Test VMR"})).unwrap();
    config::create(&db, &CONFERENCE, &json!({"name": "Hand made", "aliases": [{"alias": "user2"}]})).unwrap();
    let t = template(json!({}));
    let mut users: Vec<Entry> = (0..4).map(user).collect();
    users[3].attrs.insert("mail".into(), vec!["user0@example.com".into()]); // duplicate alias
    let (p, a) = run(&db, &t, &users);
    let kinds: Vec<&str> = p.clashes.iter().map(|c| c.kind.as_str()).collect();
    assert!(kinds.contains(&"Conference clash"), "{kinds:?}");
    assert!(kinds.contains(&"Alias clash"), "{kinds:?}");
    assert!(kinds.contains(&"Duplicate alias"), "{kinds:?}");
    assert_eq!(a.created, 3, "the clashing entry is skipped, the others written");
    assert_eq!(conference_named(&db, "User1 Test VMR")["sync_tag"], "", "manual VMR untouched");
    let u2 = conference_named(&db, "User2 Test VMR");
    assert_eq!(u2["aliases"].as_array().unwrap().len(), 1, "clashing alias left out: {u2}");
    // Deleting every entry: the hand-made VMRs stay whatever happens.
    let t100 = template(json!({"max_deletions_percent": 100}));
    let (_, a) = run(&db, &t100, &[]);
    assert_eq!(a.deleted, 3);
    assert!(conference_named(&db, "Hand made").is_object());
    assert!(conference_named(&db, "User1 Test VMR").is_object());
}

#[test]
fn overridable_manual_edits_survive() {
    let (db, _d) = db();
    let t = template(json!({"pin_settings_overridable": true}));
    let users: Vec<Entry> = (0..3).map(user).collect();
    run(&db, &t, &users);
    let c = conference_named(&db, "User1 Test VMR");
    let id = c["id"].as_i64().unwrap();
    config::update(&db, &CONFERENCE, id, &json!({"pin": "999999", "description": "x"}), validate::Mode::Patch).unwrap();
    let (p, _) = run(&db, &t, &users);
    let c = conference_named(&db, "User1 Test VMR");
    assert_eq!(c["pin"], "999999", "overridable edit kept");
    assert_eq!(c["description"], "", "non-overridable edit reverted");
    assert_eq!(p.updates.len(), 1);
    // A directory change of an overridable field that was not edited by hand still arrives.
    let mut changed = users.clone();
    changed[2].attrs.insert("employeeNumber".into(), vec!["777777".into()]);
    run(&db, &t, &changed);
    assert_eq!(conference_named(&db, "User2 Test VMR")["pin"], "777777");
    assert_eq!(conference_named(&db, "User1 Test VMR")["pin"], "999999");
}

#[test]
fn deletions_are_withheld_on_empty_or_large_loss() {
    let (db, _d) = db();
    let t = template(json!({"max_deletions_percent": 30}));
    let users: Vec<Entry> = (0..10).map(user).collect();
    run(&db, &t, &users);
    let (p, a) = run(&db, &t, &[]);
    assert_eq!(a.deleted, 0);
    assert!(p.errors[0].contains("no entries"), "{:?}", p.errors);
    let (p, a) = run(&db, &t, &users[..5]);
    assert_eq!(a.deleted, 0);
    assert!(p.errors[0].contains("max_deletions_percent"), "{:?}", p.errors);
    let (_, a) = run(&db, &t, &users[..8]);
    assert_eq!(a.deleted, 2);
}

#[test]
fn bad_entries_are_reported_and_keep_their_vmr() {
    let (db, _d) = db();
    let t = template(json!({}));
    let mut users: Vec<Entry> = (0..3).map(user).collect();
    run(&db, &t, &users);
    users[1].attrs.insert("employeeNumber".into(), vec!["12".into()]); // too short a PIN
    let (p, a) = run(&db, &t, &users);
    assert_eq!(p.clashes.len(), 1);
    assert_eq!(p.clashes[0].kind, "Invalid VMR");
    assert_eq!(a.deleted, 0);
    assert_eq!(conference_named(&db, "User1 Test VMR")["pin"], "100001");
}

#[test]
fn a_crash_between_batches_leaves_whole_vmrs_and_the_next_sync_finishes() {
    let (db, _d) = db();
    let t = template(json!({}));
    let n = apply::BATCH * 2 + 17;
    let users: Vec<Entry> = (0..n).map(user).collect();
    let p = plan::plan(1, &t, &plan::compile(&t).unwrap(), &users, &snapshot_from(&db));
    let a = apply::apply(&db, &plan::tag_prefix(1), &p, |_, _| {}, Some(1));
    assert_eq!(a.created, apply::BATCH);
    let snap = snapshot_from(&db);
    assert_eq!(snap.owned.len(), apply::BATCH);
    assert!(snap.owned.iter().all(|c| c.aliases.len() == 2), "every written VMR is complete");
    let (p, a) = run(&db, &t, &users);
    assert_eq!((a.created, p.unchanged), (n - apply::BATCH, apply::BATCH));
    assert_eq!(snapshot_from(&db).owned.len(), n);
}

#[test]
fn the_last_result_is_saved_and_the_newest_one_shown() {
    use super::status::{self, SAVED_CLASHES, SyncRegistry, SyncStatus};
    let (db, _dir) = db();
    let finished = |status: &str, start: &str, clashes: usize| SyncStatus {
        template_id: 5,
        template_name: "Staff".into(),
        sync_status: status.into(),
        start_time: Some(start.into()),
        end_time: Some(start.replace("00.", "09.")),
        clashes: (0..clashes).map(|i| plan::Clash { kind: "Alias clash".into(), entry: format!("uid={i}"), detail: "taken".into() }).collect(),
        ..Default::default()
    };
    // Nothing saved, nothing in memory: absent.
    let other = SyncRegistry::default();
    assert!(other.latest(&db, &[5]).is_empty());

    // A result saved by one process (or before a restart) is what a fresh registry shows.
    status::persist(&db, &other, &finished("SYNCED", "2026-11-25T10:00:00.000001", SAVED_CLASHES + 5)).unwrap();
    let fresh = SyncRegistry::default();
    let shown = fresh.latest(&db, &[5, 6]);
    assert_eq!(shown.keys().copied().collect::<Vec<_>>(), [5]);
    assert_eq!(shown[&5].sync_status, "SYNCED");
    assert_eq!(shown[&5].clashes.len(), SAVED_CLASHES, "the saved list is capped");

    // A running sync in memory wins over the saved result.
    assert!(fresh.try_start(5, "Staff"));
    assert_eq!(fresh.latest(&db, &[5])[&5].sync_status, "SYNCING");
    // Started in memory later than the saved one: the memory's; one started later still and
    // saved by another process (`convene ldap sync`) wins over it.
    fresh.update(5, |st| *st = finished("FAILED", "2026-11-25T11:00:00.000000", 0));
    assert_eq!(fresh.latest(&db, &[5])[&5].sync_status, "FAILED");
    status::persist(&db, &other, &finished("SYNCED", "2026-11-25T12:00:00.000000", 1)).unwrap();
    let shown = fresh.latest(&db, &[5]);
    assert_eq!((shown[&5].sync_status.as_str(), shown[&5].clashes.len()), ("SYNCED", 1));
}

#[test]
fn a_sync_whose_process_stopped_shows_as_interrupted() {
    use super::status::{self, STALE, SyncStatus};
    let running = SyncStatus {
        template_id: 5, sync_status: "SYNCING".into(), sync_progress: 47, sync_phase: "written 500 of 1000 changes".into(),
        start_time: Some("2026-11-25T10:00:00.000000".into()), ..Default::default()
    };
    let now = chrono::Utc::now();
    let mut doc = serde_json::to_value(&running).unwrap();
    doc["saved_at"] = json!((now - chrono::Duration::seconds(3)).to_rfc3339());
    let st = status::from_saved(&doc, now).unwrap();
    assert_eq!(st, running, "recently saved: running in another process");
    doc["saved_at"] = json!((now - chrono::Duration::from_std(STALE).unwrap() - chrono::Duration::seconds(1)).to_rfc3339());
    let st = status::from_saved(&doc, now).unwrap();
    assert_eq!((st.sync_status.as_str(), st.sync_phase.as_str(), st.sync_errors), ("FAILED", "interrupted", 1));
    assert!(st.sync_last_error_description.contains("interrupted at 47 % (written 500 of 1000 changes)"), "{}", st.sync_last_error_description);
    assert_eq!(st.errors, [st.sync_last_error_description.clone()]);
    doc.as_object_mut().unwrap().remove("saved_at");
    assert_eq!(status::from_saved(&doc, now).unwrap().sync_status, "FAILED");
    // Finished results are shown as saved, however old.
    let mut done = running.clone();
    done.sync_status = "SYNCED".into();
    let mut doc = serde_json::to_value(&done).unwrap();
    doc["saved_at"] = json!("2020-01-01T00:00:00+00:00");
    assert_eq!(status::from_saved(&doc, now).unwrap(), done);
}

#[test]
fn a_finished_sync_is_saved_even_when_it_fails() {
    use super::status::SyncRegistry;
    let (db, _dir) = db();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let src = config::create(&db, &convene_schema::resources::LDAP_SYNC_SOURCE, &json!({
        "name": "Gone", "ldap_server": format!("ldap://127.0.0.1:{port}/"), "ldap_base_dn": "dc=example,dc=com", "ldap_use_starttls": false, "ldap_permit_no_tls": true,
    }))
    .unwrap();
    let t = config::create(&db, &CONFERENCE_SYNC_TEMPLATE, &json!({"name": "T", "ldap_sync_source": src["resource_uri"], "conference_name": "{{uid}}"})).unwrap();
    let id = t["id"].as_i64().unwrap();
    let registry = std::sync::Arc::new(SyncRegistry::default());
    let mut changes = registry.subscribe();
    let done = super::spawn_sync(db.clone(), registry.clone(), id, "T").unwrap().join().unwrap();
    assert_eq!(done.sync_status, "FAILED");
    std::thread::sleep(super::status::HEARTBEAT + std::time::Duration::from_millis(200));
    assert!(changes.has_changed().unwrap(), "progress is announced");
    changes.borrow_and_update();
    let saved = sync::load_statuses(&db, &[id]).unwrap();
    assert_eq!(saved[&id]["sync_status"], "FAILED");
    assert!(saved[&id]["sync_last_error_description"].as_str().unwrap().starts_with("Cannot connect to ldap://127.0.0.1:"), "{}", saved[&id]);
    assert!(saved[&id]["end_time"].is_string());
    assert!(saved[&id]["saved_at"].is_string());
    let shown = SyncRegistry::default().latest(&db, &[id]);
    assert_eq!(shown[&id].sync_status, "FAILED", "the heartbeat did not overwrite the result");
}
