//! File names of snapshot and projection files, built from stream and projection names.
//!
//! Invariants: two different names never get file names that differ only in letter case (so
//! they cannot collide on a case-insensitive file system), and a name's file name depends only
//! on the name, never on the Rust release or the platform (it is persisted). A file whose name
//! does not have this shape was not written by annal and is never read, changed or removed.
//!
//! Format version 2 keeps lowercase ASCII letters, digits, `-` and `_`, and writes every other
//! byte (capitals included) as `%xx` in lowercase hex: `task-1` is `task-1.json`, `Task` is
//! `%54ask.json`. A name whose escaped form is over [`FILE_STEM_BYTES_MAX`] bytes becomes `~`
//! and the 128-bit FNV-1a hash of the name in lowercase hex. Format version 1 kept capitals,
//! escaped in uppercase hex and hashed long names with `DefaultHasher`; a writer open renames
//! such files (see `migrate`).

use std::path::Path;

use crate::layout::TEMP_SUFFIX;

/// Longest file name (before `.json`) built from a name; longer ones are hashed instead, as
/// common file systems cap names at 255 bytes and escaping can triple a 256-byte name.
const FILE_STEM_BYTES_MAX: usize = 180;

/// The extension of every snapshot and projection file.
const EXTENSION: &str = ".json";

/// The file name of `name`'s snapshot or projection file (see the module documentation).
pub(crate) fn file_name(name: &str) -> String {
    let mut stem = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-' || byte == b'_' {
            stem.push(char::from(byte));
        } else {
            stem.push_str(&format!("%{byte:02x}"));
        }
    }
    if stem.len() > FILE_STEM_BYTES_MAX {
        stem = format!("~{:032x}", fnv1a_128(name.as_bytes()));
    }
    stem.push_str(EXTENSION);
    stem
}

/// The file name format version 1 gave `name`, if it can be computed (a hashed one cannot: its
/// hash was not stable).
pub(crate) fn legacy_file_name(name: &str) -> Option<String> {
    let mut stem = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            stem.push(char::from(byte));
        } else {
            stem.push_str(&format!("%{byte:02X}"));
        }
    }
    (stem.len() <= FILE_STEM_BYTES_MAX).then(|| stem + EXTENSION)
}

/// Whether `name` has the shape of a snapshot or projection file annal writes (either format).
pub(crate) fn is_sidecar_file(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(EXTENSION) else {
        return false;
    };
    if let Some(hash) = stem.strip_prefix('~') {
        return !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_hexdigit());
    }
    let bytes = stem.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'%' => {
                let escape = bytes.get(at + 1..at + 3);
                if !escape.is_some_and(|pair| pair.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
                at += 3;
            }
            byte if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' => at += 1,
            _ => return false,
        }
    }
    !bytes.is_empty()
}

/// Whether `name` is the temp file of an interrupted atomic write of a sidecar file.
pub(crate) fn is_sidecar_temp(name: &str) -> bool {
    name.strip_suffix(TEMP_SUFFIX).is_some_and(is_sidecar_file)
}

/// The names of the annal files in `dir` (none if it does not exist), sorted.
pub(crate) fn sidecar_files(dir: &Path) -> std::io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if is_sidecar_file(&name) && entry.file_type()?.is_file() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// FNV-1a with 128-bit state: a fixed, documented function, so persisted names stay stable.
/// It is not collision-resistant; the file's content names its owner and is checked on every
/// load and before every overwrite.
fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET_BASIS: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    bytes.iter().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u128::from(*byte)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(name: &str, expected: &str) {
        let built = file_name(name);
        assert_eq!(built, expected);
        assert!(is_sidecar_file(&built), "{built}");
        assert!(is_sidecar_temp(&format!("{built}.tmp")));
    }

    #[test]
    fn names_become_safe_file_names() {
        check("task-1", "task-1.json");
        check("a/b", "a%2fb.json");
        check("..", "%2e%2e.json");
        check("é", "%c3%a9.json");
        check("Task", "%54ask.json");
        // Pinned: a persisted name must not change between releases.
        check(&"x".repeat(256), "~ae190b8d4950600365fdbd78cea9718d.json");
        assert_ne!(file_name(&"x".repeat(256)), file_name(&"y".repeat(256)));
    }

    #[test]
    fn names_that_differ_in_case_get_names_that_differ_ignoring_case() {
        for (a, b) in [("Task", "task"), ("aB", "Ab"), ("%41", "A")] {
            assert_ne!(
                file_name(a).to_lowercase(),
                file_name(b).to_lowercase(),
                "{a} / {b}"
            );
        }
    }

    #[test]
    fn only_annal_shaped_names_are_sidecar_files() {
        for name in [
            "README.txt",
            "notes.json.bak",
            ".json",
            "a b.json",
            "%zz.json",
            "~.json",
        ] {
            assert!(!is_sidecar_file(name), "{name}");
        }
        assert!(!is_sidecar_temp("scratch.tmp"));
        assert!(is_sidecar_file("Task-1.json"), "a format version 1 name");
        assert_eq!(legacy_file_name("a/B").as_deref(), Some("a%2FB.json"));
        assert_eq!(legacy_file_name(&"x".repeat(256)), None);
    }
}
