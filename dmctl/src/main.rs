//! `dmctl`: dm's command-line client. `package validate|inspect|unpack|build` work offline with
//! the `packaging` crate; the other commands talk to dmd's API through [`client`].

mod client;

use clap::{Args, Parser, Subcommand};
use client::{Body, Client, ClientError};
use indicatif::{ProgressBar, ProgressStyle};
use packaging::build::{build, BuildOptions};
use packaging::{Package, Problems, Reader};
use serde_json::{json, Map, Value};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "dmctl",
    version,
    about = "Command-line client of the dm deployment manager"
)]
struct Cli {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    command: Command,
}

/// Where dmd is and who is asking (for the commands that talk to dmd).
#[derive(Args)]
struct Remote {
    /// dmd's base URL.
    #[arg(
        long,
        global = true,
        env = "DM_URL",
        default_value = "http://127.0.0.1:5000"
    )]
    url: String,
    /// User to act as (PNDA's user.name; believed by dmd only in its trusted auth modes).
    #[arg(long, global = true, env = "DM_USER")]
    user: Option<String>,
    /// Bearer token (dmd in bearer auth mode).
    #[arg(long, global = true, env = "DM_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Read, check, unpack and build application packages; deploy them on dmd.
    #[command(subcommand)]
    Package(PackageCommand),
    /// dmd's package repository.
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Applications on dmd.
    #[command(subcommand)]
    App(AppCommand),
}

