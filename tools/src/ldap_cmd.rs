//! `convene ldap sync [--template NAME|ID] [--preview N]`: runs LDAP syncs from the command line
//! against the configured database (the same engine as the `conference/sync` command), with a
//! text progress bar on standard error; or previews the patterns for the first N entries.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use convene_admin::ldap::{self, SyncRegistry};
use convene_schema::Db;
use convene_schema::resources::CONFERENCE_SYNC_TEMPLATE;
use convene_schema::store::config;
use serde_json::Value;

use crate::settings::{FileSettings, Overrides, Settings};

#[derive(clap::Subcommand)]
pub enum LdapCommand {
    /// Syncs VMRs from the directory (every template, or one).
    Sync {
        /// The template's name or id (default: every template).
        #[arg(long)]
        template: Option<String>,
        /// Only render the patterns for the first N directory entries; write nothing.
        #[arg(long, value_name = "N")]
        preview: Option<usize>,
        #[command(flatten)]
        overrides: Overrides,
    },
}

pub fn run(cmd: LdapCommand, file: FileSettings) -> Result<(), String> {
    let LdapCommand::Sync { template, preview, overrides } = cmd;
    let s = Settings::resolve(file, overrides);
    convene_schema::store::secrets::install_key_file(&s.data_dir.join("secret_key"))?;
    let db = Db::open(&s.database_url).map_err(|e| format!("{e} ({})", s.database_display()))?;
    let all = config::list(&db, &CONFERENCE_SYNC_TEMPLATE, &[("limit".into(), "0".into())]).map_err(|e| e.to_string())?.objects;
    let chosen: Vec<&Value> = match &template {
        Some(t) => all.iter().filter(|o| o["name"].as_str() == Some(t) || o["id"].to_string() == *t).collect(),
        None => all.iter().collect(),
    };
    if chosen.is_empty() {
        return Err(match template {
            Some(t) => format!("There is no conference_sync_template \"{t}\"."),
            None => "There are no conference_sync_templates.".into(),
        });
    }
    let mut failed = 0;
    for t in chosen {
        let id = t["id"].as_i64().unwrap_or_default();
        let name = t["name"].as_str().unwrap_or_default().to_string();
        match preview {
            Some(n) => preview_one(&db, id, &name, n)?,
            None => failed += !sync_one(&db, id, &name) as usize,
        }
    }
    if failed > 0 { Err(format!("{failed} sync(s) failed")) } else { Ok(()) }
}

fn preview_one(db: &Db, id: i64, name: &str, n: usize) -> Result<(), String> {
    let db = db.clone();
    let rows = ldap::on_sync_thread(move || Box::pin(async move { ldap::preview(&db, id, n).await }))
        .join()
        .map_err(|_| "the preview thread panicked".to_string())??;
    println!("Preview of \"{name}\" ({} entries):", rows.len());
    for row in rows {
        match row {
            Ok(r) => {
                let aliases: Vec<String> = r.aliases.iter().map(|(a, _)| a.clone()).collect();
                println!("  {}\n    name: {}\n    aliases: {}\n    pin: {}  guest_pin: {}", r.dn, r.name, aliases.join(", "), r.pin, r.guest_pin);
            }
            Err((dn, e)) => println!("  {dn}\n    error: {e}"),
        }
    }
    Ok(())
}

fn bar(progress: u32) -> String {
    let filled = (progress.min(100) as usize) * 30 / 100;
    format!("[{}{}] {:>3}%", "#".repeat(filled), "-".repeat(30 - filled), progress)
}

/// Runs one sync with a progress bar; `true` when it succeeded.
fn sync_one(db: &Db, id: i64, name: &str) -> bool {
    let registry = Arc::new(SyncRegistry::default());
    let handle = match ldap::spawn_sync(db.clone(), registry.clone(), id, name) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("{e}");
            return false;
        }
    };
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last = String::new();
    while !handle.is_finished() {
        if let Some(st) = registry.get(id) {
            let line = format!("{name}: {} {}", bar(st.sync_progress), st.sync_phase);
            if line != last {
                if tty {
                    eprint!("\r\x1b[2K{line}");
                } else {
                    eprintln!("{line}");
                }
                let _ = std::io::stderr().flush();
                last = line;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = handle.join().unwrap_or_default();
    if tty {
        eprintln!("\r\x1b[2K{name}: {} {}", bar(st.sync_progress), st.sync_phase);
    } else {
        eprintln!("{name}: {} {}", bar(st.sync_progress), st.sync_phase);
    }
    println!(
        "{name}: {} — {} entries; VMRs created {}, updated {}, deleted {}, unchanged {}; {} error(s) in {} ms",
        st.sync_status, st.directory_entries, st.vmrs_created, st.vmrs_updated, st.vmrs_deleted, st.vmrs_unchanged,
        st.sync_errors, st.duration_ms.unwrap_or(0)
    );
    for c in &st.clashes {
        println!("  {}: {} ({})", c.kind, c.detail, c.entry);
    }
    for e in &st.errors {
        println!("  error: {e}");
    }
    st.sync_status == "SYNCED"
}
