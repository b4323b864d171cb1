// Goal: keep the house rules that a reviewer would otherwise have to remember. Method: scan every
// Rust file under crates/ and fail with the list of offenders.
// Rules: every source file opens with a `//!` module doc (tests and benches with a `//` comment
// that states their goal), and no file holds `todo!` or `unimplemented!` stubs.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name == "target") {
                continue;
            }
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

fn is_test_or_bench(path: &Path) -> bool {
    path.components()
        .any(|c| matches!(c.as_os_str().to_str(), Some("tests" | "benches")))
}

#[test]
fn every_rust_file_opens_with_a_doc_comment_and_has_no_stubs() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    rust_files(&crates, &mut files);
    assert!(
        files.len() > 10,
        "found only {} files under {}",
        files.len(),
        crates.display()
    );
    let mut offenders = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let first = text
            .lines()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("");
        let wanted = if is_test_or_bench(&file) { "//" } else { "//!" };
        if !first.starts_with(wanted) {
            offenders.push(format!(
                "{}: first line should start with {wanted}",
                file.display()
            ));
        }
        let stub = ["todo", "unimplemented"]
            .iter()
            .any(|m| text.contains(&format!("{m}!(")));
        if stub {
            offenders.push(format!("{}: holds a stub macro", file.display()));
        }
    }
    assert!(
        offenders.is_empty(),
        "house-rule violations:\n{}",
        offenders.join("\n")
    );
}
