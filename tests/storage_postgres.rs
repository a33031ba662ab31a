//! The storage conformance suite on PostgreSQL 15: a throw-away cluster (see `pg.rs`) shared by
//! the tests running at the same time, a fresh database for each section, then all sections on
//! one database.
//!
//! PostgreSQL must be installed; without it these tests fail (they do not skip).

use std::net::TcpStream;

use convene_schema::Db;
use convene_tests::pg::{self, PgCluster};
use convene_tests::storage_suite::{self, TestDb};

fn fresh(name: &str) -> TestDb {
    let cluster = pg::shared();
    let url = cluster.create_database(name);
    let db = Db::open(&url).unwrap_or_else(|e| panic!("open {url}: {e}\nserver log:\n{}", cluster.log()));
    assert!(matches!(db, Db::Postgres(_)), "{db:?}");
    TestDb::new(db, cluster)
}

convene_tests::storage_suite_tests!(fresh);

#[test]
fn reopening_keeps_data() {
    let cluster = pg::shared();
    let url = cluster.create_database("reopening_keeps_data");
    storage_suite::reopening_keeps_data(|| Db::open(&url).unwrap_or_else(|e| panic!("open {url}: {e}")));
}

#[test]
fn postgresql_url_selects_postgres() {
    let cluster = pg::shared();
    let url = cluster.create_database("url_forms");
    assert!(url.starts_with("postgres://postgres@127.0.0.1:"), "{url}");
    let alt = url.replacen("postgres://", "postgresql://", 1);
    assert!(matches!(Db::open(&alt).expect("postgresql:// URL"), Db::Postgres(_)));
}

/// The helper cleans up after itself: dropping a cluster stops the server and removes its files.
#[test]
fn cluster_is_removed_on_drop() {
    let cluster = PgCluster::start();
    let (dir, port) = (cluster.dir().to_path_buf(), cluster.port());
    let url = cluster.create_database("scratch");
    drop(Db::open(&url).expect("open scratch database"));
    assert!(dir.join("data/PG_VERSION").is_file());
    drop(cluster);
    assert!(!dir.exists(), "{} still exists", dir.display());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "something still listens on {port}");
}
