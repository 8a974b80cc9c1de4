//! `dm-supervisor --dir DIR [--yarn-rm URL]`: supervises dm's jobs; state, logs and the socket
//! (`DIR/supervisor.sock`) live in DIR.

use clap::Parser;
use dm_clients::yarn::ResourceManager;
use dm_supervisor::{server, supervisor::Supervisor};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "dm-supervisor",
    version,
    about = "Keeps dm's jobs running, across dmd restarts"
)]
struct Cli {
    /// Folder for state.json, per-attempt logs and supervisor.sock.
    #[arg(long)]
    dir: PathBuf,
    /// The YARN ResourceManager's web address, for jobs on YARN (e.g. http://127.0.0.1:8088).
    #[arg(long)]
    yarn_rm: Option<String>,
}

fn main() -> anyhow::Result<()> {
    // One thread per job: without this, glibc gives threads their own malloc arenas, and memory
    // grows by an arena per busy thread rather than by what the jobs need.
    // SAFETY: called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    let cli = Cli::parse();
    let supervisor = Supervisor::open(&cli.dir, cli.yarn_rm.as_deref().map(ResourceManager::new))?;
    eprintln!(
        "dm-supervisor: serving {}",
        cli.dir.join("supervisor.sock").display()
    );
    server::serve(supervisor, &cli.dir.join("supervisor.sock"))
}
