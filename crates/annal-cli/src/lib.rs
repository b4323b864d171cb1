//! The `annal` command line. [`run`] parses the arguments, opens the store the `--store` flag
//! names, runs one command, and turns the outcome into an exit code: 0 success, 1 failure,
//! 2 usage. A closed standard output (`annal replay | head`) counts as success.

mod args;
mod commands;
mod convert;
mod output;
mod store;

use std::process::ExitCode;

use clap::Parser;

pub use args::{Cli, ImportFormat};
#[doc(hidden)]
pub use commands::fuzzing;

/// Runs the command line with the process's arguments.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // clap prints help and version to stdout with exit 0, usage errors with exit 2.
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("annal: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if output::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("annal: {error:#}");
            ExitCode::FAILURE
        }
    }
}
