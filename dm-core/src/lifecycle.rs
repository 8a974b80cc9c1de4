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

use crate::callbacks::Callbacks;
use crate::error::DmError;
use crate::hooks::PauseHook;
use crate::journal::{self, OpKind, Operation, Outcome};
use crate::metrics::Metrics;
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

    // ----- packages: queries -----

    pub fn list_packages(&self) -> Result<Vec<String>, DmError> {
        self.registry.read(registry::deployed_packages)
    }

    pub fn package_owner(&self, id: &PackageId) -> Result<Option<String>, DmError> {
        Ok(self
            .registry
            .read(|c| registry::get_package(c, id.as_str()))?
            .and_then(|r| r.user))
    }

    /// PNDA's package info: `{name, version, status, user, defaults, information}`.
    pub fn package_info(&self, id: &PackageId) -> Result<Value, DmError> {
        let row = self
            .registry
            .read(|c| registry::get_package(c, id.as_str()))?;
        let (status, user, defaults, information) = match row {
            None => ("NOTDEPLOYED", Value::Null, Value::Null, Value::Null),
            Some(row) => match row.state {
                PackageState::Deployed => {
                    let defaults = row
                        .metadata
                        .and_then(|m| serde_json::from_value::<PackageMetadata>(m).ok())
                        .map_or(Value::Null, |m| m.defaults());
                    (
                        "DEPLOYED",
                        json!(row.user),
                        defaults,
                        json!(row.information),
                    )
                }
                PackageState::NotDeployed => (
                    "NOTDEPLOYED",
                    Value::Null,
                    Value::Null,
                    json!(row.information),
                ),
                transient => (
                    transient.as_str(),
                    json!(row.user),
                    Value::Null,
                    Value::Null,
                ),
            },
        };
        Ok(
            json!({"name": id.name(), "version": id.version(), "status": status, "user": user,
                  "defaults": defaults, "information": information}),
        )
    }

    // ----- packages: operations -----

    pub fn deploy(self: &Arc<Self>, id: &PackageId, user: &str) -> Result<(), DmError> {
        let current = self
            .registry
            .read(|c| registry::get_package(c, id.as_str()))?
            .map_or(PackageState::NotDeployed, |r| r.state);
        if current != PackageState::NotDeployed {
            return Err(DmError::conflict(
                current.as_str(),
                format!("Package {id} is {current}"),
            ));
        }
        let in_repository = self
            .store
            .find(id)
            .map_err(|e| DmError::Unavailable(format!("package repository: {e}")))?;
        if in_repository.is_none() {
            // PNDA accepted and failed later; its README promised this 404.
            return Err(DmError::not_found(
                "NOTDEPLOYED",
                format!("Package {id} is not in the repository"),
            ));
        }
        let op = self.registry.write(|tx| {
            let row = registry::get_package(tx, id.as_str())?;
            let state = row.as_ref().map_or(PackageState::NotDeployed, |r| r.state);
            if state != PackageState::NotDeployed {
                return Err(DmError::conflict(
                    state.as_str(),
                    format!("Package {id} is {state}"),
                ));
            }
            registry::put_package(
                tx,
                &PackageRow {
                    id: id.to_string(),
                    state: PackageState::Deploying,
                    user: Some(user.into()),
                    metadata: None,
                    information: None,
                },
            )?;
            self.callbacks.package(tx, id.as_str(), "DEPLOYING", None)?;
            journal::begin(tx, OpKind::Deploy, id.as_str(), user, state.as_str())
        })?;
        self.callbacks.wake();
        let id = id.clone();
        self.spawn(op, move |engine, op| engine.run_deploy(op, &id));
        Ok(())
    }

    fn run_deploy(&self, op: &Operation, id: &PackageId) {
        self.hooks.pause("deploy.intent");
        let outcome = self.unpack(id).and_then(|metadata| {
            self.hooks.pause("deploy.unpacked");
            let information = format!("Deployed {id} at {}", pnda_timestamp());
            self.registry.write(|tx| {
                registry::put_package(
                    tx,
                    &PackageRow {
                        id: id.to_string(),
                        state: PackageState::Deployed,
                        user: Some(op.user.clone()),
                        metadata: Some(metadata),
                        information: Some(information.clone()),
                    },
                )?;
                self.callbacks
                    .package(tx, id.as_str(), "DEPLOYED", Some(&information))?;
                journal::finish(tx, op, Outcome::Succeeded, None)
            })?;
            Ok(())
        });
        match outcome {
            Ok(()) => {
                self.done(op, Outcome::Succeeded);
                self.callbacks.wake();
            }
            Err(failure) => self.roll_back_deploy(op, failure, Outcome::Failed),
        }
    }

    fn unpack(&self, id: &PackageId) -> Result<Value, Failure> {
        let unavailable = |e: std::io::Error| Failure::io("package repository", e);
        let file =
            self.store.find(id).map_err(unavailable)?.ok_or_else(|| {
                Failure::new("NotFound", format!("{id} is not in the repository"))
            })?;
        let path = self.store.local_path(&file).map_err(unavailable)?;
        let dest = self.dirs.deployed(id.as_str());
        remove_dir_if_exists(&dest)
            .map_err(|e| Failure::io("cannot clear the deployment folder", e))?;
        let package = self
            .reader
            .unpack_as(&path, &file.file, &dest)
            .map_err(|problems| Failure::new("FailedValidation", problems.to_string()))?;
        Ok(serde_json::to_value(&package.metadata).expect("metadata serialises"))
    }

    fn roll_back_deploy(&self, op: &Operation, failure: Failure, outcome: Outcome) {
        if let Err(e) = remove_dir_if_exists(&self.dirs.deployed(&op.subject)) {
            log::error!(
                "cannot remove the partial deployment of {}: {e}",
                op.subject
            );
        }
        let information = failure.information(op.kind, &op.subject);
        self.commit_or_log(op, || {
            self.registry.write(|tx| {
                registry::put_package(
                    tx,
                    &PackageRow {
                        id: op.subject.clone(),
                        state: PackageState::NotDeployed,
                        user: None,
                        metadata: None,
                        information: Some(information.clone()),
                    },
                )?;
                self.callbacks
                    .package(tx, &op.subject, "NOTDEPLOYED", Some(&information))?;
                journal::finish(tx, op, outcome, Some(&information))
            })
        });
        self.done(op, outcome);
        self.callbacks.wake();
    }

    pub fn undeploy(self: &Arc<Self>, id: &PackageId, user: &str) -> Result<(), DmError> {
        let op = self.registry.write(|tx| {
            let state = registry::get_package(tx, id.as_str())?.map_or(PackageState::NotDeployed, |r| r.state);
            match state {
                PackageState::Deployed => {}
                PackageState::NotDeployed => return Err(DmError::not_found("NOTDEPLOYED", format!("Package {id} is not deployed"))),
                other => return Err(DmError::conflict(other.as_str(), format!("Package {id} is {other}"))),
            }
            // Creation copies the package's files: removing them under it would break it.
            let creating: Option<String> = tx
                .query_row("SELECT name FROM applications WHERE package = ?1 AND state = 'CREATING' LIMIT 1", [id.as_str()], |r| r.get(0))
                .optional()?;
            if let Some(app) = creating {
                return Err(DmError::conflict("DEPLOYED", format!("Application {app} is being created from package {id}")));
            }
            tx.execute("UPDATE packages SET state = 'UNDEPLOYING', updated_at = ?2 WHERE id = ?1", [id.as_str(), &registry::now()])?;
            self.callbacks.package(tx, id.as_str(), "UNDEPLOYING", None)?;
            journal::begin(tx, OpKind::Undeploy, id.as_str(), user, state.as_str())
        })?;
        self.callbacks.wake();
        self.spawn(op, |engine, op| {
            engine.hooks.pause("undeploy.intent");
            engine.finish_undeploy(op, Outcome::Succeeded);
        });
        Ok(())
    }

    fn finish_undeploy(&self, op: &Operation, outcome: Outcome) {
        let removed = remove_dir_if_exists(&self.dirs.deployed(&op.subject))
            .map_err(|e| Failure::io("cannot remove the deployed files", e));
        let result = removed.and_then(|()| {
            self.hooks.pause("undeploy.removed");
            self.registry.write(|tx| {
                registry::delete_package(tx, &op.subject)?;
                self.callbacks
                    .package(tx, &op.subject, "NOTDEPLOYED", None)?;
                journal::finish(tx, op, outcome, None)
            })?;
            Ok(())
        });
        match result {
            Ok(()) => {
                self.done(op, outcome);
                self.callbacks.wake();
            }
            Err(failure) => {
                let information = failure.information(op.kind, &op.subject);
                self.commit_or_log(op, || {
                    self.registry.write(|tx| {
                        tx.execute(
                            "UPDATE packages SET state = 'DEPLOYED', information = ?2, updated_at = ?3 WHERE id = ?1",
                            [op.subject.as_str(), &information, &registry::now()],
                        )?;
                        self.callbacks.package(tx, &op.subject, "DEPLOYED", Some(&information))?;
                        journal::finish(tx, op, Outcome::Failed, Some(&information))
                    })
                });
                self.done(op, Outcome::Failed);
                self.callbacks.wake();
            }
        }
    }

    // ----- applications: queries -----

    pub fn list_applications(&self, package: Option<&str>) -> Result<Vec<String>, DmError> {
        self.registry.read(|c| registry::list_apps(c, package))
    }

    pub fn app_owner(&self, name: &str) -> Result<Option<String>, DmError> {
        Ok(self.registry.app_brief(name).map(|b| b.owner.clone()))
    }

    /// PNDA's application info, and the owner; an unknown application is
    /// `{"status": "NOTCREATED", "information": null}`.
    pub fn app_info(&self, name: &str) -> Result<(Option<String>, Value), DmError> {
        Ok(match self.registry.read(|c| registry::get_app(c, name))? {
            None => (None, json!({"status": "NOTCREATED", "information": null})),
            Some(row) => {
                let body = json!({"name": row.name, "package_name": row.package, "status": row.state.as_str(),
                                  "information": row.information, "overrides": row.overrides, "defaults": row.defaults});
                (Some(row.user), body)
            }
        })
    }

    /// `{status, information}`, and the owner.
    pub fn app_status(&self, name: &str) -> Result<(Option<String>, Value), DmError> {
        Ok(match self.registry.app_brief(name) {
            None => (None, json!({"status": "NOTCREATED", "information": null})),
            Some(brief) => (
                Some(brief.owner.clone()),
                json!({"status": brief.state.as_str(), "information": brief.information}),
            ),
        })
    }

    /// Runtime details come from the runtime plugins; until they report any, the map is empty.
    pub fn app_detail(&self, name: &str) -> Result<(Option<String>, Value), DmError> {
        let (state, owner) = self.existing_app(name)?;
        Ok((
            Some(owner),
            json!({"name": name, "status": state, "yarn_applications": {}}),
        ))
    }

    /// The summary written by the (future) observer; PNDA's placeholders meanwhile.
    pub fn app_summary(&self, name: &str) -> Result<(Option<String>, Value), DmError> {
        let (owner, status) = match self.existing_app(name) {
            Ok((_, owner)) => (Some(owner), "Not Available"),
            Err(_) => (self.app_owner(name)?, "Not Created"),
        };
        Ok((owner, json!({name: {"status": status}})))
    }

    /// The state and owner of an application that exists (any state but NOTCREATED).
    fn existing_app(&self, name: &str) -> Result<(&'static str, String), DmError> {
        match self.registry.app_brief(name) {
            Some(brief) if brief.state != AppState::NotCreated => {
                Ok((brief.state.as_str(), brief.owner.clone()))
            }
            _ => Err(DmError::not_found(
                "NOTCREATED",
                format!("Application {name} does not exist"),
            )),
        }
    }

    // ----- applications: operations -----

    pub fn create(
        self: &Arc<Self>,
        name: &str,
        body: Map<String, Value>,
        user: &str,
    ) -> Result<(), DmError> {
        check_app_name(name)?;
        let package = match body.get("package") {
            Some(Value::String(p)) => PackageId::parse(p)
                .map_err(|p| DmError::BadRequest(format!("Invalid request body. {}", p.message)))?,
            _ => {
                return Err(DmError::BadRequest(
                    "Invalid request body. Field 'package' must be a package name".into(),
                ))
            }
        };
        let row = self
            .registry
            .read(|c| registry::get_package(c, package.as_str()))?;
        let metadata = match row {
            Some(PackageRow {
                state: PackageState::Deployed,
                metadata: Some(m),
                ..
            }) => serde_json::from_value::<PackageMetadata>(m).map_err(|e| {
                DmError::Internal(format!(
                    "registry holds unreadable metadata for {package}: {e}"
                ))
            })?,
            Some(PackageRow { state, .. }) if state != PackageState::NotDeployed => {
                return Err(DmError::conflict(
                    state.as_str(),
                    format!("Package {package} is {state}"),
                ))
            }
            _ => {
                return Err(DmError::not_found(
                    "NOTDEPLOYED",
                    format!("Package {package} is not deployed"),
                ))
            }
        };
        properties::check_overrides(&body, &metadata)?;
        for ty in metadata.component_types.keys() {
            if self.runtimes.get(ty).is_none() {
                return Err(DmError::BadRequest(format!(
                    "No runtime for component type {ty} in this dmd (available: {})",
                    self.runtimes.types().join(", ")
                )));
            }
        }
        let mut overrides = body;
        overrides.insert("user".into(), Value::String(user.into()));
        let op = self.registry.write(|tx| {
            let state = registry::get_app(tx, name)?.map_or(AppState::NotCreated, |r| r.state);
            if state != AppState::NotCreated {
                return Err(DmError::conflict(
                    state.as_str(),
                    format!("Application {name} is {state}"),
                ));
            }
            // Checked again in this transaction: an undeploy may have been claimed meanwhile.
            let package_state = registry::get_package(tx, package.as_str())?.map(|r| r.state);
            if package_state != Some(PackageState::Deployed) {
                let status = package_state.unwrap_or(PackageState::NotDeployed);
                return Err(DmError::conflict(
                    status.as_str(),
                    format!("Package {package} is {status}"),
                ));
            }
            registry::put_app(
                tx,
                &AppRow {
                    name: name.into(),
                    package: package.to_string(),
                    state: AppState::Creating,
                    user: user.into(),
                    overrides: Value::Object(overrides.clone()),
                    defaults: metadata.defaults(),
                    create_data: None,
                    information: None,
                },
            )?;
            self.callbacks.application(tx, name, "CREATING", None)?;
            journal::begin(tx, OpKind::Create, name, user, "NOTCREATED")
        })?;
        self.callbacks.wake();
        self.spawn(op, move |engine, op| {
            engine.run_create(op, &package, &metadata, &overrides)
        });
        Ok(())
    }

    fn run_create(
        &self,
        op: &Operation,
        package: &PackageId,
        metadata: &PackageMetadata,
        overrides: &Map<String, Value>,
    ) {
        self.hooks.pause("create.intent");
        match self.create_components(op, package, metadata, overrides) {
            Ok(()) => {
                self.done(op, Outcome::Succeeded);
                self.callbacks.wake();
            }
            Err(failure) => self.roll_back_create(op, failure, Outcome::Failed),
        }
    }

    fn create_components(
        &self,
        op: &Operation,
        package: &PackageId,
        metadata: &PackageMetadata,
        overrides: &Map<String, Value>,
    ) -> Result<(), Failure> {
        let name = op.subject.as_str();
        let (staging, app_dir) = (self.dirs.app_staging(name), self.dirs.app(name));
        let clear = |dir: &Path| {
            remove_dir_if_exists(dir)
                .map_err(|e| Failure::io(&format!("cannot clear {}", dir.display()), e))
        };
        clear(&staging)?;
        clear(&app_dir)?;
        let content = self.dirs.deployed(package.as_str()).join(package.as_str());
        copy_tree(&content, &staging)
            .map_err(|e| Failure::io("cannot stage the package's components", e))?;
        std::fs::rename(&staging, &app_dir)
            .map_err(|e| Failure::io("cannot move the staged components into place", e))?;
        self.hooks.pause("create.staged");

        let mut create_data = Map::new();
        for (ty, components) in &metadata.component_types {
            let runtime = self.runtime(ty)?;
            let by_type = overrides.get(ty).and_then(Value::as_object);
            for (component, details) in components {
                let props = properties::resolve(&Layers {
                    environment: &self.app_environment,
                    defaults: details.properties(),
                    overrides: by_type
                        .and_then(|o| o.get(component))
                        .and_then(Value::as_object),
                    application: name,
                    component,
                    user: &op.user,
                });
                // Recorded before the runtime acts, so a rollback also destroys a half-made one.
                let mut record = json!({
                    "component_name": component,
                    "component_job_name": props["component_job_name"],
                    "application_hdfs_root": props["application_hdfs_root"],
                    "properties": props,
                    "runtime": null,
                });
                push_record(&mut create_data, ty, record.clone());
                self.save_create_data(name, &create_data)?;
                let dir = app_dir.join(ty).join(component);
                if !props.contains_key(properties::NO_AUTO_PROPS) {
                    append_file(
                        &dir.join("application.properties"),
                        &properties::auto_fill_lines(&props),
                    )
                    .map_err(|e| {
                        Failure::io(
                            &format!("cannot write {ty}/{component}/application.properties"),
                            e,
                        )
                    })?;
                }
                let ctx = ComponentContext {
                    application: name,
                    component_type: ty,
                    component,
                    dir: &dir,
                    properties: &props,
                };
                record["runtime"] = runtime.create(&ctx).map_err(|e| {
                    Failure::new("FailedCreation", format!("{ty}/{component}: {e}"))
                })?;
                replace_last_record(&mut create_data, ty, record);
                self.save_create_data(name, &create_data)?;
                self.hooks.pause("create.component");
            }
        }
        self.registry.write(|tx| {
            tx.execute(
                "UPDATE applications SET state = 'CREATED', information = NULL, updated_at = ?2 WHERE name = ?1",
                [name, &registry::now()],
            )?;
            self.callbacks.application(tx, name, "CREATED", None)?;
            journal::finish(tx, op, Outcome::Succeeded, None)
        })?;
        Ok(())
    }

    fn save_create_data(&self, name: &str, data: &Map<String, Value>) -> Result<(), Failure> {
        let text = Value::Object(data.clone()).to_string();
        self.registry.write(|tx| {
            tx.execute(
                "UPDATE applications SET create_data = ?2 WHERE name = ?1",
                [name, &text],
            )?;
            Ok(())
        })?;
        Ok(())
    }

    fn roll_back_create(&self, op: &Operation, failure: Failure, outcome: Outcome) {
        let name = op.subject.as_str();
        match self.registry.read(|c| registry::get_app(c, name)) {
            Ok(Some(row)) => {
                for (component, result) in
                    self.each_component(&row, |rt, ctx, data| rt.destroy(ctx, data))
                {
                    if let Err(e) = result {
                        log::error!(
                            "rolling back the creation of {name}: cannot destroy {component}: {e}"
                        );
                    }
                }
            }
            other => log::error!(
                "rolling back the creation of {name}: cannot read its record: {other:?}"
            ),
        }
        for dir in [self.dirs.app_staging(name), self.dirs.app(name)] {
            if let Err(e) = remove_dir_if_exists(&dir) {
                log::error!(
                    "rolling back the creation of {name}: cannot remove {}: {e}",
                    dir.display()
                );
            }
        }
        let information = failure.information(op.kind, name);
        self.commit_or_log(op, || {
            self.registry.write(|tx| {
                tx.execute(
                    "UPDATE applications SET state = 'NOTCREATED', create_data = NULL, information = ?2, updated_at = ?3 WHERE name = ?1",
                    [name, &information, &registry::now()],
                )?;
                self.callbacks.application(tx, name, "NOTCREATED", Some(&information))?;
                journal::finish(tx, op, outcome, Some(&information))
            })
        });
        self.done(op, outcome);
        self.callbacks.wake();
    }

    pub fn start(self: &Arc<Self>, name: &str, user: &str) -> Result<(), DmError> {
        let op = self.claim_app(
            name,
            OpKind::Start,
            user,
            &[AppState::Created],
            AppState::Starting,
        )?;
        self.spawn(op, |engine, op| {
            engine.hooks.pause("start.intent");
            match engine
                .act_on_components(op, "start.component", |rt, ctx, data| rt.start(ctx, data))
            {
                Ok(()) => engine.settle_app(op, AppState::Started, None, Outcome::Succeeded),
                Err(failure) => engine.roll_back_start(op, failure, Outcome::Failed),
            }
        });
        Ok(())
    }

    /// Stops what a failed or interrupted start may have started; the application stays CREATED.
    fn roll_back_start(&self, op: &Operation, failure: Failure, outcome: Outcome) {
        if let Ok(Some(row)) = self.registry.read(|c| registry::get_app(c, &op.subject)) {
            for (component, result) in self.each_component(&row, |rt, ctx, data| rt.stop(ctx, data))
            {
                if let Err(e) = result {
                    log::error!(
                        "rolling back the start of {}: cannot stop {component}: {e}",
                        op.subject
                    );
                }
            }
        }
        let information = failure.information(op.kind, &op.subject);
        self.settle_app(op, AppState::Created, Some(information), outcome);
    }

    pub fn stop(self: &Arc<Self>, name: &str, user: &str) -> Result<(), DmError> {
        let op = self.claim_app(
            name,
            OpKind::Stop,
            user,
            &[AppState::Started],
            AppState::Stopping,
        )?;
        self.spawn(op, |engine, op| {
            engine.hooks.pause("stop.intent");
            engine.finish_stop(op, Outcome::Succeeded);
        });
        Ok(())
    }

    fn finish_stop(&self, op: &Operation, outcome: Outcome) {
        match self.act_on_components(op, "stop.component", |rt, ctx, data| rt.stop(ctx, data)) {
            Ok(()) => self.settle_app(op, AppState::Created, None, outcome),
            Err(failure) => {
                let information = failure.information(op.kind, &op.subject);
                self.settle_app(op, AppState::Started, Some(information), Outcome::Failed)
            }
        }
    }

    pub fn destroy(self: &Arc<Self>, name: &str, user: &str) -> Result<(), DmError> {
        let op = self.claim_app(
            name,
            OpKind::Destroy,
            user,
            &[AppState::Created, AppState::Started],
            AppState::Destroying,
        )?;
        self.spawn(op, |engine, op| {
            engine.hooks.pause("destroy.intent");
            engine.finish_destroy(op, Outcome::Succeeded);
        });
        Ok(())
    }

    fn finish_destroy(&self, op: &Operation, outcome: Outcome) {
        let name = op.subject.as_str();
        let result = self
            .act_on_components(op, "destroy.component", |rt, ctx, data| {
                rt.destroy(ctx, data)
            })
            .and_then(|()| {
                remove_dir_if_exists(&self.dirs.app(name))
                    .map_err(|e| Failure::io("cannot remove the application's files", e))?;
                self.registry.write(|tx| {
                    registry::delete_app(tx, name)?;
                    self.callbacks.application(tx, name, "NOTCREATED", None)?;
                    journal::finish(tx, op, outcome, None)
                })?;
                Ok(())
            });
        match result {
            Ok(()) => {
                self.done(op, outcome);
                self.callbacks.wake();
            }
            Err(failure) => {
                // Back to where it was (PNDA always said STARTED, even for a CREATED application).
                let back = AppState::parse(&op.from_state).unwrap_or(AppState::Started);
                let information = failure.information(op.kind, name);
                self.settle_app(op, back, Some(information), Outcome::Failed);
            }
        }
    }

    fn claim_app(
        &self,
        name: &str,
        kind: OpKind,
        user: &str,
        allowed: &[AppState],
        transient: AppState,
    ) -> Result<Operation, DmError> {
        let op = self.registry.write(|tx| {
            let state = registry::get_app(tx, name)?.map_or(AppState::NotCreated, |r| r.state);
            if !allowed.contains(&state) {
                return Err(if state == AppState::NotCreated {
                    DmError::not_found("NOTCREATED", format!("Application {name} does not exist"))
                } else {
                    DmError::conflict(state.as_str(), format!("Application {name} is {state}"))
                });
            }
            tx.execute(
                "UPDATE applications SET state = ?2, information = NULL, updated_at = ?3 WHERE name = ?1",
                [name, transient.as_str(), &registry::now()],
            )?;
            self.callbacks.application(tx, name, transient.as_str(), None)?;
            journal::begin(tx, kind, name, user, state.as_str())
        })?;
        self.callbacks.wake();
        Ok(op)
    }

    /// Commits an application's resulting state with the operation's outcome.
    fn settle_app(
        &self,
        op: &Operation,
        state: AppState,
        information: Option<String>,
        outcome: Outcome,
    ) {
        self.commit_or_log(op, || {
            self.registry.write(|tx| {
                tx.execute(
                    "UPDATE applications SET state = ?2, information = ?3, updated_at = ?4 WHERE name = ?1",
                    rusqlite::params![op.subject, state.as_str(), information, registry::now()],
                )?;
                self.callbacks.application(tx, &op.subject, state.as_str(), information.as_deref())?;
                journal::finish(tx, op, outcome, information.as_deref())
            })
        });
        self.done(op, outcome);
        self.callbacks.wake();
    }

    /// Applies `act` to every component in create-data order, stopping at the first failure.
    fn act_on_components(
        &self,
        op: &Operation,
        pause_point: &str,
        act: impl Fn(&dyn ComponentRuntime, &ComponentContext, &Value) -> Result<(), String>,
    ) -> Result<(), Failure> {
        let row = self
            .registry
            .read(|c| registry::get_app(c, &op.subject))?
            .ok_or_else(|| Failure::new("NotFound", "the application's record is gone"))?;
        for record in records(&row) {
            let runtime = self.runtime(&record.ty)?;
            let dir = self.dirs.app(&row.name).join(&record.ty).join(&record.name);
            let ctx = ComponentContext {
                application: &row.name,
                component_type: &record.ty,
                component: &record.name,
                dir: &dir,
                properties: &record.properties,
            };
            act(runtime.as_ref(), &ctx, &record.data).map_err(|e| {
                Failure::new(
                    "FailedOperation",
                    format!("{}/{}: {e}", record.ty, record.name),
                )
            })?;
            self.hooks.pause(pause_point);
        }
        Ok(())
    }

    /// Applies `act` to every component regardless of failures (for rollbacks).
    fn each_component(
        &self,
        row: &AppRow,
        act: impl Fn(&dyn ComponentRuntime, &ComponentContext, &Value) -> Result<(), String>,
    ) -> Vec<(String, Result<(), String>)> {
        records(row)
            .into_iter()
            .map(|record| {
                let label = format!("{}/{}", record.ty, record.name);
                let result = match self.runtimes.get(&record.ty) {
                    None => Err(format!("no runtime for component type {}", record.ty)),
                    Some(runtime) => {
                        let dir = self.dirs.app(&row.name).join(&record.ty).join(&record.name);
                        let ctx = ComponentContext {
                            application: &row.name,
                            component_type: &record.ty,
                            component: &record.name,
                            dir: &dir,
                            properties: &record.properties,
                        };
                        act(runtime.as_ref(), &ctx, &record.data)
                    }
                };
                (label, result)
            })
            .collect()
    }

    fn runtime(&self, ty: &str) -> Result<&Arc<dyn ComponentRuntime>, Failure> {
        self.runtimes.get(ty).ok_or_else(|| {
            Failure::new(
                "FailedCreation",
                format!("no runtime for component type {ty}"),
            )
        })
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

    /// Resolves every operation left open by a previous run; returns one line per operation.
    pub fn recover(&self) -> Result<Vec<String>, DmError> {
        if let Err(e) = self.store.clean_incoming() {
            log::warn!("cannot clean unfinished uploads: {e}");
        }
        let mut report = Vec::new();
        for op in self.registry.read(journal::open_operations)? {
            let outcome = match op.kind {
                OpKind::Deploy => {
                    self.roll_back_deploy(
                        &op,
                        Failure::interrupted("the partial deployment was removed"),
                        Outcome::RolledBack,
                    );
                    Outcome::RolledBack
                }
                OpKind::Undeploy => {
                    self.finish_undeploy(&op, Outcome::Finished);
                    Outcome::Finished
                }
                OpKind::Create => {
                    self.roll_back_create(
                        &op,
                        Failure::interrupted("the components created so far were destroyed"),
                        Outcome::RolledBack,
                    );
                    Outcome::RolledBack
                }
                OpKind::Start => {
                    self.roll_back_start(
                        &op,
                        Failure::interrupted("the components started so far were stopped"),
                        Outcome::RolledBack,
                    );
                    Outcome::RolledBack
                }
                OpKind::Stop => {
                    self.finish_stop(&op, Outcome::Finished);
                    Outcome::Finished
                }
                OpKind::Destroy => {
                    self.finish_destroy(&op, Outcome::Finished);
                    Outcome::Finished
                }
            };
            let line = format!(
                "{} {} (operation {}): {}",
                op.kind.as_str(),
                op.subject,
                op.id,
                outcome.as_str()
            );
            log::warn!("recovery: {line}");
            report.push(line);
        }
        self.clean_leftovers();
        // A transient state without an open operation cannot come from dmd (both are written
        // in one transaction), only from outside edits; settle it rather than refuse to start.
        for (subject, state) in self.registry.read(registry::transient_rows)? {
            let information = format!(
                "Found {subject} in state {state} without an operation in the journal at start-up"
            );
            log::error!("recovery: {information}");
            self.registry
                .write(|tx| registry::settle_transient(tx, &subject, &state, &information))?;
            report.push(information);
        }
        Ok(report)
    }

    /// Folders of unpacks and stagings that never completed.
    fn clean_leftovers(&self) {
        for (root, prefix) in [
            (self.dirs.deployed_root(), ".dm-unpack-"),
            (self.dirs.apps_root(), ".staging-"),
        ] {
            let Ok(entries) = std::fs::read_dir(&root) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(prefix) {
                    if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                        log::warn!("cannot remove leftover {}: {e}", entry.path().display());
                    }
                }
            }
        }
    }
}

/// The components recorded in an application's create data, in order.
fn records(row: &AppRow) -> Vec<ComponentRecord> {
    let Some(Value::Object(types)) = &row.create_data else {
        return Vec::new();
    };
    types
        .iter()
        .flat_map(|(ty, list)| {
            list.as_array().into_iter().flatten().filter_map(move |c| {
                Some(ComponentRecord {
                    ty: ty.clone(),
                    name: c.get("component_name")?.as_str()?.to_string(),
                    properties: c
                        .get("properties")
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default(),
                    data: c.get("runtime").cloned().unwrap_or(Value::Null),
                })
            })
        })
        .collect()
}

fn push_record(data: &mut Map<String, Value>, ty: &str, record: Value) {
    if let Value::Array(list) = data
        .entry(ty.to_string())
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        list.push(record);
    }
}

fn replace_last_record(data: &mut Map<String, Value>, ty: &str, record: Value) {
    if let Some(last) = data
        .get_mut(ty)
        .and_then(Value::as_array_mut)
        .and_then(|l| l.last_mut())
    {
        *last = record;
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
