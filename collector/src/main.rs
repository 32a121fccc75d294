//! `llmtel`: parses the command line and hands over; everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    llmtel_collector::cli::execute(llmtel_collector::cli::Cli::parse())
}
