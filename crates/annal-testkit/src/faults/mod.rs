//! I/O fault injection and simulated power loss for the disk backends' tests.
//!
//! Both run a real writer process (a backend's probe binary) under an `LD_PRELOAD` shim,
//! `faults/shim.c` in this crate, compiled by [`shim`] with the system C compiler. The shim acts
//! only on files under one path prefix (the store), so the process's other files are untouched:
//!
//! - with a [`FaultPlan`], one chosen call (a write, an fsync, a rename or an open of a store
//!   file) fails with `EIO` or `ENOSPC`, and optionally every later call of its class;
//! - with a journal ([`power`]), every change to the store's files is recorded in order, and
//!   [`power::PowerLoss`] computes what a power loss at the moment the process was killed
//!   leaves on disk: each file as of its last completed fsync plus a random prefix of its
//!   later writes (the last one maybe torn), each directory as of its last fsync plus a random
//!   prefix of its later changes.
//!
//! [`io_faults`] and [`power_loss`] are the drivers a backend's test calls with a [`Target`].
//! [`check`] holds the oracle both tests share: the probe protocol (acknowledgments, errors),
//! and the store check after a reopen (every acknowledged event present, no partial batch, no
//! gap). Randomness comes from [`Random`], seeded by [`seed`], which prints the seed and
//! replays one from `ANNAL_SEED`; [`runs`] lets `ANNAL_FAULT_RUNS` lengthen a hunt.
//!
//! Invariant: a test built on this module decides everything random from the printed seed,
//! except thread scheduling in the child; a failure message names the seed and the run.

pub mod check;
mod journal;
pub mod power;
mod runs;

pub use runs::{Open, Target, Verdict, io_faults, power_loss};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `EIO`, the errno of a failing device.
pub const EIO: i32 = 5;
/// `ENOSPC`, the errno of a full file system.
pub const ENOSPC: i32 = 28;

/// xorshift64: small, fast, and replayable from a printed seed.
#[derive(Debug, Clone)]
pub struct Random(u64);

impl Random {
    /// A generator starting from `seed` (zero is replaced, since xorshift would stay at zero).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "a random number below 0 does not exist");
        self.next_u64() % bound
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// The seed of a randomized test: `ANNAL_SEED` if set, else the clock; printed with `name` so a
/// failing run can be replayed.
pub fn seed(name: &str) -> u64 {
    let seed = std::env::var("ANNAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64 | 1)
        });
    // The seed must reach the test's output even when the test passes.
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{name} seed: ANNAL_SEED={seed}");
    }
    seed
}

/// How many runs a fault or power-loss test makes: `ANNAL_FAULT_RUNS` if set (for a longer
/// hunt, e.g. `ANNAL_FAULT_RUNS=400 cargo test -p annal-ndjson --test it power_loss`), else
/// `default`, which keeps `scripts/test` fast.
pub fn runs(default: u64) -> u64 {
    std::env::var("ANNAL_FAULT_RUNS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Compiles the shim into `out_dir` once per process and returns the library's path. Panics
/// with the compiler's output if `cc` fails (`scripts/test` installs it).
pub fn shim(out_dir: &Path) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build_shim(out_dir)).clone()
}

fn build_shim(out_dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("faults/shim.c");
    std::fs::create_dir_all(out_dir).unwrap();
    let library = out_dir.join("libannal_fault_shim.so");
    // Built under a name of its own and renamed, so test binaries building at once never load
    // a half-written library.
    let partial = out_dir.join(format!("libannal_fault_shim.{}.so", std::process::id()));
    let output = Command::new("cc")
        .args([
            "-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror", "-o",
        ])
        .arg(&partial)
        .arg(&source)
        .args(["-ldl", "-lpthread"])
        .output()
        .unwrap_or_else(|error| panic!("running cc to build {}: {error}", source.display()));
    assert!(
        output.status.success(),
        "cc failed to build {}:\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&partial, &library).unwrap();
    library
}

/// Runs `command` under the shim, acting on paths that start with `prefix` (give the store's
/// directory, without a trailing slash, so its own fsyncs count too).
pub fn preload(command: &mut Command, shim: &Path, prefix: &Path) {
    command
        .env("LD_PRELOAD", shim)
        .env("ANNAL_FAULT_PREFIX", prefix);
}

/// Which store call fails, how, and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPlan {
    /// The number (from 1) of the call among the chosen classes that fails.
    pub at: u64,
    /// The classes counted: `w` writes and truncations, `s` fsyncs, `r` renames and unlinks,
    /// `o` opens, `O` opens for writing.
    pub ops: String,
    /// The errno the failing call returns.
    pub errno: i32,
    /// Whether every later call of those classes fails too.
    pub sticky: bool,
    /// Whether a failing write first writes half of its bytes.
    pub partial: bool,
}

impl FaultPlan {
    /// A random plan whose failing call is among the first `calls_max`.
    pub fn random(random: &mut Random, calls_max: u64) -> Self {
        const CLASSES: [&str; 6] = ["w", "s", "r", "o", "ws", "wsro"];
        Self {
            at: 1 + random.below(calls_max),
            ops: CLASSES[random.below(CLASSES.len() as u64) as usize].to_owned(),
            errno: if random.one_in(2) { EIO } else { ENOSPC },
            sticky: random.one_in(2),
            partial: random.one_in(2),
        }
    }

    /// Sets the shim's environment for this plan on `command`.
    pub fn apply(&self, command: &mut Command) {
        command
            .env("ANNAL_FAULT_AT", self.at.to_string())
            .env("ANNAL_FAULT_OPS", &self.ops)
            .env("ANNAL_FAULT_ERRNO", self.errno.to_string())
            .env("ANNAL_FAULT_STICKY", u8::from(self.sticky).to_string())
            .env("ANNAL_FAULT_PARTIAL", u8::from(self.partial).to_string());
    }
}
