//! The storage conformance suite on SQLite: every section on a fresh database file of its own,
//! then all of them on one.

use convene_schema::Db;
use convene_tests::pg::TempDir;
use convene_tests::storage_suite::{self, TestDb};

fn fresh(name: &str) -> TestDb {
    let dir = TempDir::new("convene-sqlite").unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
    let path = dir.path().join(format!("{name}.db"));
    let db = Db::open(path.to_str().expect("UTF-8 temp path")).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    assert!(matches!(db, Db::Sqlite(_)), "{db:?}");
    TestDb::new(db, dir)
}

convene_tests::storage_suite_tests!(fresh);

#[test]
fn reopening_keeps_data() {
    let dir = TempDir::new("convene-sqlite").expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("nested/config.db").display());
    storage_suite::reopening_keeps_data(|| Db::open(&url).unwrap_or_else(|e| panic!("open {url}: {e}")));
}
