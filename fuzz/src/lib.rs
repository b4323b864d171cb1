//! What the fuzz targets share: one async runtime per process, a way to lay out several files
//! from one fuzz input, and the checks every store must pass after it accepted bytes.
//!
//! A fuzz input that describes a directory is the first file's bytes, then any number of
//! sections, each introduced by a line `@@ NAME` (after a newline), whose bytes are the file
//! NAME. Only the names a store or ledger directory holds are written; the rest are ignored, so
//! no input writes outside its temporary directory. The seeds in `corpus/` use this form, and
//! `fuzz/dict/sections.dict` tells libFuzzer its markers.

use std::path::Path;
use std::sync::OnceLock;

use annal_core::{Position, RecordedEvent, Store, collect};

/// The marker that starts a section: `\n@@ NAME\n`.
pub const SECTION_MARKER: &[u8] = b"\n@@ ";

/// The runtime every target runs its async calls on: multi-threaded, as the `annal` binary's,
/// with two workers so a target never holds the machine's every core.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => panic!("the fuzz runtime must start: {error}"),
        }
    })
}

/// Splits `data` into the first file's bytes and the named sections after it.
pub fn sections(data: &[u8]) -> (&[u8], Vec<(&str, &[u8])>) {
    let mut cuts = Vec::new();
    let mut from = 0;
    while let Some(at) = find(&data[from..], SECTION_MARKER) {
        cuts.push(from + at);
        from += at + SECTION_MARKER.len();
    }
    let first = &data[..cuts.first().copied().unwrap_or(data.len())];
    let mut named = Vec::new();
    for (n, &cut) in cuts.iter().enumerate() {
        let end = cuts.get(n + 1).copied().unwrap_or(data.len());
        let section = &data[cut + SECTION_MARKER.len()..end];
        let (name, bytes) = match find(section, b"\n") {
            Some(newline) => (&section[..newline], &section[newline + 1..]),
            None => (section, &section[section.len()..]),
        };
        if let Ok(name) = std::str::from_utf8(name) {
            named.push((name, bytes));
        }
    }
    (first, named)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Writes `sections` into `dir`: the top-level names in `files`, and any name under one of
/// `subdirs` (`snapshots/x.json`) whose file name is plain (letters, digits, `%`, `-`, `_`, `.`;
/// not `.` or `..`). Other names are skipped.
pub fn write_sections(dir: &Path, sections: &[(&str, &[u8])], files: &[&str], subdirs: &[&str]) {
    for (name, bytes) in sections {
        let path = match name.split_once('/') {
            None if files.contains(name) => dir.join(name),
            Some((sub, file)) if subdirs.contains(&sub) && plain_file_name(file) => {
                let sub = dir.join(sub);
                if std::fs::create_dir_all(&sub).is_err() {
                    continue;
                }
                sub.join(file)
            }
            _ => continue,
        };
        // A name given twice: the later section wins, as it would on disk.
        let written = std::fs::write(&path, bytes);
        assert!(
            written.is_ok(),
            "writing {} in a temp dir: {written:?}",
            path.display()
        );
    }
}

fn plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'-' | b'_' | b'.'))
}

/// Reads every event of `store` and checks what any store promises of a log: positions strictly
/// increase, each stream's versions strictly increase, and every payload and metadata is an
/// object that parses.
pub async fn read_everything(
    store: &dyn Store,
) -> Result<Vec<RecordedEvent>, annal_core::ReadError> {
    let events = collect(store.read_all(Position::START).await?).await?;
    let mut last_position = Position::START;
    let mut versions = std::collections::HashMap::new();
    for event in &events {
        assert!(
            event.position > last_position,
            "positions must increase: {event:?}"
        );
        last_position = event.position;
        let last = versions.insert(event.aggregate_id.clone(), event.version);
        assert!(
            last.is_none_or(|last| last < event.version),
            "versions must increase within a stream: {event:?}"
        );
        assert!(event.payload.to_value().is_object());
        assert!(event.metadata.to_value().is_object());
    }
    Ok(events)
}
