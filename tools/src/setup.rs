//! First-run set-up: the administrator account, and for `convene up` a local system location, the
//! local Conferencing Node, a sample VMR and the Test Call service.

use convene_admin::auth;
use convene_schema::Db;
use convene_schema::resources::{CONFERENCE, SYSTEM_LOCATION, WORKER_VM};
use convene_schema::store::{config, users};
use serde_json::json;

pub const ADMIN_USER: &str = "admin";

/// Makes sure an administrator exists: from `CONVENE_ADMIN_PASSWORD`, or by asking on a terminal.
/// Returns a line telling the operator how to log in, or what to do when no account exists yet.
pub fn ensure_admin(db: &Db) -> Result<String, String> {
    if users::user_count(db).map_err(|e| e.to_string())? > 0 {
        return Ok(format!("Log in as an existing administrator (change a password with `convene admin set-password`)."));
    }
    let password = match std::env::var("CONVENE_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::io::IsTerminal::is_terminal(&std::io::stdin()) => Some(prompt_new_password()?),
        _ => None,
    };
    match password {
        Some(p) => {
            set_password(db, ADMIN_USER, &p)?;
            Ok(format!("Log in as \"{ADMIN_USER}\" with the password you set."))
        }
        None => Ok(format!(
            "No administrator account exists yet, so every login is refused. Create one with\n    \
             convene admin set-password\nor start with CONVENE_ADMIN_PASSWORD=… set (user \"{ADMIN_USER}\")."
        )),
    }
}

pub fn set_password(db: &Db, user: &str, password: &str) -> Result<(), String> {
    auth::check_new_password(password)?;
    let hash = auth::hash_password(password)?;
    users::set_password_hash(db, user, &hash).map_err(|e| e.to_string())
}

pub fn prompt_new_password() -> Result<String, String> {
    loop {
        let a = rpassword::prompt_password("New administrator password (10+ characters): ").map_err(|e| e.to_string())?;
        if let Err(e) = auth::check_new_password(&a) {
            eprintln!("{e}");
            continue;
        }
        let b = rpassword::prompt_password("Repeat it: ").map_err(|e| e.to_string())?;
        if a == b {
            return Ok(a);
        }
        eprintln!("The two passwords differ; try again.");
    }
}

/// For the all-in-one node: creates what a fresh installation needs to be useful at once. Only
/// objects that are missing are created, so an admin's changes and deletions are respected: the
/// sample services are made only on the very first run.
pub fn seed_all_in_one(db: &Db, node_name: &str) -> Result<Vec<String>, String> {
    let err = |e: convene_schema::StoreError| e.to_string();
    let mut made = Vec::new();
    let all = vec![("limit".to_string(), "0".to_string())];
    let locations = config::list(db, &SYSTEM_LOCATION, &all).map_err(err)?;
    let first_run = locations.total == 0;
    let location_uri = match locations.objects.first() {
        Some(l) => l["resource_uri"].clone(),
        None => {
            let l = config::create(db, &SYSTEM_LOCATION, &json!({"name": "Local", "description": "This machine"})).map_err(err)?;
            made.push("system location \"Local\"".to_string());
            l["resource_uri"].clone()
        }
    };
    let by_name = vec![("name".to_string(), node_name.to_string())];
    if config::list(db, &WORKER_VM, &by_name).map_err(err)?.total == 0 {
        config::create(db, &WORKER_VM, &json!({
            "name": node_name, "hostname": node_name, "address": "127.0.0.1",
            "system_location": location_uri, "description": "The all-in-one node's Conferencing Node",
        }))
        .map_err(err)?;
        made.push(format!("Conferencing Node \"{node_name}\""));
    }
    if first_run {
        config::create(db, &CONFERENCE, &json!({
            "name": "Sample VMR", "description": "A meeting room to try things out; call meet@<this host>",
            "service_type": "conference", "aliases": [{"alias": "meet"}, {"alias": "meet@localhost"}],
        }))
        .map_err(err)?;
        made.push("VMR \"Sample VMR\" (aliases meet, meet@localhost)".into());
        config::create(db, &CONFERENCE, &json!({
            "name": "Test Call", "description": "See and hear yourself; call test@<this host>",
            "service_type": "test_call", "aliases": [{"alias": "test"}, {"alias": "test@localhost"}],
        }))
        .map_err(err)?;
        made.push("Test Call service (aliases test, test@localhost)".into());
    }
    Ok(made)
}
