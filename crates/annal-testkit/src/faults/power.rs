//! Simulated power loss: what a store directory holds after the power fails, computed from the
//! state before a run and the shim's journal of the run.
//!
//! The model is the strict reading of POSIX that careful storage code must survive:
//!
//! - a file's bytes are durable as of its last completed fsync (or fdatasync); the writes and
//!   truncations after it survive only as a random prefix, the first one left out maybe torn
//!   (a random prefix of its bytes);
//! - a failed fsync dooms the changes before it: as on Linux, whose writeback marks the pages
//!   clean after an error, the process goes on reading them but no later fsync makes them
//!   durable;
//! - a directory's entries (creations, renames, removals) are durable as of its last completed
//!   fsync; the later changes survive only as a random prefix, in order. An fsync of a file
//!   does not make its name durable.
//!
//! Everything in the directory before the run counts as durable. Directories themselves are
//! taken as durable once created, and files written through `mmap` are not seen (the caller
//! names them, and they are left out of the image: SQLite rebuilds its `-shm` from the WAL).
//!
//! Invariant: the image never holds a byte that the process did not write, and holds every
//! byte that an fsync it saw complete covered, under a name whose directory fsync it saw
//! complete. The image's files are new files, but none takes the inode number another file had
//! in the run: a file's content may name a file by inode (NDJSON's `head.json` names its log),
//! and on a disk a file keeps its number through a power loss, so a recycled number would make a
//! stale reference look current.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::Random;
use super::journal::{FileKey, Record, parse};

/// A change to a file's bytes that is not yet durable.
#[derive(Debug, Clone)]
enum DataChange {
    Write { offset: u64, bytes: Vec<u8> },
    Truncate(u64),
}

/// A change to a directory's entries that is not yet durable.
#[derive(Debug, Clone)]
enum EntryChange {
    Link {
        path: PathBuf,
        node: usize,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
        node: usize,
    },
    Unlink {
        path: PathBuf,
    },
}

impl EntryChange {
    /// The directory whose fsync makes this change durable.
    fn dir(&self) -> &Path {
        let path = match self {
            EntryChange::Link { path, .. } | EntryChange::Unlink { path } => path,
            EntryChange::Rename { to, .. } => to,
        };
        path.parent().unwrap_or(Path::new("/"))
    }

    fn apply(&self, entries: &mut BTreeMap<PathBuf, usize>) {
        match self {
            EntryChange::Link { path, node } => {
                entries.insert(path.clone(), *node);
            }
            EntryChange::Rename { from, to, node } => {
                entries.remove(from);
                entries.insert(to.clone(), *node);
            }
            EntryChange::Unlink { path } => {
                entries.remove(path);
            }
        }
    }
}

/// One file's content: durable bytes, the changes after its last fsync, and the changes a
/// failed fsync doomed (the process reads them; the disk never gets them).
#[derive(Debug, Default)]
struct Node {
    durable: Vec<u8>,
    pending: Vec<DataChange>,
    /// How many of the first `pending` changes a failed fsync doomed.
    doomed: usize,
}

fn apply_data(bytes: &mut Vec<u8>, change: &DataChange) {
    match change {
        DataChange::Write { offset, bytes: new } => {
            let start = *offset as usize;
            if bytes.len() < start + new.len() {
                bytes.resize(start + new.len(), 0);
            }
            bytes[start..start + new.len()].copy_from_slice(new);
        }
        DataChange::Truncate(len) => bytes.resize(*len as usize, 0),
    }
}

/// What one simulated power loss did, for the test's log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Loss {
    /// Journal records replayed.
    pub records: usize,
    /// Writes and truncations dropped because no fsync covered them.
    pub dropped_changes: usize,
    /// Writes kept only in part.
    pub torn_writes: usize,
    /// Directory changes dropped because no directory fsync covered them.
    pub dropped_entries: usize,
}

