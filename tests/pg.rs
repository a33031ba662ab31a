//! A throw-away PostgreSQL 15 cluster for tests.
//!
//! [`PgCluster::start`] runs `initdb` in a fresh temporary directory, starts `postgres` on a free
//! loopback port (trust authentication for 127.0.0.1, `fsync=off`) and waits until it accepts
//! connections; [`PgCluster::create_database`] makes an empty database and returns its
//! `postgres://` URL. Dropping the cluster stops the server and removes the directory.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root the server (and `initdb`) run
//! as the `postgres` system user and the directory is handed to that user.
//!
//! The binaries are looked up in `$CONVENE_PG_BIN`, else `/usr/lib/postgresql/15/bin` (Debian's
//! `postgresql-15`). When they are missing, starting a cluster panics: a test that needs
//! PostgreSQL fails rather than silently skipping.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where Debian installs PostgreSQL 15's server binaries.
pub const DEFAULT_PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// How long the server may take to accept connections after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a shutdown may take before the server is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts at finding a port nobody else grabs between our probe and the server's bind.
const PORT_ATTEMPTS: usize = 5;

/// A directory under the system temp dir, removed (with its contents) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<tmp>/<prefix>-<pid>-<unique>/` with mode 0700.
    pub fn new(prefix: &str) -> std::io::Result<TempDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        for _ in 0..100 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos:08x}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
                    return Ok(TempDir { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other("could not create a unique temporary directory"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The system user the server runs as when the tests run as root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

/// A running throw-away PostgreSQL cluster.
#[derive(Debug)]
pub struct PgCluster {
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    port: u16,
    /// `None`: run the binaries as ourselves (we are not root).
    run_as: Option<RunAs>,
    server: Option<Child>,
    // Last, so the directory is removed after the server has stopped.
    dir: TempDir,
}

impl PgCluster {
    /// Initialises and starts a cluster; panics with an explanation when that is impossible.
    pub fn start() -> PgCluster {
        let bin = std::env::var_os("CONVENE_PG_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(DEFAULT_PG_BIN));
        for tool in ["initdb", "postgres", "pg_ctl", "pg_isready", "createdb"] {
            let path = bin.join(tool);
            assert!(
                path.is_file(),
                "PostgreSQL 15 is not installed: {} is missing. Install it (Debian: `apt-get install postgresql-15`, \
                 or the `postgresql` package) or point CONVENE_PG_BIN at its bin directory.",
                path.display()
            );
        }

        let dir = TempDir::new("convene-pg").unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let run_as = if std::fs::metadata(dir.path()).map(|m| m.uid()).unwrap_or(0) == 0 {
            // initdb and postgres refuse to run as root: hand the directory to `postgres`.
            let ids = |flag: &str| -> u32 {
                let out = Command::new("id").args([flag, "postgres"]).output().expect("run `id`");
                assert!(out.status.success(), "running as root, but there is no `postgres` system user to run PostgreSQL as");
                String::from_utf8_lossy(&out.stdout).trim().parse().expect("numeric id")
            };
            let run_as = RunAs { uid: ids("-u"), gid: ids("-g") };
            std::os::unix::fs::chown(dir.path(), Some(run_as.uid), Some(run_as.gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", dir.path().display()));
            Some(run_as)
        } else {
            None
        };

        let data = dir.path().join("data");
        let sockets = dir.path().join("sockets");
        let log = dir.path().join("server.log");
        let mut cluster = PgCluster { bin, data, log, port: 0, run_as, server: None, dir };

        std::fs::create_dir(&sockets).expect("create the socket directory");
        cluster.give_to_server_user(&sockets);

        let out = cluster
            .command("initdb")
            .arg("-D")
            .arg(&cluster.data)
            .args(["-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run initdb: {e}"));
        assert!(
            out.status.success(),
            "initdb failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Password-less access for local sockets and 127.0.0.1 only. Rewriting the existing file
        // keeps its owner.
        std::fs::write(
            cluster.data.join("pg_hba.conf"),
            "# written by convene-tests\nlocal all all trust\nhost all all 127.0.0.1/32 trust\n",
        )
        .expect("write pg_hba.conf");

        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            match cluster.launch(port, &sockets) {
                Ok(()) => return cluster,
                Err(Launch::PortTaken(log)) => last_log = log,
                Err(Launch::Failed(msg)) => panic!("{msg}"),
            }
        }
        panic!("PostgreSQL could not bind a loopback port in {PORT_ATTEMPTS} attempts; server log:\n{last_log}");
    }

    /// Starts `postgres` on `port` and waits until it accepts connections.
    fn launch(&mut self, port: u16, sockets: &Path) -> Result<(), Launch> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| Launch::Failed(format!("open {}: {e}", self.log.display())))?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let stderr = log.try_clone().map_err(|e| Launch::Failed(e.to_string()))?;
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(&self.data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(sockets)
            .args([
                "-c", "listen_addresses=127.0.0.1",
                "-c", "fsync=off",
                "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off",
                "-c", "max_connections=200",
                "-c", "logging_collector=off",
            ])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .map_err(|e| Launch::Failed(format!("cannot start postgres: {e}")))?;
        self.server = Some(child);
        self.port = port;

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let server = self.server.as_mut().expect("server just started");
            if let Ok(Some(status)) = server.try_wait() {
                self.server = None;
                let log = self.log_since(log_start);
                if log.contains("could not bind") || log.contains("Address already in use") {
                    return Err(Launch::PortTaken(log));
                }
                return Err(Launch::Failed(format!("postgres exited ({status}) before accepting connections; log:\n{log}")));
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "-d", "postgres", "-t", "2"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let log = self.log_since(log_start);
                self.stop();
                return Err(Launch::Failed(format!(
                    "postgres did not accept connections on 127.0.0.1:{port} within {READY_TIMEOUT:?}; log:\n{log}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The cluster's directory (data directory, sockets, server log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` (which need not exist yet).
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates an empty database and returns its URL. Panics when that fails.
    pub fn create_database(&self, name: &str) -> String {
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", name])
            .output()
            .unwrap_or_else(|e| panic!("cannot run createdb: {e}"));
        assert!(out.status.success(), "createdb {name} failed: {}", String::from_utf8_lossy(&out.stderr));
        self.url(name)
    }

    /// The server's log so far (for diagnosing failures).
    pub fn log(&self) -> String {
        self.log_since(0)
    }

    fn log_since(&self, offset: u64) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        text.get(offset as usize..).unwrap_or(&text).to_string()
    }

    /// A command for one of the PostgreSQL binaries, run as the server's user.
    fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(tool));
        cmd.current_dir(self.dir.path()).env("LC_ALL", "C").env_remove("PGDATA");
        if let Some(RunAs { uid, gid }) = self.run_as {
            // std drops supplementary groups when switching away from root.
            cmd.uid(uid).gid(gid).env("HOME", self.dir.path()).env("USER", "postgres").env("LOGNAME", "postgres");
        }
        cmd
    }

    fn give_to_server_user(&self, path: &Path) {
        if let Some(RunAs { uid, gid }) = self.run_as {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
        }
    }

    /// Stops the server (immediate shutdown: the data is thrown away anyway) and reaps it.
    fn stop(&mut self) {
        let Some(mut server) = self.server.take() else { return };
        let stopped = self
            .command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "-t", &STOP_TIMEOUT.as_secs().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if stopped {
            let deadline = Instant::now() + STOP_TIMEOUT;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = server.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = server.kill();
        let _ = server.wait();
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
        // `dir` is dropped after this, removing the data directory.
    }
}

enum Launch {
    PortTaken(String),
    Failed(String),
}

use crate::server::free_port;

/// One cluster shared by the tests of a process that run at the same time: the first caller
/// starts it, and it stops when the last holder drops its handle.
pub fn shared() -> Arc<PgCluster> {
    static SHARED: Mutex<Weak<PgCluster>> = Mutex::new(Weak::new());
    let mut slot = SHARED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(cluster) = slot.upgrade() {
        return cluster;
    }
    let cluster = Arc::new(PgCluster::start());
    *slot = Arc::downgrade(&cluster);
    cluster
}
