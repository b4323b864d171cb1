// Goal: positions stay gap-free and in commit order with several writer processes on one
// database, so a subscriber in yet another process receives every acknowledged event exactly
// once, in strictly increasing position, with no gap. Method: three annal-postgres-probe
// writer processes with 16 concurrent single-event appenders each run for a few seconds while
// a fourth probe process subscribes from the start; every acknowledgment and every delivery is
// a line on a child's stdout, and the two records must match exactly.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use annal_postgres::PostgresStore;

use annal_testkit::pg_cluster::cluster;

const WRITERS: usize = 3;
const TASKS_PER_WRITER: u64 = 16;
const WRITE_MS: u64 = 6_000;

fn probe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_annal-postgres-probe"))
}

/// Sends every stdout line of `child` to `lines`, tagged with `source`, on its own thread.
fn forward(child: &mut Child, source: usize, lines: mpsc::Sender<(usize, String)>) {
    let stdout = child.stdout.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if lines.send((source, line)).is_err() {
                return;
            }
        }
    });
}

/// Parses `<word> <position> <id>`.
fn entry(line: &str) -> (u64, String) {
    let mut parts = line.split(' ').skip(1);
    let position = parts.next().unwrap().parse().unwrap();
    (position, parts.next().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_writer_processes_and_a_subscriber_process_agree() {
    let url = cluster().fresh_database().await;
    // Create the schema before the children race to (they would serialise on the migration
    // lock anyway; this keeps their start-up short).
    drop(PostgresStore::connect(&url).await.unwrap());

    let (lines, received) = mpsc::channel();
    let subscriber_source = WRITERS;
    let mut subscriber = probe()
        .args(["subscribe", &url])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    forward(&mut subscriber, subscriber_source, lines.clone());
    let mut writers: Vec<Child> = (0..WRITERS)
        .map(|writer| {
            let mut child = probe()
                .args(["write", &url, &format!("w{writer}")])
                .arg(TASKS_PER_WRITER.to_string())
                .arg(WRITE_MS.to_string())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            forward(&mut child, writer, lines.clone());
            child
        })
        .collect();
    drop(lines);

    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let mut delivered: Vec<(u64, String)> = Vec::new();
    let mut writers_done = 0;
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let head = acked.keys().next_back().copied();
        if writers_done == WRITERS && delivered.last().map(|(p, _)| *p) == head {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out: {writers_done} writers done, {} acked, {} delivered",
            acked.len(),
            delivered.len()
        );
        let Ok((source, line)) = received.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        if source == subscriber_source {
            delivered.push(entry(&line));
        } else if line == "done" {
            writers_done += 1;
        } else {
            let (position, id) = entry(&line);
            assert!(
                acked.insert(position, id).is_none(),
                "position {position} acknowledged twice"
            );
        }
    }
    for writer in &mut writers {
        assert!(writer.wait().unwrap().success());
    }
    subscriber.kill().unwrap();
    subscriber.wait().unwrap();

    println!(
        "{} acknowledged appends from {WRITERS} processes",
        acked.len()
    );
    assert!(
        acked.len() >= 2_000,
        "too few appends to interleave: {}",
        acked.len()
    );
    for (index, (position, _)) in delivered.iter().enumerate() {
        assert_eq!(
            *position,
            index as u64 + 1,
            "delivery {index} is not the next position"
        );
    }
    let delivered: BTreeMap<u64, String> = delivered.into_iter().collect();
    assert_eq!(
        delivered, acked,
        "the subscriber saw exactly the acknowledged events"
    );
}
