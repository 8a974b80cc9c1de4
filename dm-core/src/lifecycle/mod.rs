//! The lifecycle engine: deploy/undeploy packages, create/start/stop/destroy applications.
//!
//! Every operation has the same shape. A *claim* checks the subject's state and, in one registry
//! transaction, sets the transient state (`DEPLOYING`, …) and writes the journal intent; a
//! second request on the same subject therefore sees the transient state and gets 409, while
//! different subjects proceed in parallel (no lock is held across I/O). The work then runs on
//! a thread of its own and ends with a transaction that sets the resulting state and the
//! journal outcome. Callbacks fire only after a state is committed.
//!
//! [`Engine::recover`] runs at start-up before the API is served: each operation left open by a
//! crash is finished (undeploy, stop, destroy: they only remove things and are safe to repeat)
//! or rolled back (deploy, create, start), so no subject stays in a transient state, and every
//! error state carries PNDA's `Error <verb> <subject> <class>, details: …` information.
//!
//! This module holds the engine and what its operations share; `packages`, `applications`
//! and `recovery` hold the operations themselves.

use crate::callbacks::Callbacks;
use crate::error::DmError;
use crate::hdfs::Hdfs;
use crate::hdfs_json::{self, HdfsPath};
use crate::journal::{self, OpKind, Operation, Outcome};
use crate::metrics::Metrics;
use crate::pause_points::PauseHook;
use crate::properties::{self, Layers};
use crate::registry::{self, AppRow, AppState, PackageRow, PackageState, Registry};
use crate::repository::PackageStore;
use crate::runtime::{ComponentContext, ComponentRuntime, Runtimes};
use packaging::{PackageId, PackageMetadata, Reader};
use rusqlite::OptionalExtension;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

mod applications;
mod packages;
mod recovery;
mod savepoints;
mod upgrade;

/// Where the engine keeps files under the data folder.
#[derive(Clone)]
pub struct Dirs {
    data: PathBuf,
}

impl Dirs {
    pub fn new(data: &Path) -> std::io::Result<Dirs> {
        let dirs = Dirs {
            data: data.to_path_buf(),
        };
        std::fs::create_dir_all(dirs.deployed_root())?;
        std::fs::create_dir_all(dirs.apps_root())?;
        Ok(dirs)
    }

    fn deployed_root(&self) -> PathBuf {
        self.data.join("deployed")
    }

    /// A deployed package, unpacked: holds the package folder `<id>/`.
    pub fn deployed(&self, id: &str) -> PathBuf {
        self.deployed_root().join(id)
    }

    fn apps_root(&self) -> PathBuf {
        self.data.join("applications")
    }

    /// An application's private copy of its package's components: `<type>/<component>/`.
    pub fn app(&self, name: &str) -> PathBuf {
        self.apps_root().join(name)
    }

    fn app_staging(&self, name: &str) -> PathBuf {
        self.apps_root().join(format!(".staging-{name}"))
    }

    /// The previous version's components while an upgrade runs (put back by a rollback).
    fn app_previous(&self, name: &str) -> PathBuf {
        self.apps_root().join(format!(".previous-{name}"))
    }
}

/// Why an operation failed, in PNDA's terms: an exception class name and details.
#[derive(Debug)]
struct Failure {
    class: &'static str,
    details: String,
}

impl Failure {
    fn new(class: &'static str, details: impl Into<String>) -> Failure {
        Failure {
            class,
            details: details.into(),
        }
    }

    fn interrupted(what: &str) -> Failure {
        Failure::new(
            "Interrupted",
            format!("dmd stopped during the operation; {what}"),
        )
    }

    fn io(what: &str, e: std::io::Error) -> Failure {
        Failure::new("IOError", format!("{what}: {e}"))
    }

