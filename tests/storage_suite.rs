//! Storage conformance suite: the same assertions about `convene_schema::store` run on every
//! backend (see `storage_sqlite.rs` and `storage_postgres.rs`).
//!
//! Each section is a `pub fn(&Db)`. Sections do not assume an empty database: they use names of
//! their own, compare counts before and after, and restore the global settings they change, so
//! [`run_all`] can run every section one after the other on a single database. The test targets
//! also run each section on a fresh database of its own ([`storage_suite_tests!`]).
//!
//! "Nothing was written" is checked with [`snapshot`]: every object of every configuration
//! resource, as the API shows it, before and after a refused request.

use std::any::Any;
use std::fmt::Debug;
use std::ops::Deref;

use convene_schema::descriptor::Resource;
use convene_schema::resources::{
    self, AUTOMATIC_PARTICIPANT, CONFERENCE, CONFERENCE_ALIAS, CONFERENCE_SYNC_TEMPLATE, GLOBAL, LDAP_SYNC_SOURCE,
    POLICY_SERVER, SYSTEM_LOCATION, WORKER_VM,
};
use convene_schema::store::config::{self, Page};
use convene_schema::store::users::{self, Session};
use convene_schema::store::history;
use convene_schema::validate::{FieldErrors, Mode};
use convene_schema::{Db, StoreError};
use serde_json::{Value, json};

/// A database opened for one test, with whatever keeps it alive (a temporary directory, a
/// PostgreSQL cluster). The pool is closed before the rest is dropped.
pub struct TestDb {
    db: Db,
    _keep: Box<dyn Any>,
}

impl TestDb {
    pub fn new(db: Db, keep: impl Any) -> TestDb {
        TestDb { db, _keep: Box::new(keep) }
    }
}

impl Deref for TestDb {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.db
    }
}

/// One section of the suite.
pub type Section = fn(&Db);

/// Every section, in the order [`run_all`] runs them.
pub const SECTIONS: &[(&str, Section)] = &[
    ("vmr_with_aliases_and_pins", vmr_with_aliases_and_pins),
    ("aliases_are_unique_across_services", aliases_are_unique_across_services),
    ("names_are_unique", names_are_unique),
    ("patch_keeps_fields_put_resets_them", patch_keeps_fields_put_resets_them),
    ("references_must_exist", references_must_exist),
    ("locations_in_use_cannot_be_deleted", locations_in_use_cannot_be_deleted),
    ("deleting_a_conference_cleans_up", deleting_a_conference_cleans_up),
    ("list_filters", list_filters),
    ("list_paging_and_ordering", list_paging_and_ordering),
    ("bulk_creates_patches_and_deletes", bulk_creates_patches_and_deletes),
    ("bulk_is_all_or_nothing", bulk_is_all_or_nothing),
    ("global_singleton", global_singleton),
    ("secrets_are_write_only", secrets_are_write_only),
    ("history_records", history_records),
    ("users_and_sessions", users_and_sessions),
    ("service_by_alias_is_case_insensitive", service_by_alias_is_case_insensitive),
    ("ldap_sync_status_is_kept", ldap_sync_status_is_kept),
];

/// Runs every section on `db`, one after the other.
pub fn run_all(db: &Db) {
    for (name, section) in SECTIONS {
        eprintln!("storage suite ({db:?}): {name}");
        section(db);
    }
}

/// Declares one `#[test]` per section, each on a database from `$fresh(name) -> TestDb`, plus a
/// test running every section on one database.
#[macro_export]
macro_rules! storage_suite_tests {
    ($fresh:expr) => {
        $crate::storage_suite_tests!(@tests $fresh;
            vmr_with_aliases_and_pins,
            aliases_are_unique_across_services,
            names_are_unique,
            patch_keeps_fields_put_resets_them,
            references_must_exist,
            locations_in_use_cannot_be_deleted,
            deleting_a_conference_cleans_up,
            list_filters,
            list_paging_and_ordering,
            bulk_creates_patches_and_deletes,
            bulk_is_all_or_nothing,
            global_singleton,
            secrets_are_write_only,
            history_records,
            users_and_sessions,
            service_by_alias_is_case_insensitive,
            ldap_sync_status_is_kept,
        );
    };
    (@tests $fresh:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let db = ($fresh)(stringify!($name));
                $crate::storage_suite::$name(&db);
            }
        )*

        #[test]
        fn all_sections_on_one_database() {
            let db = ($fresh)("all_sections");
            $crate::storage_suite::run_all(&db);
        }

        #[test]
        fn every_section_has_a_test() {
            let tests: Vec<&str> = vec![$(stringify!($name)),*];
            let sections: Vec<&str> = $crate::storage_suite::SECTIONS.iter().map(|(name, _)| *name).collect();
            assert_eq!(tests, sections);
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Helpers

const PREFIX: &str = "/api/admin/configuration/v1/";

fn params(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[track_caller]
fn ok<T>(what: &str, r: Result<T, StoreError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e:?}"),
    }
}

#[track_caller]
fn create(db: &Db, res: &'static Resource, body: Value) -> Value {
    match config::create(db, res, &body) {
        Ok(v) => v,
        Err(e) => panic!("create {} {body}: {e:?}", res.name),
    }
}

#[track_caller]
fn patch(db: &Db, res: &'static Resource, id: i64, body: Value) -> Value {
    match config::update(db, res, id, &body, Mode::Patch) {
        Ok(v) => v,
        Err(e) => panic!("PATCH {} {id} {body}: {e:?}", res.name),
    }
}

#[track_caller]
fn put(db: &Db, res: &'static Resource, id: i64, body: Value) -> Value {
    match config::update(db, res, id, &body, Mode::Replace) {
        Ok(v) => v,
        Err(e) => panic!("PUT {} {id} {body}: {e:?}", res.name),
    }
}

#[track_caller]
fn get(db: &Db, res: &'static Resource, id: i64) -> Value {
    match config::get(db, res, id) {
        Ok(v) => v,
        Err(e) => panic!("GET {} {id}: {e:?}", res.name),
    }
}

#[track_caller]
fn delete(db: &Db, res: &'static Resource, id: i64) {
    if let Err(e) = config::delete(db, res, id) {
        panic!("DELETE {} {id}: {e:?}", res.name);
    }
}

#[track_caller]
fn page(db: &Db, res: &'static Resource, p: &[(&str, &str)]) -> Page {
    match config::list(db, res, &params(p)) {
        Ok(v) => v,
        Err(e) => panic!("list {} {p:?}: {e:?}", res.name),
    }
}

#[track_caller]
fn total(db: &Db, res: &'static Resource, p: &[(&str, &str)]) -> i64 {
    page(db, res, p).total
}

/// The key field (`name`, `alias`) of each object of a page, in order.
fn keys(res: &Resource, page: &Page) -> Vec<String> {
    page.objects.iter().map(|o| o[res.key].as_str().unwrap_or_default().to_string()).collect()
}

#[track_caller]
fn names(db: &Db, p: &[(&str, &str)]) -> Vec<String> {
    keys(&CONFERENCE, &page(db, &CONFERENCE, p))
}

/// Asserts the request was refused as invalid with an error on `field`; returns all errors.
#[track_caller]
fn refused<T: Debug>(field: &str, r: Result<T, StoreError>) -> FieldErrors {
    match r {
        Err(StoreError::Invalid(e)) => {
            assert!(e.0.contains_key(field), "expected an error on {field:?}, got {e:?}");
            e
        }
        other => panic!("expected an error on {field:?}, got {other:?}"),
    }
}

