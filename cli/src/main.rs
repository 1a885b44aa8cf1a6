//! `ravis`: the local host and command-line tools.

use anyhow::Result;
use clap::Parser;

fn main() -> Result<()> {
    ravis_cli::run(ravis_cli::Cli::parse())
}