    /// `Error <verb> <subject> <class>, details: "<details>"`, as PNDA's console expects.
    fn information(&self, kind: OpKind, subject: &str) -> String {
        format!(
            "Error {} {subject} {}, details: {}",
            kind.error_verb(),
            self.class,
            Value::String(self.details.clone())
        )
    }
}

impl From<DmError> for Failure {
    fn from(e: DmError) -> Failure {
        Failure::new("RegistryError", e.to_string())
    }
}

/// Application names become folder names and job names.
pub fn check_app_name(name: &str) -> Result<(), DmError> {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Ok(())
    } else {
        Err(DmError::BadRequest(format!(
            "Application name {name} may only contain a-z A-Z 0-9 - _"
        )))
    }
}

pub struct Engine {
    pub registry: Arc<Registry>,
    pub store: Arc<dyn PackageStore>,
    pub metrics: Arc<Metrics>,
    reader: Reader,
    runtimes: Runtimes,
    dirs: Dirs,
    /// The environment handed to applications: secrets are left out.
    app_environment: Map<String, Value>,
    callbacks: Callbacks,
    hooks: PauseHook,
    /// HDFS, when configured (`hdfs.json` folders, the applications' HDFS roots).
    hdfs: Option<Arc<Hdfs>>,
    /// Flink's REST API through YARN, for the savepoint catalog; `None` without a ResourceManager.
    savepoint_io: Option<Arc<dyn crate::savepoints::worker::FlinkIo>>,
    /// Operations queued or running on the workers, for a clean shutdown.
    running: (std::sync::Mutex<usize>, std::sync::Condvar),
    /// The workers' queue: operations run on a fixed number of threads.
    jobs: std::sync::mpsc::Sender<Job>,
}

pub struct EngineParts {
    pub registry: Arc<Registry>,
    pub store: Arc<dyn PackageStore>,
    pub metrics: Arc<Metrics>,
    pub reader: Reader,
    pub runtimes: Runtimes,
    pub dirs: Dirs,
    pub app_environment: Map<String, Value>,
    pub callbacks: Callbacks,
    pub hooks: PauseHook,
    pub hdfs: Option<Arc<Hdfs>>,
    pub savepoint_io: Option<Arc<dyn crate::savepoints::worker::FlinkIo>>,
    /// Operations run at once (PNDA's `deployer_thread_limit`); more wait their turn.
    pub workers: usize,
}

type Job = Box<dyn FnOnce() + Send>;

fn start_workers(count: usize) -> std::sync::mpsc::Sender<Job> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    let rx = Arc::new(std::sync::Mutex::new(rx));
    for n in 0..count.max(1) {
        let rx = Arc::clone(&rx);
        let spawned = std::thread::Builder::new()
            .name(format!("dm-worker-{n}"))
            .spawn(move || loop {
                let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                match job {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            });
        if let Err(e) = spawned {
            log::error!("cannot start operation worker {n}: {e}");
        }
    }
    tx
}

/// One component of an application, as recorded in its create data.
struct ComponentRecord {
    ty: String,
    name: String,
    properties: Map<String, Value>,
    data: Value,
    /// Its `hdfs.json` folders.
    hdfs_paths: Vec<HdfsPath>,
}

impl Engine {
    pub fn new(parts: EngineParts) -> Engine {
        Engine {
            registry: parts.registry,
            store: parts.store,
            metrics: parts.metrics,
            reader: parts.reader,
            runtimes: parts.runtimes,
            dirs: parts.dirs,
            app_environment: parts.app_environment,
            callbacks: parts.callbacks,
            hooks: parts.hooks,
            hdfs: parts.hdfs,
            savepoint_io: parts.savepoint_io,
            running: Default::default(),
            jobs: start_workers(parts.workers),
        }
    }

    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    pub fn hooks(&self) -> &PauseHook {
        &self.hooks
    }