#[track_caller]
fn not_found<T: Debug>(r: Result<T, StoreError>) {
    match r {
        Err(StoreError::NotFound) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[track_caller]
fn id(obj: &Value) -> i64 {
    obj["id"].as_i64().unwrap_or_else(|| panic!("no numeric id in {obj}"))
}

fn uri(res: &Resource, id: i64) -> String {
    res.uri(id)
}

/// The alias strings of a conference as the API shows it.
fn alias_names(conference: &Value) -> Vec<String> {
    conference["aliases"]
        .as_array()
        .unwrap_or_else(|| panic!("aliases is not a list in {conference}"))
        .iter()
        .map(|a| a["alias"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Every object of every configuration resource, as the API lists it.
#[track_caller]
pub fn snapshot(db: &Db) -> Vec<(&'static str, Vec<Value>)> {
    resources::ALL.iter().map(|res| (res.name, page(db, res, &[("limit", "0")]).objects)).collect()
}

/// `YYYY-MM-DDTHH:MM:SS.ffffff`, as the API writes time stamps.
fn is_timestamp(s: &str) -> bool {
    let pattern = "dddd-dd-ddTdd:dd:dd.dddddd";
    s.len() == pattern.len()
        && s.chars().zip(pattern.chars()).all(|(c, p)| if p == 'd' { c.is_ascii_digit() } else { c == p })
}

// ---------------------------------------------------------------------------------------------
// Sections

/// A VMR with inline aliases and PINs reads back with Pexip's defaults, its aliases expanded as
/// `conference_alias` objects; PIN rules are enforced and a refused VMR writes nothing.
pub fn vmr_with_aliases_and_pins(db: &Db) {
    let vmr = create(
        db,
        &CONFERENCE,
        json!({
            "name": "Alice's VMR",
            "description": "Alice's personal room",
            "pin": "123456",
            "guest_pin": "654321#",
            "allow_guests": true,
            "participant_limit": 25,
            "aliases": [
                {"alias": "meet.alice@example.com", "description": "SIP URI"},
                {"alias": "1001"},
                "Alice",
            ],
        }),
    );
    let vmr_id = id(&vmr);
    let vmr_uri = format!("{PREFIX}conference/{vmr_id}/");
    assert_eq!(vmr["resource_uri"], vmr_uri);
    assert_eq!(vmr["name"], "Alice's VMR");
    assert_eq!(vmr["description"], "Alice's personal room");
    assert_eq!(vmr["pin"], "123456");
    assert_eq!(vmr["guest_pin"], "654321#");
    assert_eq!(vmr["allow_guests"], true);
    assert_eq!(vmr["participant_limit"], 25);
    // Pexip's defaults for what was not given.
    assert_eq!(vmr["service_type"], "conference");
    assert_eq!(vmr["call_type"], "video");
    assert_eq!(vmr["host_view"], "one_main_seven_pips");
    assert_eq!(vmr["guest_view"], "one_main_seven_pips");
    assert_eq!(vmr["guests_can_present"], true);
    assert_eq!(vmr["guests_can_see_guests"], "no_hosts");
    assert_eq!(vmr["enable_chat"], "default");
    assert_eq!(vmr["crypto_mode"], Value::Null);
    assert_eq!(vmr["max_callrate_in"], Value::Null);
    assert_eq!(vmr["system_location"], Value::Null);
    assert_eq!(vmr["ivr_theme"], Value::Null);
    assert_eq!(vmr["on_completion"], Value::Null);
    assert_eq!(vmr["tag"], "");
    assert_eq!(vmr["sync_tag"], "");
    assert_eq!(vmr["automatic_participants"], json!([]));
    let created = vmr["creation_time"].as_str().unwrap_or_default();
    assert!(is_timestamp(created), "creation_time {created:?}");

    // Aliases come back as objects, in the order given.
    let aliases = vmr["aliases"].as_array().expect("aliases list");
    assert_eq!(alias_names(&vmr), ["meet.alice@example.com", "1001", "Alice"]);
    let descriptions: Vec<&str> = aliases.iter().map(|a| a["description"].as_str().unwrap()).collect();
    assert_eq!(descriptions, ["SIP URI", "", ""]);
    for alias in aliases {
        let alias_id = id(alias);
        let mut fields: Vec<&str> = alias.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort();
        assert_eq!(fields, ["alias", "conference", "creation_time", "description", "id", "resource_uri"], "{alias}");
        assert_eq!(alias["conference"], vmr_uri);
        assert_eq!(alias["resource_uri"], format!("{PREFIX}conference_alias/{alias_id}/"));
        assert!(is_timestamp(alias["creation_time"].as_str().unwrap_or_default()), "{alias}");
        // The same object through the conference_alias resource.
        assert_eq!(&get(db, &CONFERENCE_ALIAS, alias_id), alias);
    }
    let vmr_id_s = vmr_id.to_string();
    assert_eq!(total(db, &CONFERENCE_ALIAS, &[("conference", &vmr_id_s)]), 3);
    assert_eq!(total(db, &CONFERENCE_ALIAS, &[("conference", &vmr_uri)]), 3);

    // Reading it back gives exactly what the create returned.
    assert_eq!(get(db, &CONFERENCE, vmr_id), vmr);
    let listed = page(db, &CONFERENCE, &[("id", &vmr_id_s)]);
    assert_eq!(listed.total, 1);
    assert_eq!(listed.objects, std::slice::from_ref(&vmr));

    // PIN rules (global min_pin_length is 6); none of these writes anything.
    let before = snapshot(db);
    let bad = [
        (json!({"name": "PIN 1", "pin": "12345"}), "pin"),
        (json!({"name": "PIN 2", "pin": "12a456"}), "pin"),
        (json!({"name": "PIN 3", "pin": "123456789012345678901"}), "pin"),
        (json!({"name": "PIN 4", "pin": 123456}), "pin"),
        (json!({"name": "PIN 5", "pin": "123456", "guest_pin": "123456#", "allow_guests": true}), "guest_pin"),
        (json!({"name": "PIN 6", "guest_pin": "654321"}), "guest_pin"),
        (json!({"name": "PIN 7", "allow_guests": true}), "pin"),
        (json!({"name": "PIN 8", "pin": "123456", "aliases": ["pin-8"], "nmae": "typo"}), "nmae"),
        (json!({"description": "no name", "aliases": ["pin-9"]}), "name"),
        (json!({"name": "PIN 10", "service_type": "party"}), "service_type"),
    ];
    for (body, field) in bad {
        refused(field, config::create(db, &CONFERENCE, &body));
    }
    assert_eq!(snapshot(db), before, "a refused create wrote something");
    assert!(ok("lookup", config::service_by_alias(db, "pin-8")).is_none());

    // The longest PIN and a trailing # are fine.
    let long = create(db, &CONFERENCE, json!({"name": "PIN long", "pin": "12345678901234567890#"}));
    assert_eq!(long["pin"], "12345678901234567890#");
}

/// An alias belongs to one service: a second claim, in any letter case and by any route, is
/// refused and writes nothing.
pub fn aliases_are_unique_across_services(db: &Db) {
    let a = create(db, &CONFERENCE, json!({"name": "Uniq A", "aliases": ["Room.One@Example.com", "2001"]}));
    let b = create(db, &CONFERENCE, json!({"name": "Uniq B", "aliases": ["2002"]}));
    let (a_id, b_id) = (id(&a), id(&b));
    let before = snapshot(db);
    let counts = || (total(db, &CONFERENCE, &[]), total(db, &CONFERENCE_ALIAS, &[]));
    let counts_before = counts();

    // A new conference claiming it in another case: refused, and not even its other alias is kept.
    let e = refused(
        "aliases",
        config::create(db, &CONFERENCE, &json!({"name": "Uniq C", "aliases": ["uniq-c-3003", "room.one@example.COM"]})),
    );
    assert!(e.to_string().contains("Uniq A"), "the error names the owner: {e}");
    // An existing conference claiming it.
    refused("aliases", config::update(db, &CONFERENCE, b_id, &json!({"aliases": ["2002", "ROOM.ONE@EXAMPLE.COM"]}), Mode::Patch));
    refused("aliases", config::update(db, &CONFERENCE, b_id, &json!({"name": "Uniq B", "aliases": ["room.one@example.com"]}), Mode::Replace));
    // Through the conference_alias resource.
    refused("alias", config::create(db, &CONFERENCE_ALIAS, &json!({"alias": "ROOM.one@example.com", "conference": uri(&CONFERENCE, b_id)})));
    // The same alias twice in one request, differing only in case (ASCII and not).
    refused("aliases", config::create(db, &CONFERENCE, &json!({"name": "Uniq D", "aliases": ["dup@example.com", "DUP@example.com"]})));
    refused("aliases", config::create(db, &CONFERENCE, &json!({"name": "Uniq E", "aliases": ["café@example.com", "CAFÉ@example.com"]})));
    assert_eq!(counts(), counts_before, "a refused alias claim added a conference or alias");
    assert_eq!(snapshot(db), before, "a refused alias claim wrote something");
    assert!(ok("lookup", config::service_by_alias(db, "uniq-c-3003")).is_none());

    // Case-insensitivity is not limited to ASCII.
    create(db, &CONFERENCE, json!({"name": "Uniq F", "aliases": ["Café@example.com"]}));
    let before = snapshot(db);
    refused("aliases", config::create(db, &CONFERENCE, &json!({"name": "Uniq G", "aliases": ["CAFÉ@EXAMPLE.COM"]})));
    assert_eq!(snapshot(db), before);

    // The owner may re-save its own alias, also in another case; the alias object is kept.
    let old_alias_id = id(&a["aliases"][0]);
    let a2 = patch(db, &CONFERENCE, a_id, json!({"aliases": ["ROOM.ONE@example.com", "2001"]}));
    assert_eq!(alias_names(&a2), ["ROOM.ONE@example.com", "2001"]);
    assert_eq!(id(&a2["aliases"][0]), old_alias_id);

    // Once released, another service may take it.
    patch(db, &CONFERENCE, a_id, json!({"aliases": ["2001"]}));
    let b2 = patch(db, &CONFERENCE, b_id, json!({"aliases": ["2002", "room.one@example.com"]}));
    assert_eq!(alias_names(&b2), ["2002", "room.one@example.com"]);
    let found = ok("lookup", config::service_by_alias(db, "Room.One@Example.com")).expect("alias reaches Uniq B");
    assert_eq!(found["name"], "Uniq B");

    // An alias created through the conference_alias resource shows up in its conference.
    let direct = create(db, &CONFERENCE_ALIAS, json!({"alias": "2004", "conference": uri(&CONFERENCE, b_id), "description": "direct"}));
    assert_eq!(direct["conference"], uri(&CONFERENCE, b_id));
    let b3 = get(db, &CONFERENCE, b_id);
    assert_eq!(alias_names(&b3), ["2002", "room.one@example.com", "2004"]);
    assert_eq!(b3["aliases"][2], direct);
}

/// Names of services (and of other keyed resources) are unique, case-insensitively.
pub fn names_are_unique(db: &Db) {
    let x = create(db, &CONFERENCE, json!({"name": "Board Room"}));
    let y = create(db, &CONFERENCE, json!({"name": "Board Room 2"}));
    let before = snapshot(db);
    refused("name", config::create(db, &CONFERENCE, &json!({"name": "board room"})));
    refused("name", config::create(db, &CONFERENCE, &json!({"name": "BOARD ROOM", "aliases": ["board-new"]})));
    refused("name", config::update(db, &CONFERENCE, id(&y), &json!({"name": "Board ROOM"}), Mode::Patch));
    refused("name", config::update(db, &CONFERENCE, id(&y), &json!({"name": "board room"}), Mode::Replace));
    refused("objects[1].name", config::bulk(db, &CONFERENCE, &[json!({"name": "Board Room 3"}), json!({"name": "board room 3"})], &[]));
    assert_eq!(snapshot(db), before, "a refused name wrote something");
    assert!(ok("lookup", config::service_by_alias(db, "board-new")).is_none());

    // Saving an object under its own name, or changing only its case, is fine.
    patch(db, &CONFERENCE, id(&x), json!({"name": "Board Room", "description": "same name"}));
    let renamed = patch(db, &CONFERENCE, id(&x), json!({"name": "BOARD ROOM"}));
    assert_eq!(renamed["name"], "BOARD ROOM");

    // Other resources with a unique key; names only clash within one resource.
    create(db, &SYSTEM_LOCATION, json!({"name": "Oslo"}));
    refused("name", config::create(db, &SYSTEM_LOCATION, &json!({"name": "OSLO"})));
    create(db, &SYSTEM_LOCATION, json!({"name": "Board Room"}));

    // A deleted object's name is free again.
    delete(db, &CONFERENCE, id(&y));
    let again = create(db, &CONFERENCE, json!({"name": "board room 2"}));
    assert_eq!(again["name"], "board room 2");
}

/// PATCH changes only the fields given; PUT returns the others to their defaults. Both keep the
/// id and creation time; a refused update changes nothing.
pub fn patch_keeps_fields_put_resets_them(db: &Db) {
    let loc = create(db, &SYSTEM_LOCATION, json!({"name": "PP London"}));
    let loc_uri = uri(&SYSTEM_LOCATION, id(&loc));
    let c = create(
        db,
        &CONFERENCE,
        json!({
            "name": "PP VMR", "description": "desc", "tag": "tag1", "pin": "111111", "guest_pin": "222222",
            "allow_guests": true, "participant_limit": 10, "host_view": "four_mains_zero_pips",
            "system_location": loc_uri, "on_completion": {"disconnect": true}, "aliases": ["pp-vmr", "pp-vmr-2"],
        }),
    );
    let c_id = id(&c);
    let created = c["creation_time"].clone();

    let p = patch(db, &CONFERENCE, c_id, json!({"tag": "tag2"}));
    assert_eq!(p["tag"], "tag2");
    for field in [
        "id", "resource_uri", "name", "description", "pin", "guest_pin", "allow_guests", "participant_limit", "host_view",
        "system_location", "on_completion", "aliases", "creation_time",
    ] {
        assert_eq!(p[field], c[field], "PATCH changed {field}");
    }
    assert_eq!(get(db, &CONFERENCE, c_id), p);

    // A refused PATCH changes nothing, not even its valid fields.
    refused("participant_limit", config::update(db, &CONFERENCE, c_id, &json!({"tag": "x", "participant_limit": -1}), Mode::Patch));
    refused("pin", config::update(db, &CONFERENCE, c_id, &json!({"tag": "x", "pin": ""}), Mode::Patch));
    assert_eq!(get(db, &CONFERENCE, c_id), p);

    // PUT: everything not given is back to its default; id, creation time and aliases stay.
    let r = put(db, &CONFERENCE, c_id, json!({"name": "PP VMR renamed"}));
    assert_eq!(r["name"], "PP VMR renamed");
    assert_eq!(r["id"], c["id"]);
    assert_eq!(r["resource_uri"], c["resource_uri"]);
    assert_eq!(r["creation_time"], created);
    assert_eq!(r["description"], "");
    assert_eq!(r["tag"], "");
    assert_eq!(r["pin"], "");
    assert_eq!(r["guest_pin"], "");
    assert_eq!(r["allow_guests"], false);
    assert_eq!(r["participant_limit"], Value::Null);
    assert_eq!(r["host_view"], "one_main_seven_pips");
    assert_eq!(r["system_location"], Value::Null);
    assert_eq!(r["on_completion"], Value::Null);
    // Aliases not given are left as they are (`Checked::aliases` is None).
    assert_eq!(r["aliases"], c["aliases"]);
    assert_eq!(get(db, &CONFERENCE, c_id), r);

    // A PUT that gives aliases replaces them.
    let r2 = put(db, &CONFERENCE, c_id, json!({"name": "PP VMR renamed", "aliases": [{"alias": "pp-new", "description": "new"}]}));
    assert_eq!(alias_names(&r2), ["pp-new"]);
    assert_eq!(r2["aliases"][0]["description"], "new");
    assert_eq!(r2["creation_time"], created);
    assert!(ok("lookup", config::service_by_alias(db, "pp-vmr")).is_none());
    // An empty list removes them all.
    let r3 = patch(db, &CONFERENCE, c_id, json!({"aliases": []}));
    assert_eq!(r3["aliases"], json!([]));
    assert_eq!(total(db, &CONFERENCE_ALIAS, &[("conference", &c_id.to_string())]), 0);

    // PATCH/PUT/GET of something that is not there.
    not_found(config::update(db, &CONFERENCE, 987_654, &json!({"tag": "x"}), Mode::Patch));
    not_found(config::update(db, &CONFERENCE, 987_654, &json!({"name": "x"}), Mode::Replace));
    not_found(config::get(db, &CONFERENCE, 987_654));
    // An id of another resource is not a conference.
    not_found(config::get(db, &CONFERENCE, id(&loc)));
    not_found(config::update(db, &CONFERENCE, id(&loc), &json!({"tag": "x"}), Mode::Patch));
    assert_eq!(get(db, &SYSTEM_LOCATION, id(&loc)), loc);
}

/// References to objects that do not exist (or are of the wrong resource) are refused.
pub fn references_must_exist(db: &Db) {
    let target = create(db, &CONFERENCE, json!({"name": "Ref target"}));
    let loc = create(db, &SYSTEM_LOCATION, json!({"name": "Ref Loc"}));
    let (target_uri, loc_id) = (uri(&CONFERENCE, id(&target)), id(&loc));
    let loc_uri = uri(&SYSTEM_LOCATION, loc_id);
    let missing_loc = format!("{PREFIX}system_location/987654/");
    let before = snapshot(db);

    refused("system_location", config::create(db, &CONFERENCE, &json!({"name": "Ref 1", "system_location": missing_loc})));
    refused("system_location", config::create(db, &CONFERENCE, &json!({"name": "Ref 2", "system_location": 987_654})));
    refused("system_location", config::create(db, &CONFERENCE, &json!({"name": "Ref 3", "system_location": target_uri})));
    refused("ivr_theme", config::create(db, &CONFERENCE, &json!({"name": "Ref 4", "ivr_theme": format!("{PREFIX}ivr_theme/987654/")})));
    refused("system_location", config::update(db, &CONFERENCE, id(&target), &json!({"system_location": missing_loc}), Mode::Patch));
    refused(
        "conference",
        config::create(db, &AUTOMATIC_PARTICIPANT, &json!({"alias": "sip:x@example.com", "conference": [target_uri, format!("{PREFIX}conference/987654/")]})),
    );
    refused(
        "system_location",
        config::create(db, &WORKER_VM, &json!({"name": "ref-node", "hostname": "ref-node", "address": "192.0.2.1", "system_location": missing_loc})),
    );
    refused("overflow_location1", config::create(db, &SYSTEM_LOCATION, &json!({"name": "Ref Loc 2", "overflow_location1": missing_loc})));
    // A location cannot be its own transcoding location.
    refused("transcoding_location", config::update(db, &SYSTEM_LOCATION, loc_id, &json!({"transcoding_location": loc_uri}), Mode::Patch));
    refused(
        "ldap_sync_source",
        config::create(db, &CONFERENCE_SYNC_TEMPLATE, &json!({"name": "Ref tmpl", "ldap_sync_source": format!("{PREFIX}ldap_sync_source/987654/")})),
    );
    assert_eq!(snapshot(db), before, "a refused reference wrote something");

    // Existing references are accepted, given as URI, number or string id, and stored as URIs.
    for (name, reference) in [("Ref 5", json!(loc_uri)), ("Ref 6", json!(loc_id)), ("Ref 7", json!(loc_id.to_string()))] {
        let c = create(db, &CONFERENCE, json!({"name": name, "system_location": reference}));
        assert_eq!(c["system_location"], loc_uri);
    }
    let adp = create(db, &AUTOMATIC_PARTICIPANT, json!({"alias": "sip:ref@example.com", "conference": [id(&target), target_uri]}));
    assert_eq!(adp["conference"], json!([target_uri]), "duplicates collapse and ids become URIs");
    let loc2 = create(db, &SYSTEM_LOCATION, json!({"name": "Ref Loc 3", "overflow_location1": loc_uri}));
    assert_eq!(loc2["overflow_location1"], loc_uri);
}

/// A system location in use by a service, a node or another location cannot be deleted; once
/// unused it can.
pub fn locations_in_use_cannot_be_deleted(db: &Db) {
    let loc = create(db, &SYSTEM_LOCATION, json!({"name": "Use Loc"}));
    let other = create(db, &SYSTEM_LOCATION, json!({"name": "Use Loc 2"}));
    let (loc_id, other_id) = (id(&loc), id(&other));
    let loc_uri = uri(&SYSTEM_LOCATION, loc_id);
    let conf = create(db, &CONFERENCE, json!({"name": "Use VMR", "system_location": loc_uri, "aliases": ["use-vmr"]}));
    let node = create(
        db,
        &WORKER_VM,
        json!({"name": "use-node", "hostname": "use-node", "address": "192.0.2.10", "system_location": loc_uri}),
    );

    let before = snapshot(db);
    let e = refused("__all__", config::delete(db, &SYSTEM_LOCATION, loc_id));
    let msg = e.to_string();
    assert!(msg.contains("Use VMR") && msg.contains("use-node"), "the error names the users: {msg}");
    assert_eq!(snapshot(db), before, "a refused delete changed something");

    patch(db, &CONFERENCE, id(&conf), json!({"system_location": null}));
    let msg = refused("__all__", config::delete(db, &SYSTEM_LOCATION, loc_id)).to_string();
    assert!(msg.contains("use-node") && !msg.contains("Use VMR"), "{msg}");

    patch(db, &WORKER_VM, id(&node), json!({"system_location": uri(&SYSTEM_LOCATION, other_id)}));
    patch(db, &SYSTEM_LOCATION, other_id, json!({"overflow_location1": loc_uri}));
    let msg = refused("__all__", config::delete(db, &SYSTEM_LOCATION, loc_id)).to_string();
    assert!(msg.contains("Use Loc 2"), "{msg}");
    // Deleting everything at once is refused as a whole too.
    let before = snapshot(db);
    refused("__all__", config::delete_all(db, &SYSTEM_LOCATION));
    assert_eq!(snapshot(db), before);

    patch(db, &SYSTEM_LOCATION, other_id, json!({"overflow_location1": null}));
    delete(db, &SYSTEM_LOCATION, loc_id);
    not_found(config::get(db, &SYSTEM_LOCATION, loc_id));
    not_found(config::delete(db, &SYSTEM_LOCATION, loc_id));
    // Nothing else went with it.
    assert_eq!(get(db, &CONFERENCE, id(&conf))["aliases"][0]["alias"], "use-vmr");
    assert_eq!(get(db, &WORKER_VM, id(&node))["system_location"], uri(&SYSTEM_LOCATION, other_id));
    assert_eq!(get(db, &SYSTEM_LOCATION, other_id)["name"], "Use Loc 2");
}

/// Deleting a conference deletes its aliases and takes it off automatic participants' lists.
pub fn deleting_a_conference_cleans_up(db: &Db) {
    let x = create(db, &CONFERENCE, json!({"name": "Del X", "aliases": ["del-x", "del-x@example.com"]}));
    let y = create(db, &CONFERENCE, json!({"name": "Del Y", "aliases": ["del-y"]}));
    let (x_id, y_id) = (id(&x), id(&y));
    let (x_uri, y_uri) = (uri(&CONFERENCE, x_id), uri(&CONFERENCE, y_id));
    let adp = create(
        db,
        &AUTOMATIC_PARTICIPANT,
        json!({"alias": "sip:recorder@example.com", "conference": [x_uri, y_uri], "role": "chair", "protocol": "sip"}),
    );
    let adp_id = id(&adp);
    let adp_uri = uri(&AUTOMATIC_PARTICIPANT, adp_id);
    assert_eq!(adp["conference"], json!([x_uri, y_uri]));
    assert_eq!(get(db, &CONFERENCE, x_id)["automatic_participants"], json!([adp_uri]));
    assert_eq!(get(db, &CONFERENCE, y_id)["automatic_participants"], json!([adp_uri]));

    let aliases_before = total(db, &CONFERENCE_ALIAS, &[]);
    let conferences_before = total(db, &CONFERENCE, &[]);
    let x_alias_ids: Vec<i64> = x["aliases"].as_array().unwrap().iter().map(id).collect();
    delete(db, &CONFERENCE, x_id);

    not_found(config::get(db, &CONFERENCE, x_id));
    for alias_id in &x_alias_ids {
        not_found(config::get(db, &CONFERENCE_ALIAS, *alias_id));
    }
    assert_eq!(total(db, &CONFERENCE_ALIAS, &[]), aliases_before - 2);
    assert_eq!(total(db, &CONFERENCE, &[]), conferences_before - 1);
    assert_eq!(total(db, &CONFERENCE_ALIAS, &[("conference", &x_id.to_string())]), 0);
    assert!(ok("lookup", config::service_by_alias(db, "del-x")).is_none());
    let adp_now = get(db, &AUTOMATIC_PARTICIPANT, adp_id);
    assert_eq!(adp_now["conference"], json!([y_uri]));
    assert_eq!(adp_now["alias"], "sip:recorder@example.com");
    assert_eq!(adp_now["role"], "chair");
    let y_now = get(db, &CONFERENCE, y_id);
    assert_eq!(y_now["aliases"], y["aliases"]);
    assert_eq!(y_now["automatic_participants"], json!([adp_uri]));

    // The freed aliases can be used again.
    let z = create(db, &CONFERENCE, json!({"name": "Del Z", "aliases": ["DEL-X"]}));
    assert_eq!(ok("lookup", config::service_by_alias(db, "del-x")).expect("del-x reaches Del Z")["name"], "Del Z");

    // The last conference going leaves the participant with an empty list, not deleted.
    delete(db, &CONFERENCE, y_id);
    assert_eq!(get(db, &AUTOMATIC_PARTICIPANT, adp_id)["conference"], json!([]));

    // Deleting an alias on its own leaves its conference.
    let z_alias = id(&z["aliases"][0]);
    delete(db, &CONFERENCE_ALIAS, z_alias);
    let z_now = get(db, &CONFERENCE, id(&z));
    assert_eq!(z_now["aliases"], json!([]));
    assert_eq!(z_now["name"], "Del Z");
}

/// Tastypie filters on real columns and on fields inside the JSON document.
pub fn list_filters(db: &Db) {
    let mk = |body: Value| create(db, &CONFERENCE, body);
    let alpha = mk(json!({"name": "Flt Alpha", "allow_guests": true, "pin": "100001", "participant_limit": 5}));
    let _beta = mk(json!({"name": "Flt Beta", "service_type": "lecture", "participant_limit": 10}));
    let gamma = mk(json!({"name": "Flt Gamma", "allow_guests": true, "pin": "100002", "participant_limit": 50}));
    let between = config::now_iso();
    let _delta = mk(json!({"name": "flt delta", "service_type": "two_stage_dialing"}));
    let _odd = mk(json!({"name": "Flt 50%_off", "service_type": "test_call", "tag": "Promo"}));
    let scope = ("name__icontains", "flt");

    assert_eq!(names(db, &[scope]), ["Flt Alpha", "Flt Beta", "Flt Gamma", "flt delta", "Flt 50%_off"]);
    assert_eq!(names(db, &[("name__icontains", "FLT ALPHA")]), ["Flt Alpha"]);
    assert_eq!(names(db, &[("name__icontains", "lT gAm")]), ["Flt Gamma"]);
    // Case-sensitive prefix.
    assert_eq!(names(db, &[("name__startswith", "Flt")]), ["Flt Alpha", "Flt Beta", "Flt Gamma", "Flt 50%_off"]);
    assert_eq!(names(db, &[("name__startswith", "flt")]), ["flt delta"]);
    assert_eq!(names(db, &[("name__istartswith", "flt")]).len(), 5);
    assert_eq!(names(db, &[scope, ("name__contains", "Beta")]), ["Flt Beta"]);
    assert_eq!(names(db, &[scope, ("name__contains", "beta")]), Vec::<String>::new());
    assert_eq!(names(db, &[scope, ("name__endswith", "Gamma")]), ["Flt Gamma"]);
    assert_eq!(names(db, &[("name", "Flt Beta")]), ["Flt Beta"]);
    assert_eq!(names(db, &[("name", "flt beta")]), Vec::<String>::new());
    assert_eq!(names(db, &[("name__iexact", "flt beta")]), ["Flt Beta"]);
    // LIKE/GLOB wildcards in the value are literal characters.
    assert_eq!(names(db, &[scope, ("name__contains", "%")]), ["Flt 50%_off"]);
    assert_eq!(names(db, &[scope, ("name__icontains", "_")]), ["Flt 50%_off"]);
    assert_eq!(names(db, &[scope, ("name__startswith", "Flt 5")]), ["Flt 50%_off"]);
    assert_eq!(names(db, &[scope, ("name__startswith", "Flt _")]), Vec::<String>::new());
    assert_eq!(names(db, &[scope, ("name__startswith", "Flt *")]), Vec::<String>::new());
    assert_eq!(names(db, &[scope, ("name__contains", "?")]), Vec::<String>::new());

    // Fields inside the document: choice, boolean, integer, null.
    assert_eq!(names(db, &[scope, ("service_type", "lecture")]), ["Flt Beta"]);
    assert_eq!(names(db, &[scope, ("service_type__in", "lecture,two_stage_dialing")]), ["Flt Beta", "flt delta"]);
    assert_eq!(names(db, &[scope, ("allow_guests", "true")]), ["Flt Alpha", "Flt Gamma"]);
    assert_eq!(names(db, &[scope, ("allow_guests", "false")]), ["Flt Beta", "flt delta", "Flt 50%_off"]);
    assert_eq!(names(db, &[scope, ("participant_limit__gte", "10")]), ["Flt Beta", "Flt Gamma"]);
    assert_eq!(names(db, &[scope, ("participant_limit__gt", "10")]), ["Flt Gamma"]);
    assert_eq!(names(db, &[scope, ("participant_limit__lt", "10")]), ["Flt Alpha"]);
    assert_eq!(names(db, &[scope, ("participant_limit", "10")]), ["Flt Beta"]);
    assert_eq!(names(db, &[scope, ("participant_limit__isnull", "true")]), ["flt delta", "Flt 50%_off"]);
    assert_eq!(names(db, &[scope, ("participant_limit__isnull", "false")]), ["Flt Alpha", "Flt Beta", "Flt Gamma"]);
    assert_eq!(names(db, &[scope, ("tag__iexact", "promo")]), ["Flt 50%_off"]);
    assert_eq!(names(db, &[scope, ("allow_guests", "true"), ("participant_limit__gte", "10")]), ["Flt Gamma"]);

    // id and creation time (real columns).
    let ids = format!("{},{}", id(&gamma), id(&alpha));
    assert_eq!(names(db, &[("id__in", &ids)]), ["Flt Alpha", "Flt Gamma"]);
    assert_eq!(names(db, &[("id", &id(&alpha).to_string())]), ["Flt Alpha"]);
    assert_eq!(names(db, &[scope, ("creation_time__gte", &between)]), ["flt delta", "Flt 50%_off"]);
    assert_eq!(names(db, &[scope, ("creation_time__lt", &between)]), ["Flt Alpha", "Flt Beta", "Flt Gamma"]);
    let alpha_time = alpha["creation_time"].as_str().unwrap().to_string();
    assert_eq!(names(db, &[scope, ("creation_time__gte", &alpha_time)]).len(), 5);
    assert_eq!(names(db, &[scope, ("creation_time__gt", &alpha_time)]).len(), 4);

    // total counts every match, not just the page.
    let p = page(db, &CONFERENCE, &[scope, ("limit", "2")]);
    assert_eq!((p.total, p.objects.len()), (5, 2));

    // Bad parameters are refused, naming the parameter.
    refused("nmae__icontains", config::list(db, &CONFERENCE, &params(&[("nmae__icontains", "x")])));
    refused("name__fuzzy", config::list(db, &CONFERENCE, &params(&[("name__fuzzy", "x")])));
    refused("participant_limit__gte", config::list(db, &CONFERENCE, &params(&[("participant_limit__gte", "many")])));
    refused("participant_limit__icontains", config::list(db, &CONFERENCE, &params(&[("participant_limit__icontains", "1")])));
    refused("allow_guests", config::list(db, &CONFERENCE, &params(&[("allow_guests", "maybe")])));
}

/// limit/offset/total, order_by (also descending and on integer fields), limit=0 meaning all.
pub fn list_paging_and_ordering(db: &Db) {
    let objects: Vec<Value> = (1..=25).map(|i| json!({"name": format!("Page {i:02}"), "participant_limit": i})).collect();
    ok("bulk", config::bulk(db, &CONFERENCE, &objects, &[]));
    let scope = ("name__startswith", "Page ");
    let all: Vec<String> = (1..=25).map(|i| format!("Page {i:02}")).collect();

    // Default page: 20.
    let p = page(db, &CONFERENCE, &[scope]);
    assert_eq!((p.total, p.limit, p.offset), (25, Some(20), 0));
    assert_eq!(keys(&CONFERENCE, &p), all[..20]);

    let p = page(db, &CONFERENCE, &[scope, ("limit", "10"), ("offset", "20")]);
    assert_eq!((p.total, p.limit, p.offset), (25, Some(10), 20));
    assert_eq!(keys(&CONFERENCE, &p), all[20..]);

    let p = page(db, &CONFERENCE, &[scope, ("limit", "0")]);
    assert_eq!((p.total, p.limit, p.offset), (25, None, 0));
    assert_eq!(keys(&CONFERENCE, &p), all);

    let p = page(db, &CONFERENCE, &[scope, ("limit", "0"), ("offset", "23")]);
    assert_eq!(keys(&CONFERENCE, &p), all[23..]);

    let p = page(db, &CONFERENCE, &[scope, ("offset", "100")]);
    assert_eq!((p.total, p.objects.len()), (25, 0));

    // order_by, descending, and combined with paging.
    assert_eq!(names(db, &[scope, ("order_by", "-name"), ("limit", "3")]), ["Page 25", "Page 24", "Page 23"]);
    assert_eq!(names(db, &[scope, ("order_by", "name"), ("offset", "1"), ("limit", "2")]), ["Page 02", "Page 03"]);
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(names(db, &[scope, ("order_by", "-name"), ("limit", "0")]), reversed);
    assert_eq!(names(db, &[scope, ("order_by", "-id"), ("limit", "0")]), reversed);
    // Integer fields sort as numbers (9 before 10), not as text.
    assert_eq!(names(db, &[scope, ("order_by", "participant_limit"), ("limit", "12")]), all[..12]);
    assert_eq!(names(db, &[scope, ("order_by", "-participant_limit"), ("limit", "3")]), ["Page 25", "Page 24", "Page 23"]);

    for (k, v) in [("limit", "-1"), ("limit", "many"), ("offset", "-1"), ("order_by", "nmae"), ("order_by", "-aliases")] {
        refused(k, config::list(db, &CONFERENCE, &params(&[(k, v)])));
    }
}

/// One bulk call creates 500 VMRs; another patches, creates and deletes at once.
pub fn bulk_creates_patches_and_deletes(db: &Db) {
    let conferences_before = total(db, &CONFERENCE, &[]);
    let aliases_before = total(db, &CONFERENCE_ALIAS, &[]);
    let objects: Vec<Value> = (0..500)
        .map(|i| json!({"name": format!("Bulk {i:04}"), "aliases": [format!("bulk-{i:04}@example.com")], "participant_limit": i % 7}))
        .collect();
    let ids = ok("bulk create", config::bulk(db, &CONFERENCE, &objects, &[]));
    assert_eq!(ids.len(), 500);
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 500);

    let scope = ("name__startswith", "Bulk ");
    assert_eq!(total(db, &CONFERENCE, &[scope]), 500);
    assert_eq!(total(db, &CONFERENCE, &[]), conferences_before + 500);
    assert_eq!(total(db, &CONFERENCE_ALIAS, &[]), aliases_before + 500);
    let listed = page(db, &CONFERENCE, &[scope, ("limit", "0")]);
    assert_eq!(listed.objects.len(), 500);
    for (i, obj) in listed.objects.iter().enumerate() {
        assert_eq!(obj["name"], format!("Bulk {i:04}"));
        assert_eq!(id(obj), ids[i]);
        assert_eq!(alias_names(obj), [format!("bulk-{i:04}@example.com")]);
        assert_eq!(obj["participant_limit"], (i % 7) as i64);
    }
    let found = ok("lookup", config::service_by_alias(db, "BULK-0499@EXAMPLE.COM")).expect("bulk alias");
    assert_eq!(id(&found), ids[499]);

    // Delete 100, patch two, create one, in one call.
    let deleted: Vec<Value> = ids[..100].iter().map(|i| json!(uri(&CONFERENCE, *i))).collect();
    let changes = [
        json!({"resource_uri": uri(&CONFERENCE, ids[100]), "description": "patched"}),
        json!({"resource_uri": uri(&CONFERENCE, ids[101]), "aliases": ["bulk-0101-new"]}),
        json!({"name": "Bulk new", "aliases": ["bulk-new@example.com"]}),
    ];
    let changed = ok("bulk change", config::bulk(db, &CONFERENCE, &changes, &deleted));
    assert_eq!(changed.len(), 3);
    assert_eq!(changed[..2], [ids[100], ids[101]]);

    assert_eq!(total(db, &CONFERENCE, &[scope]), 401);
    assert_eq!(total(db, &CONFERENCE_ALIAS, &[]), aliases_before + 401);
    for i in &ids[..100] {
        not_found(config::get(db, &CONFERENCE, *i));
    }
    assert!(ok("lookup", config::service_by_alias(db, "bulk-0000@example.com")).is_none());
    let p100 = get(db, &CONFERENCE, ids[100]);
    assert_eq!(p100["description"], "patched");
    assert_eq!(p100["name"], "Bulk 0100");
    assert_eq!(p100["participant_limit"], 100 % 7);
    assert_eq!(alias_names(&p100), ["bulk-0100@example.com"]);
    let p101 = get(db, &CONFERENCE, ids[101]);
    assert_eq!(alias_names(&p101), ["bulk-0101-new"]);
    assert_eq!(p101["name"], "Bulk 0101");
    let new = get(db, &CONFERENCE, changed[2]);
    assert_eq!(new["name"], "Bulk new");
    assert_eq!(alias_names(&new), ["bulk-new@example.com"]);

    // Deleting the rest in one call.
    let rest: Vec<Value> = page(db, &CONFERENCE, &[scope, ("limit", "0")]).objects.iter().map(|o| o["resource_uri"].clone()).collect();
    assert_eq!(rest.len(), 401);
    assert_eq!(ok("bulk delete", config::bulk(db, &CONFERENCE, &[], &rest)), Vec::<i64>::new());
    assert_eq!(total(db, &CONFERENCE, &[scope]), 0);
    assert_eq!(total(db, &CONFERENCE, &[]), conferences_before);
    assert_eq!(total(db, &CONFERENCE_ALIAS, &[]), aliases_before);
}

/// A bulk call with one bad object, deletion or reference changes nothing at all, and reports
/// every problem under the index of the object that caused it.
pub fn bulk_is_all_or_nothing(db: &Db) {
    let atoms: Vec<Value> = (1..=5).map(|i| json!({"name": format!("Atom {i}"), "aliases": [format!("atom-{i}")]})).collect();
    let atom_ids = ok("bulk create", config::bulk(db, &CONFERENCE, &atoms, &[]));
    let atom_uri = |n: usize| json!(uri(&CONFERENCE, atom_ids[n - 1]));
    let loc1 = create(db, &SYSTEM_LOCATION, json!({"name": "Atom Loc 1"}));
    let loc2 = create(db, &SYSTEM_LOCATION, json!({"name": "Atom Loc 2"}));
    create(db, &CONFERENCE, json!({"name": "Atom user", "system_location": uri(&SYSTEM_LOCATION, id(&loc1))}));
    let before = snapshot(db);
    let good = |n: usize| -> Vec<Value> { (0..n).map(|i| json!({"name": format!("Atom new {i}"), "aliases": [format!("atom-new-{i}")]})).collect() };

    // One bad object among twenty good ones, a patch and a deletion.
    let mut objects = good(20);
    objects.insert(7, json!({"name": "Atom bad", "pin": "12"}));
    objects.push(json!({"resource_uri": atom_uri(1), "description": "patched"}));
    let e = refused("objects[7].pin", config::bulk(db, &CONFERENCE, &objects, &[atom_uri(2)]));
    assert!(e.0.keys().all(|k| k.starts_with("objects[7].")), "only the bad object is blamed: {e:?}");
    assert_eq!(snapshot(db), before, "a refused bulk call changed something");

    // A deletion of something that is not there undoes the rest.
    refused("deleted_objects[1]", config::bulk(db, &CONFERENCE, &good(3), &[atom_uri(3), json!(format!("{PREFIX}conference/987654/"))]));
    refused("deleted_objects[0]", config::bulk(db, &CONFERENCE, &good(3), &[json!(format!("{PREFIX}system_location/{}/", id(&loc2)))]));
    assert_eq!(snapshot(db), before);

    // A deletion refused because the object is in use.
    let e = refused(
        "deleted_objects[1].__all__",
        config::bulk(db, &SYSTEM_LOCATION, &[json!({"name": "Atom Loc 3"})], &[json!(uri(&SYSTEM_LOCATION, id(&loc2))), json!(uri(&SYSTEM_LOCATION, id(&loc1)))]),
    );
    assert!(e.to_string().contains("Atom user"), "{e}");
    assert_eq!(snapshot(db), before);

    // Conflicts with objects written earlier in the same call.
    refused("objects[1].aliases", config::bulk(db, &CONFERENCE, &[json!({"name": "Atom x", "aliases": ["atom-dup"]}), json!({"name": "Atom y", "aliases": ["ATOM-DUP"]})], &[]));
    refused("objects[1].name", config::bulk(db, &CONFERENCE, &[json!({"name": "Atom dup"}), json!({"name": "ATOM DUP"})], &[]));
    // With existing objects.
    refused("objects[0].aliases", config::bulk(db, &CONFERENCE, &[json!({"name": "Atom z", "aliases": ["ATOM-4"]})], &[]));
    refused("objects[1].name", config::bulk(db, &CONFERENCE, &[json!({"name": "Atom ok"}), json!({"resource_uri": atom_uri(5), "name": "atom 4"})], &[]));
    // A patch of an object that is not there, a bad reference.
    refused("objects[0].resource_uri", config::bulk(db, &CONFERENCE, &[json!({"resource_uri": format!("{PREFIX}conference/987654/"), "tag": "x"})], &[]));
    refused("objects[2].system_location", config::bulk(db, &CONFERENCE, &[good(2), vec![json!({"name": "Atom ref", "system_location": 987_654})]].concat(), &[]));
    // Every bad object is reported.
    let e = refused("objects[0].pin", config::bulk(db, &CONFERENCE, &[json!({"name": "Atom p", "pin": "1"}), json!({"name": "Atom q"}), json!({"name": "atom q"})], &[]));
    assert!(e.0.contains_key("objects[2].name"), "{e:?}");
    assert!(!e.0.keys().any(|k| k.starts_with("objects[1].")), "{e:?}");
    assert_eq!(snapshot(db), before, "a refused bulk call changed something");

    // The same calls without the bad parts go through.
    let mut objects = good(20);
    objects.push(json!({"resource_uri": atom_uri(1), "description": "patched"}));
    let ids = ok("bulk", config::bulk(db, &CONFERENCE, &objects, &[atom_uri(2)]));
    assert_eq!(ids.len(), 21);
    assert_eq!(get(db, &CONFERENCE, atom_ids[0])["description"], "patched");
    not_found(config::get(db, &CONFERENCE, atom_ids[1]));
    assert_eq!(total(db, &CONFERENCE, &[("name__startswith", "Atom new ")]), 20);
}

/// `global` always exists with Pexip's defaults, cannot be created or deleted, and can be
/// patched; its settings govern validation of other objects.
pub fn global_singleton(db: &Db) {
    let g = get(db, &GLOBAL, 1);
    assert_eq!(g["id"], 1);
    assert_eq!(g["resource_uri"], format!("{PREFIX}global/1/"));
    let defaults = [
        ("min_pin_length", 6),
        ("guests_only_timeout", 60),
        ("waiting_for_chair_timeout", 900),
        ("pin_entry_timeout", 120),
        ("eject_last_participant_backstop_timeout", 0),
        ("max_presentation_bandwidth_ratio", 75),
        ("media_ports_start", 40000),
        ("media_ports_end", 49999),
        ("signalling_ports_start", 33000),
        ("signalling_ports_end", 39999),
    ];
    for (field, value) in defaults {
        assert_eq!(g[field], value, "global {field}");
    }
    for field in ["enable_chat", "enable_sip", "enable_h323", "enable_webrtc", "enable_rtmp", "enable_dialout", "enable_fecc"] {
        assert_eq!(g[field], true, "global {field}");
    }
    assert_eq!(g["enable_breakout_rooms"], false);
    assert_eq!(g["default_theme"], Value::Null);
    let listed = page(db, &GLOBAL, &[]);
    assert_eq!(listed.total, 1);
    assert_eq!(listed.objects, std::slice::from_ref(&g));
    assert_eq!(ok("global", config::global(db))["min_pin_length"], 6);

    let before = snapshot(db);
    refused("__all__", config::create(db, &GLOBAL, &json!({"min_pin_length": 8})));
    refused("__all__", config::delete(db, &GLOBAL, 1));
    refused("__all__", config::delete_all(db, &GLOBAL));
    not_found(config::get(db, &GLOBAL, 2));
    refused("media_ports_end", config::update(db, &GLOBAL, 1, &json!({"media_ports_start": 50000}), Mode::Patch));
    refused("min_pin_length", config::update(db, &GLOBAL, 1, &json!({"min_pin_length": 3, "guests_only_timeout": 5}), Mode::Patch));
    refused(
        "eject_last_participant_backstop_timeout",
        config::update(db, &GLOBAL, 1, &json!({"eject_last_participant_backstop_timeout": 30}), Mode::Patch),
    );
    assert_eq!(snapshot(db), before);

    let p = patch(db, &GLOBAL, 1, json!({"min_pin_length": 4, "guests_only_timeout": 120}));
    assert_eq!(p["min_pin_length"], 4);
    assert_eq!(p["guests_only_timeout"], 120);
    assert_eq!(p["waiting_for_chair_timeout"], 900);
    assert_eq!(get(db, &GLOBAL, 1), p);
    assert_eq!(ok("global", config::global(db))["guests_only_timeout"], 120);
    // The new minimum applies to PINs from now on.
    let short = create(db, &CONFERENCE, json!({"name": "Glob short PIN", "pin": "1234"}));
    assert_eq!(short["pin"], "1234");

    // PUT: every setting not given returns to its default.
    let r = put(db, &GLOBAL, 1, json!({"guests_only_timeout": 30}));
    assert_eq!(r["guests_only_timeout"], 30);
    assert_eq!(r["min_pin_length"], 6);
    assert_eq!(r["id"], 1);
    refused("pin", config::create(db, &CONFERENCE, &json!({"name": "Glob short PIN 2", "pin": "1234"})));

    // Leave the defaults for whatever runs next on this database.
    let restored = patch(db, &GLOBAL, 1, json!({"guests_only_timeout": 60}));
    assert_eq!(restored, g);
}

/// Write-only secrets: stored and readable by the product (`config::secret`), never shown by get
/// or list, never filterable, and kept by updates that do not give them.
pub fn secrets_are_write_only(db: &Db) {
    const PW: &str = "Sup3r-Secr3t!pw";
    let field = "ldap_bind_password";
    let src = create(
        db,
        &LDAP_SYNC_SOURCE,
        json!({
            "name": "Corp AD", "ldap_server": "ldaps://dc1.example.com:636", "ldap_base_dn": "dc=example,dc=com",
            "ldap_bind_username": "CN=svc,DC=example,DC=com", "ldap_bind_password": PW,
        }),
    );
    let src_id = id(&src);
    let secret = |f: &str| ok("secret", config::secret(db, &LDAP_SYNC_SOURCE, src_id, f));
    let hidden = |v: &Value, pw: &str| {
        assert!(v.get(field).is_none(), "{field} shown in {v}");
        assert!(!v.to_string().contains(pw), "secret leaked in {v}");
    };
    hidden(&src, PW);
    hidden(&get(db, &LDAP_SYNC_SOURCE, src_id), PW);
    let listed = page(db, &LDAP_SYNC_SOURCE, &[("limit", "0")]);
    assert!(listed.objects.iter().any(|o| id(o) == src_id));
    for o in &listed.objects {
        hidden(o, PW);
    }
    assert_eq!(secret(field).as_deref(), Some(PW));
    assert_eq!(secret("no_such_field"), None);

    // Not usable as a filter or sort key (that would leak it one guess at a time).
    refused(field, config::list(db, &LDAP_SYNC_SOURCE, &params(&[(field, PW)])));
    refused(&format!("{field}__startswith"), config::list(db, &LDAP_SYNC_SOURCE, &params(&[(&format!("{field}__startswith"), "S")])));
    refused("order_by", config::list(db, &LDAP_SYNC_SOURCE, &params(&[("order_by", field)])));

    // Updates that do not give it keep it: a PATCH, a round trip of what GET shows, a PUT.
    let p = patch(db, &LDAP_SYNC_SOURCE, src_id, json!({"description": "main directory"}));
    hidden(&p, PW);
    assert_eq!(secret(field).as_deref(), Some(PW));
    let shown = get(db, &LDAP_SYNC_SOURCE, src_id);
    patch(db, &LDAP_SYNC_SOURCE, src_id, shown.clone());
    assert_eq!(secret(field).as_deref(), Some(PW));
    let r = put(db, &LDAP_SYNC_SOURCE, src_id, json!({"name": "Corp AD", "ldap_server": "ldaps://dc2.example.com", "ldap_base_dn": "dc=example,dc=com"}));
    hidden(&r, PW);
    assert_eq!(r["description"], "", "PUT reset the other fields");
    assert_eq!(r["ldap_server"], "ldaps://dc2.example.com");
    assert_eq!(secret(field).as_deref(), Some(PW));
    // A refused update does not change it either.
    refused("ldap_server", config::update(db, &LDAP_SYNC_SOURCE, src_id, &json!({field: "other", "ldap_server": "http://x"}), Mode::Patch));
    assert_eq!(secret(field).as_deref(), Some(PW));

    // Updates that give it change it.
    let p = patch(db, &LDAP_SYNC_SOURCE, src_id, json!({field: "N3w-pass"}));
    hidden(&p, "N3w-pass");
    assert_eq!(secret(field).as_deref(), Some("N3w-pass"));
    put(db, &LDAP_SYNC_SOURCE, src_id, json!({"name": "Corp AD", "ldap_server": "ldaps://dc2.example.com", "ldap_base_dn": "dc=example,dc=com", field: "Th1rd"}));
    assert_eq!(secret(field).as_deref(), Some("Th1rd"));
    patch(db, &LDAP_SYNC_SOURCE, src_id, json!({field: ""}));
    assert_eq!(secret(field), None, "an empty secret reads as none");

    // The policy profile's password behaves the same.
    let ps = create(db, &POLICY_SERVER, json!({"name": "Ext policy", "url": "https://policy.example.com", "username": "u", "password": "pol-pass-1"}));
    assert!(ps.get("password").is_none() && !ps.to_string().contains("pol-pass-1"), "{ps}");
    assert_eq!(ok("secret", config::secret(db, &POLICY_SERVER, id(&ps), "password")).as_deref(), Some("pol-pass-1"));
    hidden(&get(db, &POLICY_SERVER, id(&ps)), "pol-pass-1");

    // A sync template holds its source in use; once both are gone the secret is too.
    let tmpl = create(
        db,
        &CONFERENCE_SYNC_TEMPLATE,
        json!({"name": "Corp VMRs", "ldap_sync_source": uri(&LDAP_SYNC_SOURCE, src_id), "alias_1": "{{mail}}"}),
    );
    refused("__all__", config::delete(db, &LDAP_SYNC_SOURCE, src_id));
    delete(db, &CONFERENCE_SYNC_TEMPLATE, id(&tmpl));
    delete(db, &LDAP_SYNC_SOURCE, src_id);
    not_found(config::secret(db, &LDAP_SYNC_SOURCE, src_id, field));
}

/// Call detail records: recorded with their participants, listed newest first, filtered by
/// time and by conference; a resent record replaces the first copy.
pub fn history_records(db: &Db) {
    use history::{CONFERENCE as HCONF, PARTICIPANT};
    let hist = |res: &'static Resource, p: &[(&str, &str)]| -> (i64, Vec<Value>) {
        let (total, _limit, _offset, objects) = ok("history list", history::list(db, res, &params(p)));
        (total, objects)
    };
    let ids = |objects: &[Value]| -> Vec<String> { objects.iter().map(|o| o["id"].as_str().unwrap_or_default().to_string()).collect() };
    let conf = |id: &str, day: u32, participants: i64| {
        json!({
            "id": id, "name": format!("Weekly sync {day}"), "service_type": "conference", "tag": "team",
            "start_time": format!("2026-03-0{day}T09:00:00.000000"), "end_time": format!("2026-03-0{day}T10:00:00.000000"),
            "duration": 3600, "participant_count": participants, "instant_message_count": 3,
        })
    };
    let part = |id: &str, day: u32, minute: u32, name: &str| {
        json!({
            "id": id, "conference_name": format!("Weekly sync {day}"), "display_name": name,
            "local_alias": "meet.weekly@example.com", "remote_alias": format!("sip:{}@example.com", name.to_lowercase()),
            "role": "chair", "protocol": "WebRTC", "call_direction": "in",
            "start_time": format!("2026-03-0{day}T09:{minute:02}:00.000000"), "end_time": format!("2026-03-0{day}T10:00:00.000000"),
            "duration": 3600 - 60 * minute as i64, "disconnect_reason": "Call disconnected", "media_node": "10.0.0.1",
            "signalling_node": "10.0.0.1", "call_quality": "1_good", "bandwidth": 1920, "encryption": "On",
            "media_streams": [{"stream_type": "video", "rx_codec": "VP8"}], "vendor": "Chrome",
            "call_uuid": format!("uuid-{id}"), "conversation_id": "conv-1",
        })
    };
    let (c1, c2, c3) = ("5b1d0000-0000-4000-8000-000000000001", "5b1d0000-0000-4000-8000-000000000002", "5b1d0000-0000-4000-8000-000000000003");
    let (conf_before, part_before) = (hist(&HCONF, &[]).0, hist(&PARTICIPANT, &[]).0);

    ok("record 1", history::record(db, &conf(c1, 1, 2), &[part("p-1", 1, 0, "Alice"), part("p-2", 1, 10, "Bob")]));
    ok("record 2", history::record(db, &conf(c2, 2, 1), &[part("p-3", 2, 5, "Carol")]));
    ok("record 3", history::record(db, &conf(c3, 3, 0), &[]));

    let (total, objects) = hist(&HCONF, &[("name__startswith", "Weekly sync")]);
    assert_eq!(total, 3);
    assert_eq!(ids(&objects), [c3, c2, c1], "newest first");
    assert_eq!(hist(&HCONF, &[]).0, conf_before + 3);
    let first = &objects[2];
    assert_eq!(first["resource_uri"], format!("/api/admin/history/v1/conference/{c1}/"));
    assert_eq!(first["name"], "Weekly sync 1");
    assert_eq!(first["duration"], 3600);
    assert_eq!(first["participant_count"], 2);
    assert_eq!(first["start_time"], "2026-03-01T09:00:00.000000");
    assert_eq!(ok("get", history::get(db, &HCONF, c1)), *first);

    let scope = ("name__startswith", "Weekly sync");
    assert_eq!(ids(&hist(&HCONF, &[scope, ("start_time__gte", "2026-03-02T00:00:00")]).1), [c3, c2]);
    assert_eq!(ids(&hist(&HCONF, &[scope, ("start_time__gte", "2026-03-02T09:00:00.000000")]).1), [c3, c2]);
    assert_eq!(ids(&hist(&HCONF, &[scope, ("start_time__lt", "2026-03-02T00:00:00")]).1), [c1]);
    assert_eq!(ids(&hist(&HCONF, &[scope, ("end_time__lte", "2026-03-02T10:00:00.000000")]).1), [c2, c1]);
    assert_eq!(ids(&hist(&HCONF, &[scope, ("order_by", "start_time")]).1), [c1, c2, c3]);
    assert_eq!(ids(&hist(&HCONF, &[scope, ("participant_count__gte", "1")]).1), [c2, c1]);
    let (total, objects) = hist(&HCONF, &[scope, ("limit", "1"), ("offset", "1")]);
    assert_eq!((total, ids(&objects)), (3, vec![c2.to_string()]));

    // Participants of one conference, by URI or id.
    let c1_uri = format!("/api/admin/history/v1/conference/{c1}/");
    let (total, objects) = hist(&PARTICIPANT, &[("conference", &c1_uri)]);
    assert_eq!(total, 2);
    assert_eq!(ids(&objects), ["p-2", "p-1"], "newest first");
    assert!(objects.iter().all(|p| p["conference"] == c1_uri), "{objects:?}");
    assert_eq!(hist(&PARTICIPANT, &[("conference", c1)]).0, 2);
    assert_eq!(ids(&hist(&PARTICIPANT, &[("conference", c2)]).1), ["p-3"]);
    assert_eq!(hist(&PARTICIPANT, &[("conference", c3)]).0, 0);
    assert_eq!(ids(&hist(&PARTICIPANT, &[("conference", c1), ("start_time__gte", "2026-03-01T09:05:00")]).1), ["p-2"]);
    assert_eq!(ids(&hist(&PARTICIPANT, &[("conference", c1), ("display_name__icontains", "ALI")]).1), ["p-1"]);
    assert_eq!(hist(&PARTICIPANT, &[]).0, part_before + 3);

    let p1 = ok("get participant", history::get(db, &PARTICIPANT, "p-1"));
    assert_eq!(p1["resource_uri"], "/api/admin/history/v1/participant/p-1/");
    assert_eq!(p1["conference"], c1_uri);
    assert_eq!(p1["display_name"], "Alice");
    assert_eq!(p1["remote_alias"], "sip:alice@example.com");
    assert_eq!(p1["bandwidth"], 1920);
    assert_eq!(p1["media_streams"], json!([{"stream_type": "video", "rx_codec": "VP8"}]));
    not_found(history::get(db, &PARTICIPANT, "no-such-participant"));
    not_found(history::get(db, &HCONF, "p-1"));
    not_found(history::get(db, &PARTICIPANT, c1));

    // A resent record replaces the first copy instead of adding a second.
    let mut c1b = conf(c1, 1, 3);
    c1b["end_time"] = json!("2026-03-01T10:30:00.000000");
    ok("resend", history::record(db, &c1b, &[part("p-1", 1, 0, "Alice (laptop)"), part("p-2", 1, 10, "Bob")]));
    assert_eq!(hist(&HCONF, &[]).0, conf_before + 3);
    assert_eq!(hist(&PARTICIPANT, &[]).0, part_before + 3);
    let c1_now = ok("get", history::get(db, &HCONF, c1));
    assert_eq!(c1_now["participant_count"], 3);
    assert_eq!(c1_now["end_time"], "2026-03-01T10:30:00.000000");
    assert_eq!(ok("get", history::get(db, &PARTICIPANT, "p-1"))["display_name"], "Alice (laptop)");
    assert_eq!(hist(&PARTICIPANT, &[("conference", c1)]).0, 2);

    // A bad record is refused whole.
    let e = refused("id", history::record(db, &json!({"name": "no id"}), &[]));
    assert!(e.0.contains_key("start_time") && e.0.contains_key("end_time"), "{e:?}");
    let c4 = "5b1d0000-0000-4000-8000-000000000004";
    let mut bad = part("p-4", 4, 0, "Dave");
    bad["duration"] = json!("long");
    refused("participants[0].duration", history::record(db, &conf(c4, 4, 1), &[bad]));
    refused("participants[1]", history::record(db, &conf(c4, 4, 1), &[part("p-4", 4, 0, "Dave"), json!("not an object")]));
    not_found(history::get(db, &HCONF, c4));
    not_found(history::get(db, &PARTICIPANT, "p-4"));
    assert_eq!(hist(&HCONF, &[]).0, conf_before + 3);
    assert_eq!(hist(&PARTICIPANT, &[]).0, part_before + 3);
}

/// Administrator password hashes and dashboard sessions.
pub fn users_and_sessions(db: &Db) {
    let count = || ok("user_count", users::user_count(db));
    let hash_of = |u: &str| ok("password_hash", users::password_hash(db, u));
    let session = |sid: &str| ok("session", users::session(db, sid));
    let n0 = count();
    assert_eq!(hash_of("suite-admin"), None);

    let h1 = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaDE";
    let h2 = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaDI";
    ok("set", users::set_password_hash(db, "suite-admin", h1));
    assert_eq!(hash_of("suite-admin").as_deref(), Some(h1));
    assert_eq!(count(), n0 + 1);
    ok("set", users::set_password_hash(db, "suite-admin", h2));
    assert_eq!(hash_of("suite-admin").as_deref(), Some(h2), "a new hash replaces the old");
    assert_eq!(count(), n0 + 1);
    ok("set", users::set_password_hash(db, "suite-operator", h1));
    assert_eq!(count(), n0 + 2);
    assert_eq!(hash_of("SUITE-ADMIN"), None, "user names are exact");

    let mk = |sid: &str, user: &str, expires: &str| Session {
        id: sid.to_string(),
        username: user.to_string(),
        csrf_token: format!("csrf-{sid}"),
        expires: expires.to_string(),
    };
    let live = mk("suite-sess-1", "suite-admin", "2999-12-31T23:59:59.000000");
    ok("create session", users::create_session(db, &live));
    assert_eq!(session("suite-sess-1"), Some(live.clone()));
    assert_eq!(session("suite-sess-unknown"), None);

    // Expired sessions are not returned: long ago, and a moment ago.
    ok("create session", users::create_session(db, &mk("suite-sess-old", "suite-admin", "2000-01-01T00:00:00.000000")));
    assert_eq!(session("suite-sess-old"), None);
    ok("create session", users::create_session(db, &mk("suite-sess-now", "suite-admin", &config::now_iso())));
    assert_eq!(session("suite-sess-now"), None);

    ok("delete session", users::delete_session(db, "suite-sess-1"));
    assert_eq!(session("suite-sess-1"), None);
    ok("delete unknown session", users::delete_session(db, "suite-sess-unknown"));

    // A new password ends that user's sessions, and only theirs.
    let mine = mk("suite-sess-2", "suite-admin", "2999-12-31T23:59:59.000000");
    let theirs = mk("suite-sess-3", "suite-operator", "2999-12-31T23:59:59.000000");
    ok("create session", users::create_session(db, &mine));
    ok("create session", users::create_session(db, &theirs));
    ok("set", users::set_password_hash(db, "suite-admin", h1));
    assert_eq!(session("suite-sess-2"), None);
    assert_eq!(session("suite-sess-3"), Some(theirs));
}

/// The conferencing nodes find a service by any of its aliases, in any letter case.
pub fn service_by_alias_is_case_insensitive(db: &Db) {
    let c = create(
        db,
        &CONFERENCE,
        json!({"name": "Lookup VMR", "aliases": [{"alias": "Meet.Bob@Example.com"}, {"alias": "Ärger@example.com"}, "4242"]}),
    );
    let c_id = id(&c);
    let other = create(db, &CONFERENCE, json!({"name": "Lookup other", "aliases": ["meet.bobby@example.com"]}));
    for alias in ["Meet.Bob@Example.com", "meet.bob@example.com", "MEET.BOB@EXAMPLE.COM", "ärger@EXAMPLE.com", "ÄRGER@example.com", "4242"] {
        let mut found = ok("lookup", config::service_by_alias(db, alias)).unwrap_or_else(|| panic!("{alias} finds Lookup VMR"));
        // Beside the API object, what a node needs to dial its automatic participants.
        let details = found.as_object_mut().unwrap().remove("automatic_participant_details");
        assert_eq!(details, Some(json!([])), "{alias}");
        assert_eq!(found, get(db, &CONFERENCE, c_id), "{alias}");
    }
    let adp = create(
        db,
        &AUTOMATIC_PARTICIPANT,
        json!({"alias": "sip:rec@10.0.0.9", "conference": [c["resource_uri"]], "keep_conference_alive": "keep_conference_alive_never"}),
    );
    let found = ok("lookup", config::service_by_alias(db, "4242")).unwrap();
    assert_eq!(found["automatic_participants"], json!([adp["resource_uri"]]));
    let details = found["automatic_participant_details"].as_array().unwrap();
    assert_eq!((details.len(), &details[0]["alias"], &details[0]["keep_conference_alive"]), (1, &json!("sip:rec@10.0.0.9"), &json!("keep_conference_alive_never")));
    assert_eq!(ok("lookup", config::service_by_alias(db, "MEET.BOBBY@example.com")).map(|v| id(&v)), Some(id(&other)));
    for alias in ["meet.bob", "meet.bob@example.co", "", "%", "Meet_Bob@Example.com", "meet.bob%", "424", "42424"] {
        assert!(ok("lookup", config::service_by_alias(db, alias)).is_none(), "{alias:?} should find nothing");
    }

    // Changes to the aliases show at once.
    patch(db, &CONFERENCE, c_id, json!({"aliases": ["4243"]}));
    assert!(ok("lookup", config::service_by_alias(db, "meet.bob@example.com")).is_none());
    assert_eq!(ok("lookup", config::service_by_alias(db, "4243")).map(|v| id(&v)), Some(c_id));
    delete(db, &CONFERENCE, c_id);
    assert!(ok("lookup", config::service_by_alias(db, "4243")).is_none());
}

/// The last LDAP sync result per template: saved, replaced by the next one, read back per id.
pub fn ldap_sync_status_is_kept(db: &Db) {
    use convene_schema::store::sync;
    // Ids far above anything other sections create, so this section can share a database.
    let (a, b) = (9_000_001_i64, 9_000_002_i64);
    assert!(ok("load", sync::load_statuses(db, &[a, b])).is_empty());
    let first = json!({"sync_status": "FAILED", "sync_last_error_description": "Bind failed: invalid credentials", "clashes": []});
    ok("save", sync::save_status(db, a, &first));
    let second = json!({"sync_status": "SYNCED", "vmrs_created": 12, "clashes": [{"kind": "Alias clash", "entry": "uid=x", "detail": "ä \"q\""}]});
    ok("save", sync::save_status(db, a, &second));
    ok("save", sync::save_status(db, b, &first));
    let got = ok("load", sync::load_statuses(db, &[a, b]));
    assert_eq!(got.len(), 2);
    assert_eq!(got[&a], second, "the newer result replaces the older");
    assert_eq!(got[&b], first);
    let only_a = ok("load", sync::load_statuses(db, &[a]));
    assert_eq!(only_a.keys().copied().collect::<Vec<_>>(), [a]);
    assert!(ok("load all", sync::load_statuses(db, &[])).len() >= 2);
}

/// Data survives closing and reopening the store; reopening runs no migration twice and keeps a
/// single `global`. `open` opens the same database each time.
pub fn reopening_keeps_data(open: impl Fn() -> Db) {
    let (conf_id, alias_id) = {
        let db = open();
        let c = create(&db, &CONFERENCE, json!({"name": "Persistent", "aliases": ["persistent"]}));
        patch(&db, &GLOBAL, 1, json!({"guests_only_timeout": 90}));
        (id(&c), id(&c["aliases"][0]))
    };
    let db = open();
    let c = get(&db, &CONFERENCE, conf_id);
    assert_eq!(c["name"], "Persistent");
    assert_eq!(id(&c["aliases"][0]), alias_id);
    assert_eq!(total(&db, &GLOBAL, &[]), 1);
    assert_eq!(get(&db, &GLOBAL, 1)["guests_only_timeout"], 90);
    // New objects do not reuse ids.
    let d = create(&db, &CONFERENCE, json!({"name": "Persistent 2"}));
    assert!(id(&d) > conf_id);
}
