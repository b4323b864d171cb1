//! Slow clients are cut off: a client that sends its headers too slowly loses the connection,
//! one that sends its body too slowly gets 408, and neither stores anything or holds the server.

use std::time::{Duration, Instant};

use annal_server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::Server;

async fn connect(server: &Server) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

#[tokio::test]
async fn slow_headers_and_slow_bodies_are_cut_off() {
    let config = ServerConfig {
        header_read_timeout: Duration::from_millis(300),
        body_read_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let server = Server::start_with(config, |_| None).await;

    let started = Instant::now();
    let mut slow_headers = connect(&server).await;
    slow_headers
        .write_all(b"POST /v1/streams/task-1/events HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        Duration::from_secs(5),
        slow_headers.read_to_end(&mut answer),
    )
    .await;
    assert!(
        read.is_ok(),
        "the server must close a connection whose headers stall"
    );
    assert!(started.elapsed() < Duration::from_secs(3));

    let mut slow_body = connect(&server).await;
    slow_body
        .write_all(
            b"POST /v1/streams/task-1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"events\": [",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(5), slow_body.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server must answer a stalled body");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body-timeout"), "{answer}");

    let (_, head) = server.get("/v1/head").await;
    assert_eq!(head["head"], 0);
    server.stop().await;
}