/// Options of the commands that change something on dmd.
#[derive(Args)]
struct Change {
    /// Wait until the operation is over; exit 1 unless it succeeded.
    #[arg(long)]
    wait: bool,
    /// Print dmd's status answer as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum RepoCommand {
    /// Upload a package file (checked by dmd before it is accepted).
    Upload {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// List the packages in the repository.
    List {
        /// Versions shown per package, newest first (0 = all).
        #[arg(long, default_value_t = 1)]
        recency: usize,
        #[arg(long)]
        json: bool,
    },
    /// Delete a package file from the repository (deployed copies are not affected).
    Delete { file: String },
}

#[derive(Subcommand)]
enum AppCommand {
    /// List the applications.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Create an application from a deployed package.
    Create {
        name: String,
        /// The deployed package (name-x.y.z).
        #[arg(long)]
        package: String,
        /// A property override, TYPE.COMPONENT.KEY=VALUE (repeatable).
        #[arg(long = "set", value_name = "TYPE.COMPONENT.KEY=VALUE")]
        set: Vec<String>,
        #[command(flatten)]
        change: Change,
    },
    /// Start an application.
    Start {
        name: String,
        /// What Flink jobs restore from: a savepoint id, `latest` (the default) or `none`.
        #[arg(long, value_name = "ID|latest|none")]
        savepoint: Option<String>,
        /// Let a restore drop state of operators the job no longer has.
        #[arg(long)]
        allow_non_restored_state: bool,
        #[command(flatten)]
        change: Change,
    },
    /// The savepoint catalog: list, trigger, dispose.
    #[command(subcommand)]
    Savepoints(SavepointCommand),
    /// Stop an application.
    Stop {
        name: String,
        #[command(flatten)]
        change: Change,
    },
    /// Destroy an application (it must be CREATED or STARTED).
    Destroy {
        name: String,
        #[command(flatten)]
        change: Change,
    },
    /// An application's status.
    Status {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// The application's runtime summary (always JSON).
    Summary { name: String },
    /// What each component's latest run printed (`--json` for the raw answer).
    Logs {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum SavepointCommand {
    /// The application's savepoints, newest first, and its jobs' retained checkpoints.
    List {
        name: String,
        #[arg(long)]
        component: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Take a savepoint of each running Flink job now (or of one component's).
    Trigger {
        name: String,
        #[arg(long)]
        component: Option<String>,
        /// Wait until every savepoint triggered has completed or failed.
        #[arg(long)]
        wait: bool,
    },
    /// Dispose of a savepoint (its files go; its row stays, DISPOSED).
    Dispose { name: String, id: i64 },
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
    /// Deploy a package from dmd's repository.
    Deploy {
        id: String,
        #[command(flatten)]
        change: Change,
    },
    /// Undeploy a package from dmd.
    Undeploy {
        id: String,
        #[command(flatten)]
        change: Change,
    },
    /// A package's status on dmd.
    Status {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// List the packages deployed on dmd.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Build a reproducible package from a folder named like the package (name-x.y.z).
    Build {
        dir: PathBuf,
        /// Output file (default: `./FOLDER.tar.gz`, after the folder name).
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // `dmctl app logs x | head`: a closed pipe ends dmctl quietly, with the status a killed
    // writer has (141), as other Unix tools do; Rust ignores SIGPIPE and would panic in print.
    // SAFETY: restoring a signal's default disposition before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Whatever goes wrong is one line, never a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("dmctl: internal error: {info}");
    }));
    let cli = Cli::parse();
    let reader = Reader::default();
    let client = Client::new(&cli.remote.url, cli.remote.user, cli.remote.token);
    let outcome = match cli.command {
        Command::Package(command) => return package(&reader, &client, command),
        Command::Repo(command) => repo(&client, command),
        Command::App(command) => app(&client, command),
    };
    outcome.unwrap_or_else(|e| {
        eprintln!("dmctl: {e}");
        ExitCode::FAILURE
    })
}

fn package(reader: &Reader, client: &Client, command: PackageCommand) -> ExitCode {
    let remote = match command {
        PackageCommand::Deploy { id, change } => change_and_report(
            client,
            "PUT",
            &format!("/packages/{id}"),
            None,
            &format!("/packages/{id}/status"),
            "DEPLOYED",
            &change,
        ),
        PackageCommand::Undeploy { id, change } => change_and_report(
            client,
            "DELETE",
            &format!("/packages/{id}"),
            None,
            &format!("/packages/{id}/status"),
            "NOTDEPLOYED",
            &change,
        ),
        PackageCommand::Status { id, json } => client
            .send("GET", &format!("/packages/{id}/status"), None)
            .map(|body| print_status(&id, &body, json)),
        PackageCommand::List { json } => client
            .send("GET", "/packages", None)
            .map(|body| print_names(&body, json)),
        local => return local_package(reader, local),
    };
    remote.unwrap_or_else(|e| {
        eprintln!("dmctl: {e}");
        ExitCode::FAILURE
    })
}

fn local_package(reader: &Reader, command: PackageCommand) -> ExitCode {
    match command {
        PackageCommand::Validate { files, json } => validate(reader, &files, json),
        PackageCommand::Inspect { file } => match reader.inspect(&file) {
            Ok(package) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&package.metadata).expect("metadata serialises")
                );
                ExitCode::SUCCESS
            }
            Err(problems) => fail(&file, &problems),
        },
        PackageCommand::Unpack { file, dir } => match reader.unpack(&file, &dir) {
            Ok(package) => {
                println!(
                    "unpacked {} into {} ({})",
                    package.id,
                    dir.display(),
                    summary(&package)
                );
                ExitCode::SUCCESS
            }
            Err(problems) => fail(&file, &problems),
        },
        PackageCommand::Build { dir, out } => build_package(reader, &dir, out),
        PackageCommand::Deploy { .. }
        | PackageCommand::Undeploy { .. }
        | PackageCommand::Status { .. }
        | PackageCommand::List { .. } => {
            unreachable!("handled by package()")
        }
    }
}

fn repo(client: &Client, command: RepoCommand) -> Result<ExitCode, ClientError> {
    match command {
        RepoCommand::Upload { file, json } => {
            let Some(name) = file
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
            else {
                eprintln!("dmctl: {} has no file name", file.display());
                return Ok(ExitCode::FAILURE);
            };
            let opened =
                std::fs::File::open(&file).and_then(|f| f.metadata().map(|m| (f, m.len())));
            let (handle, length) = match opened {
                Ok(opened) => opened,
                Err(e) => {
                    eprintln!("dmctl: cannot read {}: {e}", file.display());
                    return Ok(ExitCode::FAILURE);
                }
            };
            let bar = std::io::stderr().is_terminal().then(|| {
                let bar = ProgressBar::new(length);
                bar.set_style(
                    ProgressStyle::with_template(
                        "uploading [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                bar
            });
            let reader: Box<dyn std::io::Read + Send> = match &bar {
                Some(bar) => Box::new(bar.wrap_read(handle)),
                None => Box::new(handle),
            };
            let result = client.send(
                "PUT",
                &format!("/repository/packages/{name}"),
                Some(Body::Stream { reader, length }),
            );
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            match result {
                Ok(body) if json => println!("{}", pretty(&body)),
                Ok(body) => println!("uploaded {name} ({} bytes)", body["bytes"]),
                Err(ClientError::Refused { body, .. }) if body["problems"].is_array() => {
                    eprintln!(
                        "dmctl: {name} refused by dmd: {}",
                        body["information"].as_str().unwrap_or_default()
                    );
                    if json {
                        println!("{}", pretty(&body));
                    }
                    return Ok(ExitCode::FAILURE);
                }
                Err(e) => return Err(e),
            }
            Ok(ExitCode::SUCCESS)
        }
        RepoCommand::Delete { file } => {
            client.send("DELETE", &format!("/repository/packages/{file}"), None)?;
            println!("deleted {file}");
            Ok(ExitCode::SUCCESS)
        }
        RepoCommand::List { recency, json } => {
            let body = client.send(
                "GET",
                &format!("/repository/packages?recency={recency}"),
                None,
            )?;
            if json {
                println!("{}", pretty(&body));
            } else {
                for package in body.as_array().into_iter().flatten() {
                    let versions: Vec<&str> = package["latest_versions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v["version"].as_str())
                        .collect();
                    println!(
                        "{}  {}",
                        package["name"].as_str().unwrap_or_default(),
                        versions.join(" ")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn app(client: &Client, command: AppCommand) -> Result<ExitCode, ClientError> {
    let status_of = |name: &str| format!("/applications/{name}/status");
    match command {
        AppCommand::Create {
            name,
            package,
            set,
            change,
        } => {
            let body = match overrides(&package, &set) {
                Ok(body) => body,
                Err(e) => {
                    eprintln!("dmctl: {e}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            change_and_report(
                client,
                "PUT",
                &format!("/applications/{name}"),
                Some(body),
                &status_of(&name),
                "CREATED",
                &change,
            )
        }
        AppCommand::Start {
            name,
            savepoint,
            allow_non_restored_state,
            change,
        } => {
            let mut query = Vec::new();
            if let Some(savepoint) = &savepoint {
                query.push(format!("savepoint={savepoint}"));
            }
            if allow_non_restored_state {
                query.push("allow_non_restored_state=true".to_string());
            }
            let query = match query.is_empty() {
                true => String::new(),
                false => format!("?{}", query.join("&")),
            };
            change_and_report(
                client,
                "POST",
                &format!("/applications/{name}/start{query}"),
                None,
                &status_of(&name),
                "STARTED",
                &change,
            )
        }
        AppCommand::Savepoints(command) => savepoints(client, command),
        AppCommand::Stop { name, change } => change_and_report(
            client,
            "POST",
            &format!("/applications/{name}/stop"),
            None,
            &status_of(&name),
            "CREATED",
            &change,
        ),
        AppCommand::Destroy { name, change } => change_and_report(
            client,
            "DELETE",
            &format!("/applications/{name}"),
            None,
            &status_of(&name),
            "NOTCREATED",
            &change,
        ),
        AppCommand::Status { name, json } => client
            .send("GET", &status_of(&name), None)
            .map(|body| print_status(&name, &body, json)),
        AppCommand::List { json } => client
            .send("GET", "/applications", None)
            .map(|body| print_names(&body, json)),
        AppCommand::Logs { name, json } => {
            let logs = client.send("GET", &format!("/applications/{name}/logs"), None)?;
            if json {
                println!("{}", pretty(&logs));
            } else {
                for (component, log) in logs.as_object().into_iter().flatten() {
                    // A supervised job names its attempt; an Oozie job its id and status.
                    let heading = match (log.get("attempt"), log.get("job_id")) {
                        (Some(attempt), _) => format!("attempt {attempt}"),
                        (None, Some(Value::String(id))) => {
                            format!("Oozie job {id}, {}", log["status"].as_str().unwrap_or("?"))
                        }
                        _ => String::new(),
                    };
                    match log.get("text").and_then(|t| t.as_str()) {
                        Some(text) => println!("==> {component} ({heading}) <==\n{text}"),
                        None => println!("==> {component} <==\n(no run yet)"),
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AppCommand::Summary { name } => {
            println!(
                "{}",
                pretty(&client.send("GET", &format!("/applications/{name}/summary"), None)?)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn savepoints(client: &Client, command: SavepointCommand) -> Result<ExitCode, ClientError> {
    let path = |name: &str| format!("/applications/{name}/savepoints");
    match command {
        SavepointCommand::List {
            name,
            component,
            json,
        } => {
            let query = component
                .map(|c| format!("?component={c}"))
                .unwrap_or_default();
            let body = client.send("GET", &format!("{}{query}", path(&name)), None)?;
            if json {
                println!("{}", pretty(&body));
            } else {
                print_savepoints(
                    body["savepoints"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or(&[]),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        SavepointCommand::Trigger {
            name,
            component,
            wait,
        } => {
            let body = json!({"component": component});
            let answer = client.send("POST", &path(&name), Some(Body::Json(body)))?;
            let ids: Vec<i64> = answer["savepoints"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["id"].as_i64())
                .collect();
            if !wait {
                println!("{name}: savepoint(s) {ids:?} in progress; follow with `dmctl app savepoints list {name}`");
                return Ok(ExitCode::SUCCESS);
            }
            // Bounded by the catalog's own limit for a trigger in flight (10 minutes).
            let deadline = std::time::Instant::now() + Duration::from_secs(660);
            loop {
                let body = client.send("GET", &path(&name), None)?;
                let rows: Vec<Value> = body["savepoints"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| s["id"].as_i64().is_some_and(|id| ids.contains(&id)))
                    .cloned()
                    .collect();
                if rows.iter().all(|s| s["state"] != "IN_PROGRESS")
                    || std::time::Instant::now() > deadline
                {
                    print_savepoints(&rows);
                    let ok = rows.iter().all(|s| s["state"] == "COMPLETED");
                    return Ok(if ok {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    });
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        SavepointCommand::Dispose { name, id } => {
            let row = client.send("DELETE", &format!("{}/{id}", path(&name)), None)?;
            print_savepoints(std::slice::from_ref(&row));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_savepoints(rows: &[Value]) {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    println!(
        "{:>5}  {:<16} {:<9} {:<11} {:<12} PATH / ERROR",
        "ID", "COMPONENT", "TRIGGER", "STATE", "TAKEN"
    );
    for s in rows {
        let taken = s["created_ms"]
            .as_i64()
            .map(|at| ago(now_ms - at))
            .unwrap_or_default();
        let text = |k: &str| s[k].as_str().unwrap_or("").to_string();
        let detail = if s["error"].is_string() {
            text("error")
        } else {
            text("path")
        };
        println!(
            "{:>5}  {:<16} {:<9} {:<11} {:<12} {detail}",
            s["id"],
            text("component"),
            text("trigger"),
            text("state"),
            taken
        );
    }
}

/// `12 s ago`, `5 min ago`, `3 h ago`, `2 d ago`.
fn ago(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        7200..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// The create body: `{"package": …, "<type>": {"<component>": {"<key>": "<value>"}}}`.
fn overrides(package: &str, set: &[String]) -> Result<Value, String> {
    let mut body = Map::new();
    body.insert("package".into(), Value::String(package.into()));
    for item in set {
        let parsed = item.split_once('=').and_then(|(path, value)| {
            let mut parts = path.splitn(3, '.');
            Some((parts.next()?, parts.next()?, parts.next()?, value))
        });
        let Some((ty, component, key, value)) =
            parsed.filter(|(t, c, k, _)| !t.is_empty() && !c.is_empty() && !k.is_empty())
        else {
            return Err(format!("--set {item}: expected TYPE.COMPONENT.KEY=VALUE"));
        };
        let by_type = body.entry(ty).or_insert_with(|| json!({}));
        let by_component = by_type
            .as_object_mut()
            .expect("objects only")
            .entry(component)
            .or_insert_with(|| json!({}));
        by_component[key] = Value::String(value.into());
    }
    Ok(Value::Object(body))
}

/// Sends a change, then reports the subject's status (after waiting when asked).
fn change_and_report(
    client: &Client,
    method: &str,
    path: &str,
    body: Option<Value>,
    status_path: &str,
    success: &str,
    change: &Change,
) -> Result<ExitCode, ClientError> {
    client.send(method, path, body.map(Body::Json))?;
    let subject = path
        .trim_start_matches('/')
        .split('/')
        .nth(1)
        .unwrap_or(path);
    if !change.wait {
        if change.json {
            println!("{}", pretty(&client.send("GET", status_path, None)?));
        } else {
            println!("{subject}: accepted ({method} {path}); follow with status");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let status = client.wait(status_path, Duration::from_secs(3600))?;
    print_status(subject, &status, change.json);
    Ok(if status["status"] == success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_status(subject: &str, body: &Value, json: bool) -> ExitCode {
    if json {
        println!("{}", pretty(body));
    } else {
        let status = body["status"].as_str().unwrap_or("?");
        match body["information"].as_str() {
            Some(info) => println!("{subject}: {status} ({info})"),
            None => println!("{subject}: {status}"),
        }
    }
    ExitCode::SUCCESS
}

/// A JSON array of names: one per line, or the JSON itself.
fn print_names(body: &Value, json: bool) -> ExitCode {
    if json {
        println!("{}", pretty(body));
    } else {
        for name in body
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            println!("{name}");
        }
    }
    ExitCode::SUCCESS
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("JSON serialises")
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
                Ok(package) => println!(
                    "{}: valid package {} ({})",
                    file.display(),
                    package.id,
                    summary(&package)
                ),
                Err(problems) => {
                    eprintln!("{}: invalid, {problems}", file.display());
                }
            }
        }
    }
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&results).expect("results serialise")
        );
    }
    if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn build_package(reader: &Reader, dir: &std::path::Path, out: Option<PathBuf>) -> ExitCode {
    let out = out.unwrap_or_else(|| {
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()));
        PathBuf::from(format!(
            "{}.tar.gz",
            name.unwrap_or_else(|| "package".into())
        ))
    });
    // A bar only where someone watches, and only when there is enough to wait for.
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::hidden();
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
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
    let outcome = build(
        reader,
        dir,
        &out,
        BuildOptions::from_env(),
        &mut on_progress,
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_nest_by_type_and_component() {
        let set = [
            "flink.stream.parallelism=2".to_string(),
            "flink.stream.main_class=a.B=C".to_string(),
            "oozie.o.queue=default".to_string(),
        ];
        assert_eq!(
            overrides("app-1.0.0", &set).unwrap(),
            json!({
                "package": "app-1.0.0",
                "flink": {"stream": {"parallelism": "2", "main_class": "a.B=C"}},
                "oozie": {"o": {"queue": "default"}},
            })
        );
    }

    #[test]
    fn overrides_name_the_malformed_setting() {
        for bad in ["nodots=1", "a.b=1", "a..k=1", "a.b.k", ".b.k=1"] {
            assert_eq!(
                overrides("app-1.0.0", &[bad.to_string()]).unwrap_err(),
                format!("--set {bad}: expected TYPE.COMPONENT.KEY=VALUE"),
            );
        }
    }
}
