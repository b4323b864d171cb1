//! Projection build time over workload wl1 at N = 100,000 on MemoryStore.
//!
//! Loads the events once, outside the measurement, then times a rebuild from zero of each
//! projection, of all three one after another (`all_three`, three reads of the log) and of all
//! three in one read through a `ProjectionGroup` (`all_three_together`; target: under 0.15 s).
//! Each rebuild includes the final checkpoint save, as a real catch-up does.
//! `all_three_fold_only` times the folds alone over events already in memory, to separate them
//! from the store's read path.

use std::sync::Arc;
use std::time::Duration;

use annal_core::{
    MemoryStore, Position, Projection, ProjectionGroup, ProjectionRunner, Store, collect,
};
use annal_swarm::projections::{AgentState, MemoryIndex, TaskHistory};
use annal_swarm::workload::append_domain_events;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;

const N: u64 = 100_000;

fn runtime() -> Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => panic!("a current-thread runtime starts: {error}"),
    }
}

async fn rebuild<P: Projection>(store: &Arc<dyn Store>) -> u64 {
    let mut runner = match ProjectionRunner::<P>::load(Arc::clone(store)).await {
        Ok(runner) => runner,
        Err(error) => panic!("projection {} loads: {error}", P::NAME),
    };
    match runner.rebuild().await {
        Ok(applied) => applied,
        Err(error) => panic!("projection {} rebuilds: {error}", P::NAME),
    }
}

async fn rebuild_together(store: &Arc<dyn Store>) -> u64 {
    let loaded = async {
        Ok::<_, annal_core::ProjectionError>((
            ProjectionRunner::<AgentState>::load(Arc::clone(store)).await?,
            ProjectionRunner::<TaskHistory>::load(Arc::clone(store)).await?,
            ProjectionRunner::<MemoryIndex>::load(Arc::clone(store)).await?,
        ))
    };
    let (mut agents, mut tasks, mut memories) = match loaded.await {
        Ok(runners) => runners,
        Err(error) => panic!("projections load: {error}"),
    };
    let rebuilt = ProjectionGroup::new()
        .with(&mut agents)
        .with(&mut tasks)
        .with(&mut memories)
        .rebuild()
        .await;
    match rebuilt {
        Ok(read) => read,
        Err(error) => panic!("projections rebuild together: {error}"),
    }
}

fn projections(c: &mut Criterion) {
    let rt = runtime();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    if let Err(error) = rt.block_on(append_domain_events(&*store, N)) {
        panic!("wl1 loads: {error}");
    }
    let mut group = c.benchmark_group("wl1_100k_memory");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(N));
    group.bench_function("agent_state", |b| {
        b.iter(|| rt.block_on(rebuild::<AgentState>(&store)))
    });
    group.bench_function("task_history", |b| {
        b.iter(|| rt.block_on(rebuild::<TaskHistory>(&store)))
    });
    group.bench_function("memory_index", |b| {
        b.iter(|| rt.block_on(rebuild::<MemoryIndex>(&store)))
    });
    group.bench_function("all_three", |b| {
        b.iter(|| {
            rt.block_on(async {
                rebuild::<AgentState>(&store).await
                    + rebuild::<TaskHistory>(&store).await
                    + rebuild::<MemoryIndex>(&store).await
            })
        })
    });
    group.bench_function("all_three_together", |b| {
        b.iter(|| rt.block_on(rebuild_together(&store)))
    });
    // The fold alone, over events already in memory: what the projections cost without the
    // store's read path.
    let events = match rt.block_on(async { collect(store.read_all(Position::START).await?).await })
    {
        Ok(events) => events,
        Err(error) => panic!("wl1 reads back: {error}"),
    };
    group.bench_function("all_three_fold_only", |b| {
        b.iter(|| {
            let (mut agents, mut tasks, mut memories) = (
                AgentState::default(),
                TaskHistory::default(),
                MemoryIndex::default(),
            );
            for event in &events {
                agents.apply(event);
                tasks.apply(event);
                memories.apply(event);
            }
            (agents.len(), tasks.len(), memories.all().len())
        })
    });
    group.finish();
}

criterion_group!(benches, projections);
criterion_main!(benches);
