//! Writing a plan: batches of [`BATCH`] VMRs, each batch one transaction through
//! `convene_schema::store::sync`. Deletions go first (freeing names and aliases), then updates,
//! then creations. A batch that fails is retried one VMR at a time so one bad VMR (a name taken
//! meanwhile) is reported without losing the others. A crash between batches leaves complete
//! VMRs only, and the next sync, planning from the database again, finishes the rest.

use convene_schema::Db;
use convene_schema::store::sync::{self, SyncWrite};
use convene_schema::StoreError;

use super::plan::{Clash, Plan};

pub const BATCH: usize = 500;

#[derive(Debug, Default, Clone)]
pub struct Applied {
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    pub clashes: Vec<Clash>,
    pub errors: Vec<String>,
}

enum Step<'a> {
    Delete(&'a [(i64, String)]),
    Write(&'a [SyncWrite], bool),
}

/// Applies `plan`; `progress(done, total)` after each batch. `stop_after` (tests) stops after that
/// many batches, as a crash would.
pub fn apply(db: &Db, prefix: &str, plan: &Plan, mut progress: impl FnMut(usize, usize), stop_after: Option<usize>) -> Applied {
    let mut out = Applied::default();
    let total = plan.deletes.len() + plan.updates.len() + plan.creates.len();
    let mut steps: Vec<Step<'_>> = Vec::new();
    steps.extend(plan.deletes.chunks(BATCH).map(Step::Delete));
    steps.extend(plan.updates.chunks(BATCH).map(|c| Step::Write(c, false)));
    steps.extend(plan.creates.chunks(BATCH).map(|c| Step::Write(c, true)));
    let mut done = 0;
    let mut db_failures = 0;
    for (n, step) in steps.iter().enumerate() {
        if stop_after.is_some_and(|s| n >= s) {
            break;
        }
        if db_failures >= 3 {
            out.errors.push("The database is not answering: the rest of the sync was not written; the next sync completes it.".into());
            break;
        }
        match step {
            Step::Delete(items) => {
                let ids: Vec<i64> = items.iter().map(|(id, _)| *id).collect();
                match sync::apply_batch(db, prefix, &ids, &[]) {
                    Ok(_) => out.deleted += items.len(),
                    Err(_) => {
                        for (id, name) in items.iter() {
                            match sync::apply_batch(db, prefix, &[*id], &[]) {
                                Ok(_) => out.deleted += 1,
                                Err(e) => {
                                    db_failures += is_db_down(&e) as usize;
                                    out.errors.push(format!("Could not delete \"{name}\": {}", describe(&e)));
                                }
                            }
                        }
                    }
                }
                done += items.len();
            }
            Step::Write(items, create) => {
                let count = |out: &mut Applied, k: usize| if *create { out.created += k } else { out.updated += k };
                match sync::apply_batch(db, prefix, &[], items) {
                    Ok(_) => count(&mut out, items.len()),
                    Err(_) => {
                        for w in items.iter() {
                            match sync::apply_batch(db, prefix, &[], std::slice::from_ref(w)) {
                                Ok(_) => count(&mut out, 1),
                                Err(e) => {
                                    db_failures += is_db_down(&e) as usize;
                                    let kind = if sync::is_conflict(&e) { "Conference clash" } else { "Write failed" };
                                    out.clashes.push(Clash {
                                        kind: kind.into(),
                                        entry: w.data.get("sync_tag").and_then(|v| v.as_str()).unwrap_or("").to_string(),
                                        detail: format!("\"{}\": {}", w.name(), describe(&e)),
                                    });
                                }
                            }
                        }
                    }
                }
                done += items.len();
            }
        }
        progress(done, total);
    }
    out
}

fn is_db_down(e: &StoreError) -> bool {
    matches!(e, StoreError::Pool(_) | StoreError::Open(_))
}

fn describe(e: &StoreError) -> String {
    if sync::is_conflict(e) {
        return "its name or an alias was taken by another service meanwhile".into();
    }
    match e {
        StoreError::Invalid(errors) => errors.to_string(),
        other => other.to_string(),
    }
}
