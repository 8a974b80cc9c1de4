//! Application operations: create, start, stop, destroy, and what is known of applications.

use super::*;
use crate::savepoints::RestoreChoice;

impl Engine {
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

    /// What status polling reads (state, information, owner), from memory; `None` for an
    /// application dmd does not know.
    pub fn app_status(&self, name: &str) -> Option<Arc<registry::AppBrief>> {
        self.registry.app_brief(name)
    }

    /// The application's state; the API adds the YARN applications the status observer saw.
    pub fn app_detail(&self, name: &str) -> Result<(Option<String>, Value), DmError> {
        let (state, owner) = self.existing_app(name)?;
        Ok((
            Some(owner),
            json!({"name": name, "status": state, "yarn_applications": {}}),
        ))
    }

    /// PNDA's placeholders, served until the status observer has a summary of the application.
    pub fn app_summary(&self, name: &str) -> Result<(Option<String>, Value), DmError> {
        let (owner, status) = match self.existing_app(name) {
            Ok((_, owner)) => (Some(owner), "Not Available"),
            Err(_) => (self.app_owner(name)?, "Not Created"),
        };
        Ok((owner, json!({name: {"status": status}})))
    }

    /// The latest logs of each component's job: `{"<type>-<component>": {attempt, text}}`.
    pub fn app_logs(&self, name: &str) -> Result<(Option<String>, Value), DmError> {
        let (_, owner) = self.existing_app(name)?;
        let Some(row) = self.registry.read(|c| registry::get_app(c, name))? else {
            return Ok((Some(owner), json!({})));
        };
        let logs = self
            .each_component(&row, |rt, ctx, data| rt.logs(ctx, data))
            .into_iter()
            .map(|(label, result)| {
                (
                    label.replace('/', "-"),
                    result.unwrap_or_else(|e| json!({"error": e})),
                )
            })
            .collect();
        Ok((Some(owner), Value::Object(logs)))
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
        let metadata = self.deployed_metadata(&package)?;
        properties::check_overrides(&body, &metadata)?;
        for ty in metadata.component_types.keys() {
            if self.runtimes.get(ty).is_none() {
                return Err(DmError::BadRequest(format!(
                    "No runtime for component type {ty} in this dmd (available: {})",
                    self.runtimes.types().join(", ")
                )));
            }
        }
        self.check_components(name, &package, &metadata, &body, user)?;
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

    /// A deployed package's metadata; 404/409 when it is not deployed.
    pub(super) fn deployed_metadata(
        &self,
        package: &PackageId,
    ) -> Result<PackageMetadata, DmError> {
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
        Ok(metadata)
    }

    /// What can be known before anything is made is checked before the create is accepted, so
    /// a bad `hdfs.json` or property (a `spark_version` the cluster's Oozie does not have, a
    /// missing `main_class`, …) is a 400 naming the component, not a failed creation later.
    pub(super) fn check_components(
        &self,
        name: &str,
        package: &PackageId,
        metadata: &PackageMetadata,
        overrides: &Map<String, Value>,
        user: &str,
    ) -> Result<(), DmError> {
        let content = self.dirs.deployed(package.as_str()).join(package.as_str());
        for (ty, components) in &metadata.component_types {
            let Some(runtime) = self.runtimes.get(ty) else {
                continue;
            };
            let by_type = overrides.get(ty).and_then(Value::as_object);
            for (component, details) in components {
                let dir = content.join(ty).join(component);
                let bad = |e: String| DmError::BadRequest(format!("{ty}/{component}: {e}"));
                let (props, _, _) = self
                    .component_properties(name, component, details, by_type, user, &dir)
                    .map_err(bad)?;
                let ctx = ComponentContext {
                    application: name,
                    component_type: ty,
                    component,
                    dir: &dir,
                    properties: &props,
                };
                runtime.check(&ctx).map_err(bad)?;
            }
        }
        Ok(())
    }

    /// A component's resolved properties, with the paths of its `hdfs.json` (in `dir`, filled
    /// with the properties as PNDA did) and what was said about them.
    fn component_properties(
        &self,
        application: &str,
        component: &str,
        details: &packaging::Component,
        overrides_by_type: Option<&Map<String, Value>>,
        user: &str,
        dir: &Path,
    ) -> Result<(Map<String, Value>, Vec<HdfsPath>, Vec<String>), String> {
        let mut props = properties::resolve(&Layers {
            environment: &self.app_environment,
            defaults: details.properties(),
            overrides: overrides_by_type
                .and_then(|o| o.get(component))
                .and_then(Value::as_object),
            application,
            component,
            user,
        });
        let (hdfs_paths, warnings) = read_hdfs_paths(dir, &props)?;
        props.extend(hdfs_paths.iter().map(HdfsPath::property));
        Ok((props, hdfs_paths, warnings))
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
        self.make_components(name, &op.user, package, metadata, overrides)?;
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

    /// Makes the application's components from `package` in its folder (which must not hold
    /// another version's), recording their create data as it goes; the create data.
    pub(super) fn make_components(
        &self,
        name: &str,
        user: &str,
        package: &PackageId,
        metadata: &PackageMetadata,
        overrides: &Map<String, Value>,
    ) -> Result<Map<String, Value>, Failure> {
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
                let dir = app_dir.join(ty).join(component);
                let (props, hdfs_paths, warnings) = self
                    .component_properties(name, component, details, by_type, user, &dir)
                    .map_err(|e| {
                        Failure::new("FailedCreation", format!("{ty}/{component}: {e}"))
                    })?;
                for warning in warnings {
                    log::warn!("{name} {ty} {component}: {warning}");
                }
                // Recorded before anything is made, so a rollback also undoes a half-made one.
                let mut record = json!({
                    "component_name": component,
                    "component_job_name": props["component_job_name"],
                    "application_hdfs_root": props["application_hdfs_root"],
                    "properties": props,
                    "hdfs_paths": hdfs_paths.iter().map(HdfsPath::to_record).collect::<Vec<_>>(),
                    "runtime": null,
                });
                push_record(&mut create_data, ty, record.clone());
                self.save_create_data(name, &create_data)?;
                self.create_hdfs_paths(&hdfs_paths).map_err(|e| {
                    Failure::new("FailedCreation", format!("{ty}/{component}: {e}"))
                })?;
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
        Ok(create_data)
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

    pub(super) fn roll_back_create(&self, op: &Operation, failure: Failure, outcome: Outcome) {
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
                if let Err(e) = self.remove_hdfs_leftovers(&row) {
                    log::error!("rolling back the creation of {name}: {e}");
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

    /// Starts an application; its Flink jobs restore from what `restore` picks in the catalog.
    pub fn start(
        self: &Arc<Self>,
        name: &str,
        user: &str,
        restore: RestoreChoice,
        allow_non_restored_state: bool,
    ) -> Result<(), DmError> {
        self.check_restore(name, restore)?;
        let op = self.claim_app(
            name,
            OpKind::Start,
            user,
            &[AppState::Created],
            AppState::Starting,
        )?;
        self.spawn(op, move |engine, op| {
            engine.hooks.pause("start.intent");
            let options = engine
                .registry
                .read(|c| registry::get_app(c, &op.subject))
                .and_then(|row| {
                    row.ok_or_else(|| DmError::Internal("the application's record is gone".into()))
                })
                .and_then(|row| engine.restore_options(&row, restore, allow_non_restored_state));
            let options = match options {
                Ok(options) => options,
                Err(e) => {
                    return engine.roll_back_start(
                        op,
                        Failure::new("SavepointError", e.to_string()),
                        Outcome::Failed,
                    )
                }
            };
            match engine.act_on_components(op, "start.component", |rt, ctx, data| {
                let options = options.get(ctx.component).cloned().unwrap_or_default();
                rt.start(ctx, data, &options)
            }) {
                Ok(()) => engine.settle_app(op, AppState::Started, None, Outcome::Succeeded),
                Err(failure) => engine.roll_back_start(op, failure, Outcome::Failed),
            }
        });
        Ok(())
    }

    /// Stops what a failed or interrupted start may have started; the application stays CREATED.
    pub(super) fn roll_back_start(&self, op: &Operation, failure: Failure, outcome: Outcome) {
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
            &[AppState::Started, AppState::RolledBack],
            AppState::Stopping,
        )?;
        self.spawn(op, |engine, op| {
            engine.hooks.pause("stop.intent");
            engine.finish_stop(op, Outcome::Succeeded);
        });
        Ok(())
    }

    pub(super) fn finish_stop(&self, op: &Operation, outcome: Outcome) {
        match self.act_on_components(op, "stop.component", |rt, ctx, data| rt.stop(ctx, data)) {
            Ok(()) => {
                self.catalogue_stop_savepoints(&op.subject);
                self.settle_app(op, AppState::Created, None, outcome)
            }
            Err(failure) => {
                let information = failure.information(op.kind, &op.subject);
                let back = AppState::parse(&op.from_state).unwrap_or(AppState::Started);
                self.settle_app(op, back, Some(information), Outcome::Failed)
            }
        }
    }

    pub fn destroy(self: &Arc<Self>, name: &str, user: &str) -> Result<(), DmError> {
        let op = self.claim_app(
            name,
            OpKind::Destroy,
            user,
            &[AppState::Created, AppState::Started, AppState::RolledBack],
            AppState::Destroying,
        )?;
        self.spawn(op, |engine, op| {
            engine.hooks.pause("destroy.intent");
            engine.finish_destroy(op, Outcome::Succeeded);
        });
        Ok(())
    }

    pub(super) fn finish_destroy(&self, op: &Operation, outcome: Outcome) {
        let name = op.subject.as_str();
        let result = self
            .act_on_components(op, "destroy.component", |rt, ctx, data| {
                rt.destroy(ctx, data)
            })
            .and_then(|()| {
                // After the components, so nothing running writes into a folder being removed.
                if let Some(row) = self.registry.read(|c| registry::get_app(c, name))? {
                    self.remove_hdfs_leftovers(&row)
                        .map_err(|e| Failure::new("FailedOperation", e))?;
                }
                remove_dir_if_exists(&self.dirs.app(name))
                    .map_err(|e| Failure::io("cannot remove the application's files", e))?;
                self.registry.write(|tx| {
                    registry::delete_app(tx, name)?;
                    crate::savepoints::catalog::delete_application(tx, name)?;
                    crate::upgrades::delete_application(tx, name)?;
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

    pub(super) fn claim_app(
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
    pub(super) fn settle_app(
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
    pub(super) fn act_on_components(
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
    pub(super) fn each_component<T>(
        &self,
        row: &AppRow,
        act: impl Fn(&dyn ComponentRuntime, &ComponentContext, &Value) -> Result<T, String>,
    ) -> Vec<(String, Result<T, String>)> {
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

    /// Makes a component's `hdfs.json` folders.
    fn create_hdfs_paths(&self, paths: &[HdfsPath]) -> Result<(), String> {
        if paths.is_empty() {
            return Ok(());
        }
        let hdfs = self.hdfs.as_ref().ok_or(
            "hdfs.json asks for HDFS folders, but this dmd has no HDFS ([hdfs] namenode is not set)",
        )?;
        paths.iter().try_for_each(|p| hdfs.mkdirs(&p.path))
    }

    /// Removes the `hdfs.json` folders marked for deletion, then the application's HDFS root if
    /// nothing is left in it (PNDA removed it non-recursively: data others put there stays).
    fn remove_hdfs_leftovers(&self, row: &AppRow) -> Result<(), String> {
        let records = records(row);
        let doomed: Vec<&str> = records
            .iter()
            .flat_map(|r| &r.hdfs_paths)
            .filter_map(|p| p.delete_on_destroy.as_deref())
            .collect();
        let Some(hdfs) = &self.hdfs else {
            if !doomed.is_empty() {
                return Err(format!(
                    "cannot remove {} from HDFS: [hdfs] namenode is not set",
                    doomed.join(", ")
                ));
            }
            return Ok(());
        };
        for path in doomed {
            hdfs.remove(path, true)?;
        }
        let roots: std::collections::BTreeSet<&str> = records
            .iter()
            .filter_map(|r| r.properties.get("application_hdfs_root")?.as_str())
            .collect();
        for root in roots {
            hdfs.remove_if_empty(root)?;
        }
        Ok(())
    }

    fn runtime(&self, ty: &str) -> Result<&Arc<dyn ComponentRuntime>, Failure> {
        self.runtimes.get(ty).ok_or_else(|| {
            Failure::new(
                "FailedCreation",
                format!("no runtime for component type {ty}"),
            )
        })
    }
}

/// The components recorded in an application's create data, in order.
pub(super) fn records(row: &AppRow) -> Vec<ComponentRecord> {
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
                    hdfs_paths: c
                        .get("hdfs_paths")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(HdfsPath::from_record)
                        .collect(),
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

/// A component's `hdfs.json`, if it has one, filled with its properties (PNDA templated it
/// before use: `"path": "parquet/${component_application}"`).
fn read_hdfs_paths(
    dir: &Path,
    props: &Map<String, Value>,
) -> Result<(Vec<HdfsPath>, Vec<String>), String> {
    match std::fs::read_to_string(dir.join(hdfs_json::FILE)) {
        Ok(text) => hdfs_json::parse(&dm_plugin_api::template::substitute(
            &text,
            props,
            crate::properties::python_str,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Vec::new(), Vec::new())),
        Err(e) => Err(format!("cannot read {}: {e}", hdfs_json::FILE)),
    }
}
