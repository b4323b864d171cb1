//! One module per group of commands; [`run`] dispatches.

mod append;
mod append_stdin;
mod backup;
mod bench;
mod demo;
pub mod fuzzing;
mod import;
mod ledger_export;
mod maintain;
mod mcp;
mod meta;
mod project;
mod read;
mod serve;
mod token;
mod trace;
mod transfer;
mod verify;

use crate::args::{Cli, Command, ExportFormat};
use crate::output::Output;
use crate::store::{Access, Location, open};

/// Runs the parsed command line.
pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut out = Output::new(cli.json);
    let location = crate::store::parse(&cli.store)?;
    let lock_timeout = cli.lock_timeout;
    let write = |location: &Location| open(location.clone(), Access::Write, lock_timeout);
    let read = |location: &Location| open(location.clone(), Access::Read, lock_timeout);
    let result = match cli.command {
        Command::Init => {
            write(&location).await?;
            let shown = location.to_string();
            out.value(
                &serde_json::json!({ "store": shown }),
                &format!("store ready at {shown}"),
            )
        }
        Command::Append(args) if args.stdin => {
            append_stdin::run(write(&location).await?, &mut out).await
        }
        Command::Append(args) => append::run(write(&location).await?, args, &mut out).await,
        Command::Read(args) => read::read(read(&location).await?, args, &mut out).await,
        Command::Query(args) => read::query(read(&location).await?, args, &mut out).await,
        Command::Replay(args) => read::replay(read(&location).await?, args, &mut out).await,
        Command::Tail(args) => read::tail(read(&location).await?, args, &mut out).await,
        Command::Stats(args) => read::stats(read(&location).await?, args, &mut out).await,
        Command::Trace(args) => trace::run(read(&location).await?, args, &mut out).await,
        Command::Mcp(args) => {
            let access = if args.allow_writes {
                Access::Write
            } else {
                Access::Read
            };
            mcp::run(open(location.clone(), access, lock_timeout).await?, args).await
        }
        Command::Snapshot(command) => {
            let access = match command {
                crate::args::SnapshotCommand::Save { .. } => Access::Write,
                crate::args::SnapshotCommand::Get { .. } => Access::Read,
            };
            let store = open(location.clone(), access, lock_timeout).await?;
            maintain::snapshot(store, command, &mut out).await
        }
        Command::Project(args) => project::run(write(&location).await?, args, &mut out).await,
        Command::Truncate(args) => {
            maintain::truncate(write(&location).await?, args, &mut out).await
        }
        Command::Delete(args) => maintain::delete(write(&location).await?, args, &mut out).await,
        Command::Retain(args) => maintain::retain(write(&location).await?, args, &mut out).await,
        Command::Verify(args) => {
            // The file's own check first: a damaged file must not be read as if it were whole.
            let deep = if args.deep {
                Some(verify::deep(&location).await?)
            } else {
                None
            };
            let index_problems = verify::index(&location).await?;
            verify::run(read(&location).await?, deep, index_problems, &mut out).await
        }
        Command::Import(args) => {
            // Check the source before opening the store, so a wrong file creates or changes
            // nothing.
            let source = import::prepare(&args)?;
            import::run(write(&location).await?, source, &mut out).await
        }
        Command::Export(args) => match args.format {
            ExportFormat::Ndjson => transfer::export(read(&location).await?, args, &mut out).await,
            ExportFormat::SeedLedger => {
                ledger_export::run(read(&location).await?, args, &mut out).await
            }
        },
        Command::Backup(args) => backup::run(&location, args, &mut out).await,
        Command::Demo(args) => demo::run(write(&location).await?, args, &mut out).await,
        Command::Bench(args) => bench::run(args, &mut out).await,
        Command::Serve(args) => serve::run(&location, args, lock_timeout, &mut out).await,
        Command::Token(command) => token::run(&location, command, &mut out),
        Command::Completions(args) => meta::completions(args, &mut out),
        Command::Man => meta::man(&mut out),
    };
    result?;
    out.flush()
}
