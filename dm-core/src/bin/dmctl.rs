//! `dmctl`: dm's command-line client.

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use packaging::build::{build, BuildOptions};
use packaging::{Package, Problems, Reader};
use serde_json::json;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "dmctl", version, about = "Command-line client of the dm deployment manager")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read, check, unpack and build application packages.
    #[command(subcommand)]
    Package(PackageCommand),
}

#[derive(Subcommand)]
enum PackageCommand {
    /// Check packages; exit 0 when all are valid, 1 with every problem listed otherwise.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a package's metadata (PNDA's shape) as JSON.
    Inspect { file: PathBuf },
    /// Check a package, then unpack it into DIR (absent or empty) as the daemon does on deploy.
    Unpack { file: PathBuf, dir: PathBuf },
    /// Build a reproducible package from a folder named like the package (name-x.y.z).
    Build {
        dir: PathBuf,
        /// Output file (default: ./<folder name>.tar.gz).
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let reader = Reader::default();
    match cli.command {
        Command::Package(command) => package(&reader, command),
    }
}

fn package(reader: &Reader, command: PackageCommand) -> ExitCode {
    match command {
        PackageCommand::Validate { files, json } => validate(reader, &files, json),
        PackageCommand::Inspect { file } => match reader.inspect(&file) {
            Ok(package) => {
                println!("{}", serde_json::to_string_pretty(&package.metadata).expect("metadata serialises"));
                ExitCode::SUCCESS
            }
            Err(problems) => fail(&file, &problems),
        },
        PackageCommand::Unpack { file, dir } => match reader.unpack(&file, &dir) {
            Ok(package) => {
                println!("unpacked {} into {} ({})", package.id, dir.display(), summary(&package));
                ExitCode::SUCCESS
            }
            Err(problems) => fail(&file, &problems),
        },
        PackageCommand::Build { dir, out } => build_package(reader, &dir, out),
    }
}

fn validate(reader: &Reader, files: &[PathBuf], as_json: bool) -> ExitCode {
    let mut all_valid = true;
    let mut results = Vec::new();
    for file in files {
        let outcome = reader.inspect(file);
        all_valid &= outcome.is_ok();
        if as_json {
            results.push(match &outcome {
                Ok(package) => json!({"file": file, "valid": true, "package": package.id.as_str(), "problems": []}),
                Err(problems) => json!({"file": file, "valid": false, "problems": problems.0}),
            });
        } else {
            match outcome {
                Ok(package) => println!("{}: valid package {} ({})", file.display(), package.id, summary(&package)),
                Err(problems) => {
                    eprintln!("{}: invalid, {problems}", file.display());
                }
            }
        }
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&results).expect("results serialise"));
    }
    if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn build_package(reader: &Reader, dir: &std::path::Path, out: Option<PathBuf>) -> ExitCode {
    let out = out.unwrap_or_else(|| {
        let name = dir.canonicalize().ok().and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()));
        PathBuf::from(format!("{}.tar.gz", name.unwrap_or_else(|| "package".into())))
    });
    // A bar only where someone watches, and only when there is enough to wait for.
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::hidden();
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message("packing");
        bar
    });
    let mut on_progress = |done: u64, total: u64| {
        if let Some(bar) = &bar {
            if bar.is_hidden() && total >= 64 * 1024 * 1024 {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.set_length(total);
            }
            bar.set_position(done);
        }
    };
    let outcome = build(reader, dir, &out, BuildOptions::from_env(), &mut on_progress);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    match outcome {
        Ok(package) => {
            println!("built {} ({})", out.display(), summary(&package));
            ExitCode::SUCCESS
        }
        Err(problems) => fail(dir, &problems),
    }
}

fn summary(package: &Package) -> String {
    let components = package.metadata.components().count();
    format!(
        "{components} component{}, {} files, {} bytes",
        if components == 1 { "" } else { "s" },
        package.totals.files,
        package.totals.bytes
    )
}

fn fail(subject: &std::path::Path, problems: &Problems) -> ExitCode {
    eprintln!("{}: refused, {problems}", subject.display());
    ExitCode::FAILURE
}
