//! The operation script of `annal bench` over workload wl1: the seed baseline's steps, plus the
//! concurrency, batching and durability steps annal adds. Every store is fresh, in the bench's
//! own directory; events are generated on the fly so the bench's memory is the store's.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_core::{
    EventType, ExpectedVersion, Filter, Position, ProjectionGroup, ProjectionRunner,
    ReadStreamOptions, Store, StreamId, Version, collect,
};
use annal_sqlite::{OpenOptions, SqliteStore};
use annal_swarm::projections::{AgentState, MemoryIndex, TaskHistory};
use annal_swarm::workload::{STEP_MS, T0, domain_event, domain_events};
use anyhow::{Context, bail, ensure};
use futures::StreamExt;

use super::measure::Figure;
use super::seed;

/// The step that replays the whole log.
pub(crate) const REPLAY: &str = "full replay (median of 3)";

/// The step that rebuilds the three swarm projections.
pub(crate) const PROJECTIONS: &str = "build 3 projections (median of 3)";

/// Runs of each step that reports a median.
const RUNS: usize = 3;

/// The middle one of `times`.
fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// Where the stores live and how big the run is.
pub(crate) struct Script {
    pub(crate) dir: PathBuf,
    pub(crate) events: u64,
    /// Events appended one at a time (each waits for its own fsync).
    pub(crate) one_at_a_time: u64,
}

/// The figures of the main store's steps, and the file they ran on.
pub(crate) struct MainStore {
    pub(crate) path: PathBuf,
    pub(crate) figures: Vec<Figure>,
}

fn open(path: &Path) -> anyhow::Result<Arc<dyn Store>> {
    let store = SqliteStore::open_with(path, OpenOptions::new())
        .with_context(|| format!("opening {}", path.display()))?;
    Ok(Arc::new(store))
}

fn event_type(name: &str) -> anyhow::Result<EventType> {
    Ok(EventType::new(name)?)
}

impl Script {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn seeded(&self, figure: Figure) -> Figure {
        match seed::figure(&figure.step, self.events) {
            Some(value) => figure.seed(value),
            None => figure,
        }
    }

    fn span_ms(&self) -> i64 {
        STEP_MS * i64::try_from(self.events).unwrap_or(i64::MAX)
    }

    /// Appends the first events of wl1 one at a time, each awaited: one fsync per append.
    pub(crate) async fn one_at_a_time(&self) -> anyhow::Result<Figure> {
        let store = open(&self.path("one-at-a-time.db"))?;
        let count = self.one_at_a_time.clamp(1, self.events.max(1));
        let started = Instant::now();
        for event in domain_events(count) {
            store
                .append(
                    &event.stream(),
                    ExpectedVersion::Any,
                    vec![event.to_new_event()],
                )
                .await?;
        }
        let figure = Figure::rate("append one at a time", count, started.elapsed());
        Ok(self.seeded(figure))
    }

    /// 64 tasks, each appending single events to its own stream, all waiting at once: what group
    /// commit gives concurrent writers.
    pub(crate) async fn concurrent(&self, tasks: u64) -> anyhow::Result<Figure> {
        let store = open(&self.path("concurrent.db"))?;
        let per_task = (self.one_at_a_time / tasks).max(4);
        let started = Instant::now();
        let mut handles = Vec::new();
        for task in 0..tasks {
            let store = Arc::clone(&store);
            handles.push(tokio::spawn(async move {
                let stream = StreamId::new(format!("writer-{task}"))?;
                for n in 0..per_task {
                    let event = domain_event(task * per_task + n).to_new_event();
                    store
                        .append(&stream, ExpectedVersion::Any, vec![event])
                        .await?;
                }
                Ok::<(), anyhow::Error>(())
            }));
        }
        for handle in handles {
            handle.await.context("an appender task stopped")??;
        }
        Ok(Figure::rate(
            format!("append, {tasks} concurrent tasks"),
            tasks * per_task,
            started.elapsed(),
        ))
    }