    /// The package repository's own events, which PNDA's repository posted to the same package
    /// callback (the console adds or removes an available version): `CREATED` when a package
    /// file is stored, `NOTCREATED` when it is deleted.
    pub fn repository_event(&self, id: &PackageId, state: &str) {
        match self
            .registry
            .write(|tx| self.callbacks.package(tx, id.as_str(), state, None))
        {
            Ok(()) => self.callbacks.wake(),
            Err(e) => {
                log::error!("cannot record the {state} event of {id} for the package callback: {e}")
            }
        }
    }

    // ----- running and recovering -----

    /// Queues the work of a claimed operation for the workers.
    fn spawn(
        self: &Arc<Self>,
        op: Operation,
        work: impl FnOnce(&Engine, &Operation) + Send + 'static,
    ) {
        let engine = Arc::clone(self);
        let what = format!("{} {}", op.kind.as_str(), op.subject);
        *self.running.0.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        let job: Job = Box::new(move || {
            let started = Instant::now();
            work(&engine, &op);
            log::info!(
                "{} {} by {:?} took {:.3} s",
                op.kind.as_str(),
                op.subject,
                op.user,
                started.elapsed().as_secs_f64()
            );
            *engine.running.0.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
            engine.running.1.notify_all();
        });
        if self.jobs.send(job).is_err() {
            *self.running.0.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
            // The claim is committed: recovery at the next start resolves it.
            log::error!("no operation worker is left to run {what}");
        }
    }

    /// Waits up to `grace` for running operations to end; returns how many are still running
    /// (recovery resolves those at the next start).
    pub fn drain(&self, grace: std::time::Duration) -> usize {
        let guard = self.running.0.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = self
            .running
            .1
            .wait_timeout_while(guard, grace, |n| *n > 0)
            .unwrap_or_else(|p| p.into_inner());
        *guard
    }

    fn done(&self, op: &Operation, outcome: Outcome) {
        self.metrics.operation(
            op.kind.as_str(),
            outcome.as_str(),
            op.taken.elapsed().as_secs_f64(),
        );
    }

    /// A failure to record an outcome leaves the journal open: recovery resolves it at the
    /// next start, so it is logged rather than lost.
    fn commit_or_log(&self, op: &Operation, commit: impl FnOnce() -> Result<(), DmError>) {
        if let Err(e) = commit() {
            log::error!(
                "cannot record the outcome of {} {} (operation {}): {e}",
                op.kind.as_str(),
                op.subject,
                op.id
            );
        }
    }
}

/// Python's `datetime.utcnow().isoformat()`: microseconds, omitted when zero; no zone.
fn pnda_timestamp() -> String {
    let now = chrono::Utc::now().naive_utc();
    let text = now.format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    text.strip_suffix(".000000")
        .map(str::to_string)
        .unwrap_or(text)
}

fn append_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(text.as_bytes())
}

fn remove_dir_if_exists(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Copies regular files and folders (deployed packages hold nothing else).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names() {
        assert!(check_app_name("test-app_1").is_ok());
        let err = check_app_name("with&oddchar").unwrap_err();
        assert_eq!(
            err,
            DmError::BadRequest(
                "Application name with&oddchar may only contain a-z A-Z 0-9 - _".into()
            )
        );
        for bad in ["", "a/b", "..", "a b", "a\nb"] {
            assert!(check_app_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn error_information_format() {
        let failure = Failure::new("FailedValidation", "1 problem\n  [x] y");
        assert_eq!(
            failure.information(OpKind::Deploy, "foo-1.0.0"),
            "Error deploying foo-1.0.0 FailedValidation, details: \"1 problem\\n  [x] y\""
        );
        assert!(Failure::interrupted("x")
            .information(OpKind::Destroy, "a")
            .starts_with("Error deleting a Interrupted, details: "));
    }

    #[test]
    fn timestamps_look_like_python() {
        let ts = pnda_timestamp();
        assert!(ts.len() == 19 || ts.len() == 26, "{ts}");
        assert!(!ts.ends_with('Z'));
    }
}
