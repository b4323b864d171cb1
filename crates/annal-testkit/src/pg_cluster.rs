//! A throwaway PostgreSQL cluster per test binary, and a fresh database per test: the fixture
//! that the PostgreSQL backend's tests and benchmarks, and the CLI's tests, share.
//!
//! The cluster comes from the Debian `postgresql` package (initdb and pg_ctl under
//! /usr/lib/postgresql/<version>/bin) and listens on a Unix socket in a temp dir only. Tests
//! run it with fsync off (speed; durability is the server's, not under test here); the
//! benchmarks, which share this file, with fsync on. As root it
//! runs as the `postgres` user (PostgreSQL refuses root) through `runuser`. `ANNAL_PG_URL`
//! points the tests at an existing server instead. A missing PostgreSQL is a failure, never a
//! skip.
//!
//! Stopping: a watchdog shell holds the read end of a pipe whose write end only this process
//! holds; when the process exits in any way (even SIGKILL), the pipe closes, and the watchdog
//! runs `pg_ctl stop -m immediate` and removes the directory. Rust never drops statics, so no
//! Drop could do this.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The running cluster (or external server) of this test binary.
pub struct Cluster {
    /// Connection string of the maintenance database, in key=value or URL form.
    base: String,
    /// The directory of the cluster's Unix socket, when this binary started the cluster.
    socket_dir: Option<PathBuf>,
    /// Keeps the watchdog's pipe open for the life of the process.
    _watchdog: Option<(Child, ChildStdin)>,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT_DATABASE: AtomicU64 = AtomicU64::new(1);

/// The cluster of this test binary, started on first use with fsync off (test speed).
pub fn cluster() -> &'static Cluster {
    cluster_with(false)
}

/// The cluster of this binary, started on first use with fsync on: for benchmarks, whose
/// commits should cost what they cost in production.
pub fn durable_cluster() -> &'static Cluster {
    cluster_with(true)
}

fn cluster_with(fsync: bool) -> &'static Cluster {
    CLUSTER.get_or_init(|| match std::env::var("ANNAL_PG_URL") {
        Ok(url) if !url.is_empty() => Cluster {
            base: url,
            socket_dir: None,
            _watchdog: None,
        },
        _ => start(fsync),
    })
}

impl Cluster {
    /// Creates a fresh, empty database and returns its connection string.
    pub async fn fresh_database(&self) -> String {
        let n = NEXT_DATABASE.fetch_add(1, Ordering::Relaxed);
        let name = format!("t_{}_{n}", std::process::id());
        let (client, connection) = tokio_postgres::connect(&self.base, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|error| panic!("connecting to {}: {error}", self.base));
        let driver = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        drop(client);
        let _ = driver.await;
        with_dbname(&self.base, &name)
    }

    /// Creates a fresh, empty database and returns its `postgresql://` URL (the form the CLI's
    /// `--store` takes).
    pub async fn fresh_database_url(&self) -> String {
        let connection = self.fresh_database().await;
        match &self.socket_dir {
            Some(dir) => {
                let name = connection.rsplit("dbname=").next().unwrap_or_default();
                format!("postgresql://postgres@/{name}?host={}", dir.display())
            }
            None if connection.contains("://") => connection,
            None => panic!("ANNAL_PG_URL must be a postgresql:// URL for these tests"),
        }
    }
}

/// `url` with its database replaced by `name`, in either connection string form.
pub fn with_dbname(url: &str, name: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        // key=value form: a later key wins.
        return format!("{url} dbname={name}");
    };
    let (main, query) = match url.find('?') {
        Some(at) => (&url[..at], &url[at..]),
        None => (url, ""),
    };
    let authority_start = scheme_end + 3;
    let path_start = main[authority_start..]
        .find('/')
        .map_or(main.len(), |at| authority_start + at);
    format!("{}/{name}{query}", &main[..path_start])
}

/// The newest installed PostgreSQL major version's `program` (`initdb`, `pg_restore`, ...),
/// compared as numbers so that 16 comes after 9.6.
pub fn program(program: &str) -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let major = entry
                .file_name()
                .to_string_lossy()
                .split('.')
                .next()?
                .parse()
                .ok()?;
            let path = entry.path().join("bin").join(program);
            path.exists().then_some((major, path))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, path)) => path,
        None => panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/{program}): run \
             `apt-get install -y postgresql` (scripts/test does), or set ANNAL_PG_URL"
        ),
    }
}

fn bin_dir() -> PathBuf {
    let initdb = program("initdb");
    initdb
        .parent()
        .map_or_else(|| PathBuf::from("/usr/bin"), Path::to_path_buf)
}

fn is_root() -> bool {
    let output = Command::new("id")
        .arg("-u")
        .output()
        .expect("running id -u");
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

/// A command that runs `program` as the postgres user when we are root.
fn as_postgres(program: &Path, root: bool) -> Command {
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

#[track_caller]
fn run(mut command: Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn start(fsync: bool) -> Cluster {
    let bin = bin_dir();
    let root = is_root();
    let dir = tempfile::Builder::new()
        .prefix("annal-pg-")
        .tempdir()
        .unwrap()
        .keep();
    if root {
        let mut chown = Command::new("chown");
        chown.arg("postgres:postgres").arg(&dir);
        run(chown, "chown of the cluster directory");
    }
    let data = dir.join("data");
    let mut initdb = as_postgres(&bin.join("initdb"), root);
    initdb.arg("-D").arg(&data).args([
        "-U",
        "postgres",
        "--auth=trust",
        "-N",
        "-E",
        "UTF8",
        "--locale=C",
    ]);
    run(initdb, "initdb");
    let pg_ctl = bin.join("pg_ctl");
    let options = format!(
        "-k {} -c listen_addresses='' -c fsync={} -c full_page_writes={} \
         -c max_connections=300 -c shared_buffers=128MB",
        dir.display(),
        if fsync { "on" } else { "off" },
        if fsync { "on" } else { "off" },
    );
    let mut start = as_postgres(&pg_ctl, root);
    start
        .arg("-D")
        .arg(&data)
        .arg("-o")
        .arg(&options)
        .arg("-l")
        .arg(dir.join("log"))
        .args(["-w", "start"]);
    run(start, "pg_ctl start");
    let stop = format!(
        "cat >/dev/null; {} {} -D {} -m immediate stop >/dev/null 2>&1; rm -rf {}",
        if root { "runuser -u postgres --" } else { "" },
        pg_ctl.display(),
        data.display(),
        dir.display()
    );
    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(stop)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the cluster watchdog");
    let pipe = watchdog
        .stdin
        .take()
        .expect("the watchdog's stdin is piped");
    Cluster {
        base: format!("host={} user=postgres dbname=postgres", dir.display()),
        socket_dir: Some(dir),
        _watchdog: Some((watchdog, pipe)),
    }
}

/// `url` with one more connection parameter, in either connection string form.
pub fn with_param(url: &str, key: &str, value: &str) -> String {
    if !url.contains("://") {
        return format!("{url} {key}={value}");
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{key}={value}")
}
