//! `annal completions SHELL` and `annal man`: generated from the clap grammar.

use clap::CommandFactory;

use crate::args::{Cli, CompletionsArgs};
use crate::output::Output;

pub(crate) fn completions(args: CompletionsArgs, out: &mut Output) -> anyhow::Result<()> {
    let mut buffer = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "annal", &mut buffer);
    out.text(String::from_utf8_lossy(&buffer).trim_end())
}

pub(crate) fn man(out: &mut Output) -> anyhow::Result<()> {
    let mut buffer = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut buffer)?;
    out.text(String::from_utf8_lossy(&buffer).trim_end())
}
