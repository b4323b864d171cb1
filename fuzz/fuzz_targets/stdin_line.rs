//! Fuzz target: the `append --stdin` line parser, and the append of what it accepts.
//!
//! The bytes are standard input: the command reads it as UTF-8 lines and skips blank ones. Each
//! line that parses is appended, as the command would, to an in-memory store; a refusal is an
//! error, never a panic, and the store then holds exactly the positions it acknowledged.

#![no_main]

use std::sync::Arc;

use annal_core::{MemoryStore, Store};
use annal_fuzz::{read_everything, runtime};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    runtime().block_on(async {
        // Positions, not calls: a line repeating an earlier one's id and content is a retry,
        // answered with the original positions and storing nothing new.
        let mut acknowledged = std::collections::BTreeSet::new();
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let Ok(parsed) = annal_cli::fuzzing::parse_stdin_line(line) else {
                continue;
            };
            if let Ok(result) = store
                .append(&parsed.stream, parsed.expected, vec![parsed.event])
                .await
            {
                acknowledged.extend(result.first_position.0..=result.last_position.0);
            }
        }
        let events = read_everything(&*store).await.unwrap();
        let stored: std::collections::BTreeSet<u64> =
            events.iter().map(|event| event.position.0).collect();
        assert_eq!(stored, acknowledged);
    });
});
