//! LDAP sync benchmark: 10,000 directory users (a real slapd) → 10,000 VMRs, on SQLite and on
//! PostgreSQL: the first sync, then a re-sync with nothing changed. Aims: under 10 s and under 3 s.
//! `cargo build --release --bins && target/release/convene-bench-ldap [--users N] [--sqlite-only]`

use std::sync::Arc;
use std::time::Instant;

use convene_admin::ldap::{self, SyncRegistry};
use convene_schema::Db;
use convene_schema::resources::{CONFERENCE_SYNC_TEMPLATE, LDAP_SYNC_SOURCE};
use convene_schema::store::config;
use convene_tests::slapd::{ROOT_DN, ROOT_PW, SUFFIX, Slapd};
use serde_json::json;

fn bench(label: &str, db: &Db, slapd: &Slapd, users: usize) {
    let src = config::create(db, &LDAP_SYNC_SOURCE, &json!({
        "name": "Directory", "ldap_server": slapd.url(), "ldap_base_dn": SUFFIX, "ldap_bind_username": ROOT_DN,
        "ldap_bind_password": ROOT_PW, "ldap_use_starttls": false, "ldap_permit_no_tls": true, "ldap_search_page_size": 1000,
    })).expect("source");
    let t = config::create(db, &CONFERENCE_SYNC_TEMPLATE, &json!({
        "name": "Staff", "ldap_sync_source": src["resource_uri"], "ldap_user_filter": "(objectClass=inetOrgPerson)",
        "conference_name": "{{givenName}} {{sn}} VMR", "alias_1": "{{uid}}", "alias_2": "{{mail|lower}}",
        "alias_3": "{{telephoneNumber|pex_clean_phone_number}}", "pin": "{{employeeNumber}}",
        "guest_pin": "{{ pex_random_pin(6) }}", "allow_guests": true,
    })).expect("template");
    let id = t["id"].as_i64().unwrap();
    let registry = Arc::new(SyncRegistry::default());
    let mut times = Vec::new();
    for round in ["first sync", "re-sync, nothing changed"] {
        let started = Instant::now();
        let st = ldap::spawn_sync(db.clone(), registry.clone(), id, "Staff").unwrap().join().unwrap();
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(st.sync_status, "SYNCED", "{st:?}");
        println!(
            "{label}: {round}: {secs:.2} s (entries {}, created {}, updated {}, unchanged {}, errors {})",
            st.directory_entries, st.vmrs_created, st.vmrs_updated, st.vmrs_unchanged, st.sync_errors
        );
        times.push(secs);
    }
    assert_eq!(registry.get(id).unwrap().vmrs_unchanged, users);
    println!("| {label} | {users} | {:.2} s | {:.2} s |", times[0], times[1]);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let users = args.iter().position(|a| a == "--users").and_then(|i| args.get(i + 1)).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let started = Instant::now();
    let slapd = Slapd::start(users);
    println!("slapd with {users} users ready in {:.1} s", started.elapsed().as_secs_f64());
    let dir = tempfile::tempdir().unwrap();
    convene_schema::store::secrets::install_key_file(&dir.path().join("secret_key")).unwrap();
    let db = Db::open(dir.path().join("bench.sqlite3").to_str().unwrap()).unwrap();
    bench("SQLite", &db, &slapd, users);
    if !args.iter().any(|a| a == "--sqlite-only") {
        let pg = convene_tests::pg::PgCluster::start();
        let db = Db::open(&pg.create_database("bench_ldap")).unwrap();
        bench("PostgreSQL", &db, &slapd, users);
    }
}
