//! TLS: with a certificate and key the server speaks HTTPS only, and bad key material is
//! refused at start with the file named.

use std::time::Duration;

use annal_server::{ServerConfig, TlsFiles};
use serde_json::{Value, json};

use crate::harness::Server;

/// A self-signed certificate for `localhost`, written as PEM files into `dir`.
fn self_signed(dir: &std::path::Path) -> (TlsFiles, Vec<u8>) {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = generated.cert.pem();
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&files.cert, &cert).unwrap();
    std::fs::write(&files.key, generated.signing_key.serialize_pem()).unwrap();
    (files, cert.into_bytes())
}

#[tokio::test]
async fn with_a_certificate_the_server_speaks_https_and_refuses_plain_http() {
    let keys = tempfile::tempdir().unwrap();
    let (files, cert) = self_signed(keys.path());
    let config = ServerConfig {
        tls: Some(files),
        ..ServerConfig::default()
    };
    let server = Server::start_with(config, |_| None).await;
    let port = server.base.rsplit(':').next().unwrap();
    let https = format!("https://localhost:{port}");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let appended = client
        .post(format!("{https}/v1/streams/agent-1/events"))
        .json(&json!({"events": [{"type": "agent:spawned", "payload": {"n": 1}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(appended.status(), 200);
    let read: Value = client
        .get(format!("{https}/v1/streams/agent-1/events"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read[0]["payload"]["n"], 1, "{read}");

    let plain = server.client.get(server.url("/healthz")).send().await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
    let untrusting = reqwest::Client::new()
        .get(format!("{https}/healthz"))
        .send()
        .await;
    assert!(untrusting.is_err(), "an unknown certificate was accepted");
}

#[tokio::test]
async fn a_key_that_is_not_pem_is_refused_at_start_naming_the_file() {
    let keys = tempfile::tempdir().unwrap();
    let (mut files, _) = self_signed(keys.path());
    files.key = keys.path().join("not-a-key.pem");
    std::fs::write(&files.key, "hello").unwrap();
    let config = ServerConfig {
        tls: Some(files),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let store = annal::open(
        &dir.path().join("annal.db").to_string_lossy(),
        annal::Access::Write,
    )
    .await
    .unwrap();
    let listener = annal_server::bind(&config).await.unwrap();
    let started = annal_server::serve_until(
        listener,
        store,
        config,
        annal_server::Auth::Open,
        std::future::pending(),
    );
    let error = tokio::time::timeout(Duration::from_secs(10), started)
        .await
        .expect("the server refuses to start")
        .unwrap_err();
    assert!(error.to_string().contains("not-a-key.pem"), "{error}");
}
