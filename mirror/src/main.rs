//! `dm-mirror`: build, verify and serve a dm mirror.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "dm-mirror", version, about = "dm's mirror for offline edge nodes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetches and checks every artifact of MANIFEST into the mirror DIR.
    Build {
        manifest: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Re-checks every file of the mirror DIR; exit status 1 if any is bad.
    Verify { dir: PathBuf },
    /// Serves the mirror DIR over HTTP.
    Serve {
        dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: String,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dm-mirror: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Build { manifest, out } => {
            let text = std::fs::read_to_string(&manifest)
                .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
            let entries = dm_mirror::manifest::parse(&text).map_err(|e| format!("{}: {e}", manifest.display()))?;
            let outcomes = dm_mirror::build::Builder::default().build(&entries, &out).map_err(|e| e.to_string())?;
            for (file, outcome) in outcomes {
                let what = match outcome {
                    dm_mirror::build::Outcome::Fetched => "fetched",
                    dm_mirror::build::Outcome::Skipped => "present",
                };
                println!("{what:8} {file}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { dir } => {
            let problems = dm_mirror::verify::verify(&dir)?;
            for p in &problems {
                println!("BAD {}: {}", p.file, p.problem);
            }
            if problems.is_empty() {
                println!("ok");
                Ok(ExitCode::SUCCESS)
            } else {
                Ok(ExitCode::from(1))
            }
        }
        Command::Serve { dir, listen } => {
            let listener = std::net::TcpListener::bind(&listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            eprintln!("dm-mirror: serving {} on http://{}", dir.display(), listener.local_addr().map_err(|e| e.to_string())?);
            dm_mirror::serve::serve(&dir, listener)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