/// A store directory's durable state, followed through one run's journal.
#[derive(Debug)]
pub struct PowerLoss {
    root: PathBuf,
    dirs: BTreeSet<PathBuf>,
    nodes: Vec<Node>,
    by_key: HashMap<FileKey, usize>,
    /// Every identity a node had since the start, recycled inode numbers included.
    keys: Vec<(FileKey, usize)>,
    live: BTreeMap<PathBuf, usize>,
    durable: BTreeMap<PathBuf, usize>,
    pending: Vec<EntryChange>,
}

impl PowerLoss {
    /// Takes everything under `root` (an existing directory) as durable.
    pub fn start(root: &Path) -> std::io::Result<Self> {
        let mut state = Self {
            root: root.to_path_buf(),
            dirs: BTreeSet::from([root.to_path_buf()]),
            nodes: Vec::new(),
            by_key: HashMap::new(),
            keys: Vec::new(),
            live: BTreeMap::new(),
            durable: BTreeMap::new(),
            pending: Vec::new(),
        };
        state.scan(root)?;
        Ok(state)
    }

    fn scan(&mut self, dir: &Path) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let metadata = std::fs::symlink_metadata(&path)?;
            if metadata.is_dir() {
                self.dirs.insert(path.clone());
                self.scan(&path)?;
            } else if metadata.is_file() {
                let node = self.nodes.len();
                self.nodes.push(Node {
                    durable: std::fs::read(&path)?,
                    ..Node::default()
                });
                self.by_key.insert((metadata.dev(), metadata.ino()), node);
                self.keys.push(((metadata.dev(), metadata.ino()), node));
                self.live.insert(path.clone(), node);
                self.durable.insert(path, node);
            }
        }
        Ok(())
    }

    /// Replays the journal at `journal`, then replaces `root`'s content with what a power loss
    /// at its end leaves, choosing the surviving prefixes with `random`. Files for which `skip`
    /// is true (written through `mmap`, so not in the journal) are left out.
    pub fn crash(
        mut self,
        journal: &Path,
        random: &mut Random,
        skip: &dyn Fn(&Path) -> bool,
    ) -> Result<Loss, String> {
        let bytes = match std::fs::read(journal) {
            Ok(bytes) => bytes,
            // Killed before the shim started: the process changed nothing.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(format!("{}: {error}", journal.display())),
        };
        let records = parse(&bytes)?;
        let mut loss = Loss {
            records: records.len(),
            ..Loss::default()
        };
        for record in records {
            self.replay(record)?;
        }
        self.note_live_dirs(&self.root.clone())
            .map_err(|e| format!("listing {}: {e}", self.root.display()))?;
        let entries = self.surviving_entries(random, &mut loss);
        let mut contents: HashMap<usize, Vec<u8>> = HashMap::new();
        for node in entries.values() {
            if !contents.contains_key(node) {
                let bytes = self.surviving_bytes(*node, random, &mut loss);
                contents.insert(*node, bytes);
            }
        }
        self.write_image(&entries, &contents, skip)
            .map_err(|e| format!("writing the image into {}: {e}", self.root.display()))?;
        Ok(loss)
    }

    fn node_of(&self, file: FileKey) -> Result<usize, String> {
        self.by_key
            .get(&file)
            .copied()
            .ok_or_else(|| format!("the journal names a file {file:?} it never created"))
    }

    fn replay(&mut self, record: Record) -> Result<(), String> {
        match record {
            Record::Create { path, file } => {
                self.unlink_unrecorded(file);
                // A new node even if the inode number was used before: a recycled inode is a
                // new file, and the old name may still point at the old one on disk.
                let node = self.nodes.len();
                self.nodes.push(Node::default());
                self.by_key.insert(file, node);
                self.keys.push((file, node));
                self.live.insert(path.clone(), node);
                self.pending.push(EntryChange::Link { path, node });
            }
            Record::Open { path, file } => {
                if self
                    .by_key
                    .get(&file)
                    .is_none_or(|node| self.live.get(&path) != Some(node))
                {
                    // Created by a process killed before the shim recorded it (the next
                    // process found it): as on the disk, a new empty file whose name is not
                    // yet durable.
                    self.replay(Record::Create { path, file })?;
                }
            }
            Record::Write {
                file,
                offset,
                bytes,
            } => {
                let node = self.node_of(file)?;
                self.nodes[node]
                    .pending
                    .push(DataChange::Write { offset, bytes });
            }
            Record::Truncate { file, len } => {
                let node = self.node_of(file)?;
                self.nodes[node].pending.push(DataChange::Truncate(len));
            }
            Record::SyncFile { file } => {
                let node = self.node_of(file)?;
                let node = &mut self.nodes[node];
                for change in std::mem::take(&mut node.pending).split_off(node.doomed) {
                    apply_data(&mut node.durable, &change);
                }
                node.doomed = 0;
            }
            Record::FailedSync { file } => {
                let node = self.node_of(file)?;
                let node = &mut self.nodes[node];
                node.doomed = node.pending.len();
            }
            Record::SyncDir { path } => {
                let (synced, kept) = std::mem::take(&mut self.pending)
                    .into_iter()
                    .partition::<Vec<_>, _>(|change| change.dir() == path);
                synced
                    .iter()
                    .for_each(|change| change.apply(&mut self.durable));
                self.pending = kept;
            }
            Record::Rename { from, to } => {
                let node = self
                    .live
                    .remove(&from)
                    .ok_or_else(|| format!("the journal renames {} unseen", from.display()))?;
                self.live.insert(to.clone(), node);
                self.pending.push(EntryChange::Rename { from, to, node });
            }
            Record::Unlink { path } => {
                self.live.remove(&path);
                self.pending.push(EntryChange::Unlink { path });
            }
        }
        Ok(())
    }

    /// A file created with the inode number `file` shows that the file which had it lost its
    /// last name before: a name the journal still gives that file had its unlink (or rename)
    /// unrecorded, which happens when a process is killed between the call and its record. The
    /// removal is replayed here, as pending as any other, so a later directory fsync makes it
    /// durable as it did on the disk.
    fn unlink_unrecorded(&mut self, file: FileKey) {
        let Some(&old) = self.by_key.get(&file) else {
            return;
        };
        let stale: Vec<PathBuf> = self
            .live
            .iter()
            .filter(|(_, node)| **node == old)
            .map(|(path, _)| path.clone())
            .collect();
        for path in stale {
            self.live.remove(&path);
            self.pending.push(EntryChange::Unlink { path });
        }
    }

    /// Directories created during the run count as durable (see the module doc).
    fn note_live_dirs(&mut self, dir: &Path) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if std::fs::symlink_metadata(&path)?.is_dir() {
                self.dirs.insert(path.clone());
                self.note_live_dirs(&path)?;
            }
        }
        Ok(())
    }

    fn surviving_entries(&self, random: &mut Random, loss: &mut Loss) -> BTreeMap<PathBuf, usize> {
        let mut entries = self.durable.clone();
        let kept = random.below(self.pending.len() as u64 + 1) as usize;
        self.pending[..kept]
            .iter()
            .for_each(|change| change.apply(&mut entries));
        loss.dropped_entries += self.pending.len() - kept;
        entries
    }

    fn surviving_bytes(&self, node: usize, random: &mut Random, loss: &mut Loss) -> Vec<u8> {
        let node = &self.nodes[node];
        let mut bytes = node.durable.clone();
        let pending = &node.pending[node.doomed..];
        let kept = random.below(pending.len() as u64 + 1) as usize;
        for change in &pending[..kept] {
            apply_data(&mut bytes, change);
        }
        loss.dropped_changes += node.pending.len() - kept;
        if let Some(DataChange::Write { offset, bytes: new }) = pending.get(kept)
            && !new.is_empty()
            && random.one_in(2)
        {
            let torn = random.below(new.len() as u64) as usize;
            apply_data(
                &mut bytes,
                &DataChange::Write {
                    offset: *offset,
                    bytes: new[..torn].to_vec(),
                },
            );
            loss.torn_writes += 1;
        }
        bytes
    }

    /// Whether a file of `node` with identity `key` would pass for another file: the key was
    /// another node's in the run, never this node's (a disk keeps a file's number, so a file
    /// shows a recycled number only if it got that number itself).
    fn passes_for_another(&self, key: FileKey, node: usize) -> bool {
        let mut owners = self.keys.iter().filter(|(k, _)| *k == key);
        !owners.clone().any(|&(_, n)| n == node) && owners.any(|&(_, n)| n != node)
    }

    fn write_image(
        &self,
        entries: &BTreeMap<PathBuf, usize>,
        contents: &HashMap<usize, Vec<u8>>,
        skip: &dyn Fn(&Path) -> bool,
    ) -> std::io::Result<()> {
        std::fs::remove_dir_all(&self.root)?;
        for dir in &self.dirs {
            std::fs::create_dir_all(dir)?;
        }
        // Files whose inode number would pass for another file's, kept linked (so the number
        // stays taken) beside the root until every file of the image is written.
        let mut held = Vec::new();
        let result = self.write_files(entries, contents, skip, &mut held);
        for path in held {
            std::fs::remove_file(path)?;
        }
        result
    }

    fn write_files(
        &self,
        entries: &BTreeMap<PathBuf, usize>,
        contents: &HashMap<usize, Vec<u8>>,
        skip: &dyn Fn(&Path) -> bool,
        held: &mut Vec<PathBuf>,
    ) -> std::io::Result<()> {
        let root_name = self.root.file_name().unwrap_or_default().to_string_lossy();
        for (path, node) in entries {
            if skip(path) {
                continue;
            }
            assert!(
                path.starts_with(&self.root),
                "the shim journals only files under the store's directory"
            );
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            loop {
                std::fs::write(path, &contents[node])?;
                let metadata = std::fs::metadata(path)?;
                if !self.passes_for_another((metadata.dev(), metadata.ino()), *node) {
                    break;
                }
                let aside = self
                    .root
                    .with_file_name(format!(".{root_name}.held-{}", held.len()));
                std::fs::rename(path, &aside)?;
                held.push(aside);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::journal::encode;

    /// Resets `root` to `a` = "old" and `c` = "one" (new files: the image replaced them).
    fn reset(root: &Path) {
        let _ = std::fs::remove_dir_all(root);
        std::fs::create_dir_all(root).unwrap();
        std::fs::write(root.join("a"), "old").unwrap();
        std::fs::write(root.join("c"), "one").unwrap();
    }

    fn key(path: &Path) -> FileKey {
        let metadata = std::fs::metadata(path).unwrap();
        (metadata.dev(), metadata.ino())
    }

    fn text(path: &Path) -> String {
        path.to_string_lossy().into_owned()
    }

    /// Resets `root`, crashes it with the journal `journal(root)` under `seed`, and returns
    /// the content of `a`, `b` and `c`.
    fn crash(root: &Path, journal: &dyn Fn(&Path) -> Vec<u8>, seed: u64) -> [Option<String>; 3] {
        reset(root);
        let journal_path = root.with_extension("journal");
        std::fs::write(&journal_path, journal(root)).unwrap();
        let state = PowerLoss::start(root).unwrap();
        state
            .crash(&journal_path, &mut Random::new(seed), &|_| false)
            .unwrap();
        std::fs::remove_file(&journal_path).unwrap();
        ["a", "b", "c"].map(|name| std::fs::read_to_string(root.join(name)).ok())
    }

    fn root(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("annal-power-{name}-{}", std::process::id()))
    }

    /// `a` gets "111" then an fsync then "222"; a new file `b` gets "bbb" and an fsync, and
    /// with `dir_sync` its directory is fsynced too.
    fn writes(root: &Path, dir_sync: bool) -> Vec<u8> {
        let (a, b) = (key(&root.join("a")), (u64::MAX, 1));
        let mut journal = encode(b'W', a, 3, "", "", b"111");
        journal.extend(encode(b'S', a, 0, "", "", b""));
        journal.extend(encode(b'W', a, 6, "", "", b"222"));
        journal.extend(encode(b'C', b, 0, &text(&root.join("b")), "", b""));
        journal.extend(encode(b'W', b, 0, "", "", b"bbb"));
        journal.extend(encode(b'S', b, 0, "", "", b""));
        if dir_sync {
            journal.extend(encode(b'D', (0, 0), 0, &text(root), "", b""));
        }
        journal
    }

    #[test]
    fn unsynced_writes_and_entries_survive_only_as_prefixes() {
        let root = root("writes");
        let (mut a_variants, mut b_variants) = (BTreeSet::new(), BTreeSet::new());
        for seed in 1..64 {
            let [a_text, b_text, _] = crash(&root, &|root| writes(root, false), seed);
            let a_text = a_text.unwrap();
            assert!(
                "old111222".starts_with(&a_text) && a_text.starts_with("old111"),
                "{a_text}"
            );
            assert!(
                matches!(b_text.as_deref(), None | Some("bbb")),
                "{b_text:?}"
            );
            a_variants.insert(a_text);
            b_variants.insert(b_text);
        }
        assert!(a_variants.len() >= 3, "{a_variants:?}");
        assert_eq!(b_variants.len(), 2, "an unsynced name may go or stay");
        for seed in 1..16 {
            let [_, b_text, _] = crash(&root, &|root| writes(root, true), seed);
            assert_eq!(b_text.as_deref(), Some("bbb"), "a synced name stays");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A new `c.tmp` = "two", fsynced and renamed over `c`, then maybe a directory fsync.
    fn rename(root: &Path, dir_sync: bool) -> Vec<u8> {
        let temp = (u64::MAX, 2);
        let temp_path = text(&root.join("c.tmp"));
        let mut journal = encode(b'C', temp, 0, &temp_path, "", b"");
        journal.extend(encode(b'W', temp, 0, "", "", b"two"));
        journal.extend(encode(b'S', temp, 0, "", "", b""));
        journal.extend(encode(
            b'R',
            (0, 0),
            0,
            &temp_path,
            &text(&root.join("c")),
            b"",
        ));
        if dir_sync {
            journal.extend(encode(b'D', (0, 0), 0, &text(root), "", b""));
        }
        journal
    }

    #[test]
    fn a_rename_shows_the_old_or_the_new_file_never_a_mix() {
        let root = root("rename");
        let mut seen = BTreeSet::new();
        for seed in 1..64 {
            let c_text = crash(&root, &|root| rename(root, false), seed)[2].clone();
            let c_text = c_text.unwrap();
            assert!(c_text == "one" || c_text == "two", "{c_text}");
            seen.insert(c_text);
        }
        assert_eq!(seen.len(), 2, "{seen:?}");
        let c_text = crash(&root, &|root| rename(root, true), 7)[2].clone();
        assert_eq!(c_text.as_deref(), Some("two"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_new_file_on_a_recycled_inode_number_shows_the_old_file_s_name_went() {
        // `c` was unlinked by a process killed before the shim recorded it; a new `d` then took
        // `c`'s inode number and the directory was synced: `c` is gone on the disk.
        let root = root("recycled");
        for seed in 1..16 {
            reset(&root);
            let c = key(&root.join("c"));
            let mut journal = encode(b'C', c, 0, &text(&root.join("d")), "", b"");
            journal.extend(encode(b'W', c, 0, "", "", b"new"));
            journal.extend(encode(b'S', c, 0, "", "", b""));
            journal.extend(encode(b'D', (0, 0), 0, &text(&root), "", b""));
            let journal_path = root.with_extension("journal");
            std::fs::write(&journal_path, journal).unwrap();
            let state = PowerLoss::start(&root).unwrap();
            state
                .crash(&journal_path, &mut Random::new(seed), &|_| false)
                .unwrap();
            std::fs::remove_file(&journal_path).unwrap();
            assert!(!root.join("c").exists(), "seed {seed}");
            assert_eq!(std::fs::read_to_string(root.join("d")).unwrap(), "new");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_replaced_file_in_the_image_never_takes_the_old_file_s_inode_number() {
        // `c` is replaced by a new file (synced, renamed, directory synced): the image's `c` is
        // the new file, so it must not show the inode number the old `c` had, which a stale
        // reference (NDJSON's head.json naming the log it replaced) would then match.
        let root = root("identity");
        for seed in 1..16 {
            reset(&root);
            let old_c = key(&root.join("c"));
            let journal_path = root.with_extension("journal");
            std::fs::write(&journal_path, rename(&root, true)).unwrap();
            let state = PowerLoss::start(&root).unwrap();
            state
                .crash(&journal_path, &mut Random::new(seed), &|_| false)
                .unwrap();
            std::fs::remove_file(&journal_path).unwrap();
            assert_eq!(std::fs::read_to_string(root.join("c")).unwrap(), "two");
            assert_ne!(key(&root.join("c")), old_c, "seed {seed}");
            let parent = root.parent().unwrap();
            let held = std::fs::read_dir(parent)
                .unwrap()
                .filter(|e| {
                    let name = e.as_ref().unwrap().file_name();
                    let name = name.to_string_lossy();
                    name.contains("annal-power-identity") && name.contains(".held-")
                })
                .count();
            assert_eq!(held, 0, "files held aside are removed");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_file_whose_creation_went_unrecorded_is_new_at_its_first_open() {
        // A process killed between creating `b` and recording it; the next process opens `b`,
        // writes and syncs it (and with `dir_sync`, its directory).
        let root = root("unrecorded");
        let journal = |root: &Path, dir_sync: bool| {
            let b = (u64::MAX, 3);
            let mut journal = encode(b'O', b, 0, &text(&root.join("b")), "", b"");
            journal.extend(encode(b'W', b, 0, "", "", b"bbb"));
            journal.extend(encode(b'S', b, 0, "", "", b""));
            if dir_sync {
                journal.extend(encode(b'D', (0, 0), 0, &text(root), "", b""));
            }
            journal
        };
        let mut seen = BTreeSet::new();
        for seed in 1..32 {
            let b_text = crash(&root, &|root| journal(root, false), seed)[1].clone();
            assert!(
                matches!(b_text.as_deref(), None | Some("bbb")),
                "{b_text:?}"
            );
            seen.insert(b_text);
        }
        assert_eq!(seen.len(), 2, "an unsynced name may go or stay: {seen:?}");
        let b_text = crash(&root, &|root| journal(root, true), 5)[1].clone();
        assert_eq!(b_text.as_deref(), Some("bbb"));
        // Opening a file the journal knows changes nothing.
        let a_text = crash(
            &root,
            &|root| {
                encode(
                    b'O',
                    key(&root.join("a")),
                    0,
                    &text(&root.join("a")),
                    "",
                    b"",
                )
            },
            5,
        )[0]
        .clone();
        assert_eq!(a_text.as_deref(), Some("old"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// `a` gets "111", whose fsync fails, then "222" and a completed fsync.
    fn failed_sync(root: &Path) -> Vec<u8> {
        let a = key(&root.join("a"));
        let mut journal = encode(b'W', a, 3, "", "", b"111");
        journal.extend(encode(b'F', a, 0, "", "", b""));
        journal.extend(encode(b'W', a, 6, "", "", b"222"));
        journal.extend(encode(b'S', a, 0, "", "", b""));
        journal
    }

    #[test]
    fn a_failed_fsync_leaves_a_hole_that_later_fsyncs_do_not_fill() {
        let root = root("failed");
        for seed in 1..8 {
            let a_text = crash(&root, &failed_sync, seed)[0].clone();
            assert_eq!(a_text.as_deref(), Some("old\x00\x00\x00222"));
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}
