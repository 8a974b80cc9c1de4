//! `dmd`: dm's daemon.

use clap::Parser;
use dm_core::config::Config;
use dm_core::discovery::{self, Surroundings};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "dmd", version, about = "The dm deployment manager daemon")]
struct Cli {
    /// TOML configuration file (optional: embedded defaults otherwise).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on (overrides the file and DMD__SERVER__LISTEN).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Folder for the registry, repository, deployed packages and applications (default:
    /// ~/.local/share/dm, /var/lib/dm for root).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Check the configuration, print the problems, and exit (0 when it is valid).
    #[arg(long)]
    check_config: bool,
}

fn main() -> ExitCode {
    // glibc gives each busy thread its own malloc arena (up to 8 per core); dmd's threads (HTTP
    // workers, the blocking pool, the status observer, operations) each held freed memory in
    // theirs, which doubled its RSS with 10,000 applications (BENCHMARKS.md). Two arenas keep
    // the HTTP workers from queueing on one lock.
    // SAFETY: called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let cli = Cli::parse();
    let mut config = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("dmd: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(listen) = cli.listen {
        config.server.listen = listen;
    }
    if let Some(dir) = cli.data_dir {
        config.storage.data_dir = Some(dir);
    }
    config.discovered = discovery::discover(&mut config, &Surroundings::of_this_process());
    let problems = config.validate();
    if cli.check_config {
        for found in &config.discovered.found {
            println!("found: {} {} ({})", found.what, found.value, found.source);
        }
        for missing in &config.discovered.missing {
            println!("missing: {missing}");
        }
        for deprecated in &config.deprecated {
            println!("deprecated: {deprecated}");
        }
    }
    if cli.check_config && problems.is_empty() {
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("dmd: configuration: {problem}");
        }
        return ExitCode::FAILURE;
    }
    if let Err(e) = dm_core::logging::init(&config.logging) {
        eprintln!("dmd: {e}");
        return ExitCode::FAILURE;
    }
    for deprecated in &config.deprecated {
        log::warn!("configuration: {deprecated}");
    }
    match dm_core::server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e:#}");
            eprintln!("dmd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