    /// Batches of 1,000 events into one stream. Only the appends are timed: building each
    /// batch is the caller's work, and the ceiling beside this figure has its rows built before
    /// its clock starts too.
    pub(crate) async fn batches(&self) -> anyhow::Result<Figure> {
        let store = open(&self.path("batches.db"))?;
        let stream = StreamId::new("bench-batches")?;
        let mut elapsed = Duration::ZERO;
        let mut next = 0;
        while next < self.events {
            let end = (next + 1_000).min(self.events);
            let batch = (next..end)
                .map(|i| domain_event(i).to_new_event())
                .collect();
            let started = Instant::now();
            store.append(&stream, ExpectedVersion::Any, batch).await?;
            elapsed += started.elapsed();
            next = end;
        }
        Ok(Figure::rate(
            "append batches of 1,000, one stream",
            self.events,
            elapsed,
        ))
    }

    /// Appends all of wl1, in its interleaved order, through a child `annal append --stdin`
    /// reading a file (`annal append --stdin < wl1.ndjson`). The file is written before the
    /// clock starts, so generating the workload does not compete with the child for the cores.
    pub(crate) fn through_stdin(&self) -> anyhow::Result<(PathBuf, Figure)> {
        let path = self.path("wl1.db");
        let input_path = self.path("wl1.ndjson");
        {
            let file = std::fs::File::create(&input_path)
                .with_context(|| format!("creating {}", input_path.display()))?;
            let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
            for event in domain_events(self.events) {
                writer.write_all(event.ndjson_line().as_bytes())?;
                writer.write_all(b"\n")?;
            }
            writer.flush()?;
        }
        let input = std::fs::File::open(&input_path)
            .with_context(|| format!("opening {}", input_path.display()))?;
        let exe = std::env::current_exe().context("finding the annal executable")?;
        let events = self.events;
        let started = Instant::now();
        let mut child = Command::new(exe)
            .arg("--store")
            .arg(&path)
            .args(["append", "--stdin"])
            .stdin(Stdio::from(input))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting annal append --stdin")?;
        let stdout = child.stdout.take().context("the child's stdout")?;
        let acknowledged = BufReader::new(stdout).lines().count() as u64;
        let status = child.wait()?;
        let elapsed = started.elapsed();
        std::fs::remove_file(&input_path)?;
        if !status.success() || acknowledged != self.events {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                std::io::Read::read_to_string(&mut pipe, &mut stderr)?;
            }
            bail!("annal append --stdin acknowledged {acknowledged} of {events} events: {stderr}");
        }
        let figure = Figure::rate("append wl1 via `annal append --stdin`", events, elapsed);
        Ok((path, figure))
    }

    /// The seed baseline's read steps, on the store `through_stdin` filled.
    pub(crate) async fn reads(&self, path: &Path) -> anyhow::Result<MainStore> {
        let mut figures = Vec::new();
        let started = Instant::now();
        let store = open(path)?;
        figures.push(self.seeded(Figure::millis("reopen", self.events, started.elapsed())));
        figures.extend(self.stream_reads(&store).await?);
        figures.extend(self.queries(&store).await?);
        figures.push(self.replay(&store).await?);
        figures.push(self.stats(&store).await?);
        figures.push(self.projections(&store).await?);
        figures.push(self.append_after_reopen(&store).await?);
        drop(store);
        Ok(MainStore {
            path: path.to_path_buf(),
            figures,
        })
    }

    /// Reads one agent stream, then 20 task streams.
    async fn stream_reads(&self, store: &Arc<dyn Store>) -> anyhow::Result<Vec<Figure>> {
        let agent = StreamId::new("agent-7")?;
        let started = Instant::now();
        let events = collect(
            store
                .read_stream(&agent, ReadStreamOptions::forward())
                .await?,
        )
        .await?;
        let agent_figure = self.seeded(Figure::millis(
            "read one agent stream",
            events.len() as u64,
            started.elapsed(),
        ));

        let started = Instant::now();
        let mut read = 0u64;
        for j in 0..20u64 {
            let task = StreamId::new(format!("task-{}", 400 + 17 * j))?;
            read += collect(
                store
                    .read_stream(&task, ReadStreamOptions::forward())
                    .await?,
            )
            .await?
            .len() as u64;
        }
        let mean = started.elapsed() / 20;
        let task_figure = self.seeded(Figure::millis(
            "read a task stream (mean of 20)",
            read / 20,
            mean,
        ));
        Ok(vec![agent_figure, task_figure])
    }

    /// The seed's three queries: by type, by two types in a time window, and paged.
    async fn queries(&self, store: &Arc<dyn Store>) -> anyhow::Result<Vec<Figure>> {
        let mut figures = Vec::new();
        let completed = event_type("task:completed")?;
        let by_type = Filter {
            event_types: vec![completed.clone()],
            ..Filter::all()
        };
        figures.push(self.seeded(self.query("query by type", store, &by_type).await?));

        let quarter = self.span_ms() / 4;
        let window = Filter {
            event_types: vec![completed.clone(), event_type("agent:task-completed")?],
            // The seed's bounds were both exclusive; `from` is inclusive here, hence + 1.
            timestamp_from: Some(T0 + quarter + 1),
            timestamp_to: Some(T0 + 3 * quarter),
            ..Filter::all()
        };
        figures.push(
            self.seeded(
                self.query("query 2 types + time window", store, &window)
                    .await?,
            ),
        );

        let paged = Filter {
            event_types: vec![completed],
            timestamp_from: Some(T0 + quarter + 1),
            limit: Some(100),
            offset: 10,
            ..Filter::all()
        };
        figures.push(
            self.seeded(
                self.query("query type + time, limit/offset", store, &paged)
                    .await?,
            ),
        );
        Ok(figures)
    }

    /// Replays the whole log, checking that every event came back.
    async fn replay(&self, store: &Arc<dyn Store>) -> anyhow::Result<Figure> {
        // Reads of the whole log are the noisiest steps on shared cores, so this one reports
        // the median of three runs.
        let mut replays = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let started = Instant::now();
            let mut replayed = 0u64;
            let mut all = store.read_all(Position::START).await?;
            while let Some(event) = all.next().await {
                event?;
                replayed += 1;
            }
            ensure!(
                replayed == self.events,
                "replay counted {replayed} of {} events",
                self.events
            );
            replays.push(started.elapsed());
        }
        Ok(self.seeded(Figure::rate(REPLAY, self.events, median(replays))))
    }

    /// The store's statistics, checking the event count.
    async fn stats(&self, store: &Arc<dyn Store>) -> anyhow::Result<Figure> {
        let started = Instant::now();
        let stats = store.stats(10).await?;
        ensure!(
            stats.total_events == self.events,
            "stats counted {}",
            stats.total_events
        );
        Ok(self.seeded(Figure::millis("stats", self.events, started.elapsed())))
    }

    /// Rebuilds the three swarm projections, checking that each rebuild read the whole log.
    async fn projections(&self, store: &Arc<dyn Store>) -> anyhow::Result<Figure> {
        // The three rebuild together, in one read of the log. Each run starts from empty states
        // (a rebuild resets them), so the runners are loaded once.
        let mut agents = ProjectionRunner::<AgentState>::load(Arc::clone(store)).await?;
        let mut tasks = ProjectionRunner::<TaskHistory>::load(Arc::clone(store)).await?;
        let mut memory = ProjectionRunner::<MemoryIndex>::load(Arc::clone(store)).await?;
        let mut builds = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let started = Instant::now();
            let read = ProjectionGroup::new()
                .with(&mut agents)
                .with(&mut tasks)
                .with(&mut memory)
                .rebuild()
                .await?;
            builds.push(started.elapsed());
            ensure!(
                read == self.events,
                "the projections read {read} of {} events",
                self.events
            );
        }
        drop((agents, tasks, memory));
        Ok(self.seeded(Figure::millis(PROJECTIONS, self.events, median(builds))))
    }

    /// Appends one more event with an exact expected version, checking the version it got.
    async fn append_after_reopen(&self, store: &Arc<dyn Store>) -> anyhow::Result<Figure> {
        // One more event on the stream of event N: its version must be N/1000 + 1.
        let next = domain_event(self.events);
        let expected = ExpectedVersion::Exact(Version(self.events / 1_000));
        let started = Instant::now();
        let result = store
            .append(&next.stream(), expected, vec![next.to_new_event()])
            .await?;
        ensure!(
            result.stream_version == Version(self.events / 1_000 + 1),
            "unexpected version"
        );
        Ok(Figure::millis(
            "append one more after reopen",
            1,
            started.elapsed(),
        ))
    }

    async fn query(
        &self,
        step: &str,
        store: &Arc<dyn Store>,
        filter: &Filter,
    ) -> anyhow::Result<Figure> {
        let started = Instant::now();
        let found = collect(store.query(filter).await?).await?;
        Ok(Figure::millis(step, found.len() as u64, started.elapsed()))
    }
}

/// Bytes the store at `path` occupies (database and WAL).
pub(crate) fn store_bytes(path: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", path.display())).ok())
        .map(|meta| meta.len())
        .sum()
}
