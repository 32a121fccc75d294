//! `llmtel`: parses the command line and hands over; everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

/// jemalloc instead of glibc malloc on Linux. glibc keeps memory freed by a thread in that thread's arena: after an
/// overload drained (backend back, queues empty) llmtel's RSS stayed at its peak, about 145 MiB, above the built-in
/// `memory_limiter`'s soft limit, which then refused everything for good. jemalloc returns freed pages within its
/// decay time (10 s): measured, the RSS fell from 151 MiB to 22 MiB within 20 s of the drain (docs/memory.md).
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    llmtel_collector::cli::execute(llmtel_collector::cli::Cli::parse())
}
