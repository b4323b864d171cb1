// Goal: connections are encrypted with `sslmode=require`, and the certificate checks follow
// libpq: `require` accepts any certificate unless `sslrootcert` is given, `verify-ca` checks the
// chain, `verify-full` the chain and the host name; a server that refuses plain connections
// proves the ones that worked were encrypted.
// Method: a dedicated throwaway cluster (the shared one listens on a Unix socket only, where
// PostgreSQL never speaks TLS) on 127.0.0.1 with ssl=on, a self-signed certificate for
// "localhost" generated here, and a pg_hba.conf that accepts TCP only over TLS.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use annal_core::{ExpectedVersion, Position, Store, StreamId, collect};
use annal_postgres::{ConnectError, PostgresStore};
use annal_testkit::pg_cluster::program;

/// A cluster that speaks TLS on 127.0.0.1; a watchdog stops it when the test process ends.
struct TlsCluster {
    port: u16,
    cert: PathBuf,
    /// A certificate the server does not have: a root that must not verify it.
    stranger: PathBuf,
    _watchdog: (Child, ChildStdin),
}

fn is_root() -> bool {
    let output = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

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
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

fn start() -> TlsCluster {
    let root = is_root();
    let dir = tempfile::Builder::new()
        .prefix("annal-pg-tls-")
        .tempdir()
        .unwrap()
        .keep();
    let data = dir.join("data");
    let (cert, key) = self_signed(&dir, "server");
    let (stranger, _) = self_signed(&dir, "stranger");
    // The server refuses a key file others can read.
    let mut chmod = Command::new("chmod");
    chmod.arg("600").arg(&key);
    run(chmod, "chmod of the key");
    if root {
        let mut chown = Command::new("chown");
        chown.arg("-R").arg("postgres:postgres").arg(&dir);
        run(chown, "chown of the cluster directory");
    }
    let mut initdb = as_postgres(&program("initdb"), root);
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-N"]);
    run(initdb, "initdb");
    // TCP only over TLS: a plain connection finds no pg_hba.conf entry.
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
    )
    .unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = format!(
        "-k {dir} -c listen_addresses=127.0.0.1 -p {port} -c ssl=on -c ssl_cert_file={cert} \
         -c ssl_key_file={key} -c fsync=off",
        dir = dir.display(),
        cert = cert.display(),
        key = key.display(),
    );
    let pg_ctl = program("pg_ctl");
    let mut start = as_postgres(&pg_ctl, root);
    start.arg("-D").arg(&data).arg("-o").arg(&options);
    start.arg("-l").arg(dir.join("log")).args(["-w", "start"]);
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
        .unwrap();
    let pipe = watchdog.stdin.take().unwrap();
    TlsCluster {
        port,
        cert,
        stranger,
        _watchdog: (watchdog, pipe),
    }
}

impl TlsCluster {
    fn url(&self, host: &str, tls: &str) -> String {
        format!(
            "host={host} port={} user=postgres dbname=postgres {tls}",
            self.port
        )
    }
}

/// Connects, appends one event and reads the log back.
async fn round_trip(url: &str) -> Result<usize, ConnectError> {
    let store = PostgresStore::connect(url).await?;
    let stream = StreamId::new("tls-1").unwrap();
    let event = annal_core::NewEvent::new(
        annal_core::EventType::new("probe:sent").unwrap(),
        serde_json::json!({}),
    );
    store
        .append(&stream, ExpectedVersion::Any, vec![event])
        .await
        .unwrap();
    let events = collect(store.read_all(Position::START).await.unwrap())
        .await
        .unwrap();
    Ok(events.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_encrypts_and_verifies_as_libpq_does() {
    let cluster = start();
    let cert = cluster.cert.display().to_string();
    let stranger = cluster.stranger.display().to_string();

    assert_eq!(
        round_trip(&cluster.url("127.0.0.1", "sslmode=require"))
            .await
            .unwrap(),
        1
    );
    let plain = round_trip(&cluster.url("127.0.0.1", "sslmode=disable")).await;
    assert!(
        plain.is_err(),
        "the server takes only TLS, so the others were encrypted"
    );

    let full = cluster.url(
        "localhost",
        &format!("sslmode=verify-full sslrootcert={cert}"),
    );
    assert_eq!(round_trip(&full).await.unwrap(), 2);
    let ca = cluster.url(
        "127.0.0.1",
        &format!("sslmode=verify-ca sslrootcert={cert}"),
    );
    assert_eq!(round_trip(&ca).await.unwrap(), 3);

    // The certificate names localhost, not 127.0.0.1.
    let wrong_name = cluster.url(
        "127.0.0.1",
        &format!("sslmode=verify-full sslrootcert={cert}"),
    );
    assert!(round_trip(&wrong_name).await.is_err());
    // A root that did not sign the server's certificate: refused, with require as with
    // verify-ca (libpq: require with a root certificate verifies the chain).
    for mode in ["require", "verify-ca", "verify-full"] {
        let untrusted = cluster.url(
            "localhost",
            &format!("sslmode={mode} sslrootcert={stranger}"),
        );
        assert!(round_trip(&untrusted).await.is_err(), "{mode}");
    }
    let no_root = round_trip(&cluster.url("localhost", "sslmode=verify-full")).await;
    assert!(
        matches!(no_root, Err(ConnectError::Tls { .. })),
        "{no_root:?}"
    );
}
