//! `POST /applications/{a}/upgrade`: a running application moves to another deployed version
//! of its package, its Flink jobs' state carried by a savepoint (or a retained checkpoint), and
//! rolls back by itself when the new version does not come up. Each step is written to the
//! `upgrades` table before it begins ([`crate::upgrades`] holds the decisions); recovery after
//! a crash rolls an unfinished upgrade back, so it ends on one version, with one copy running.
//!
//! Steps: stop the old version (Flink with a savepoint in `savepoint` mode, cancelled
//! otherwise; Spark and Oozie components are always stopped and started again, stateless) →
//! switch the files and create data to the new version (the old ones kept aside) → start it
//! from what [`upgrades::restore_for`] chose → wait until every Flink job runs all its tasks
//! for `upgrade_ready_sec` within `upgrade_timeout_sec` → done, or roll back: stop the new
//! version, put the old one back and start it from the upgrade's savepoint.

use super::applications::records;
use super::*;
use crate::cluster::now_ms;
use crate::runtime::StartOptions;
use crate::savepoints::{catalog, policy, Trigger};
use crate::upgrades::{self, Readiness, UpgradeMode, UpgradeRequest, UpgradeStep, Verdict};
use dm_supervisor::protocol::Restore;
use std::collections::BTreeMap;
use std::time::Duration;

/// How often readiness is looked at.
const READINESS_TICK: Duration = Duration::from_secs(2);

impl Engine {
    /// Checks the request, claims the application and starts the upgrade; its record's id.
    pub fn upgrade(
        self: &Arc<Self>,
        name: &str,
        body: Value,
        user: &str,
    ) -> Result<Value, DmError> {
        check_app_name(name)?;
        let request: UpgradeRequest = serde_json::from_value(body)
            .map_err(|e| DmError::BadRequest(format!("Invalid upgrade request: {e}")))?;
        let row = self.app_row(name)?;
        if !row.state.runs() {
            return Err(DmError::conflict(
                row.state.as_str(),
                format!(
                    "Application {name} is {}: only a running application is upgraded",
                    row.state
                ),
            ));
        }
        let package = PackageId::parse(&request.package)
            .map_err(|p| DmError::BadRequest(format!("Invalid upgrade request. {}", p.message)))?;
        if package.as_str() == row.package {
            return Err(DmError::BadRequest(format!(
                "Application {name} already runs {package}"
            )));
        }
        let metadata = self.deployed_metadata(&package)?;
        let old: Vec<(String, String)> =
            records(&row).into_iter().map(|r| (r.ty, r.name)).collect();
        let new: Vec<(String, String)> = metadata
            .component_types
            .iter()
            .flat_map(|(ty, list)| list.keys().map(move |c| (ty.clone(), c.clone())))
            .collect();
        let differences = upgrades::component_differences(&old, &new);
        if !differences.is_empty() {
            return Err(DmError::BadRequest(format!(
                "{package} cannot replace {}: {}",
                row.package,
                differences.join("; ")
            )));
        }
        let mut overrides = match request.overrides.clone() {
            Some(o) => o,
            None => row.overrides.as_object().cloned().unwrap_or_default(),
        };
        overrides.remove("user");
        overrides.insert("package".into(), Value::String(package.to_string()));
        properties::check_overrides(&overrides, &metadata)?;
        self.check_components(name, &package, &metadata, &overrides, &row.user)?;
        // A state-keeping upgrade needs something to keep: checked before anything stops.
        if request.mode != UpgradeMode::Stateless {
            for c in self.savepoint_components(&row, None)? {
                let catalogued = self
                    .registry
                    .read(|conn| catalog::list(conn, name, Some(&c.record.name)))?;
                let has_fallback = policy::latest_completed(&catalogued).is_some()
                    || c.job.last_savepoint.is_some();
                if c.job.yarn_id.is_none() && !has_fallback {
                    return Err(DmError::conflict(
                        row.state.as_str(),
                        format!(
                            "{}: no running job to take a savepoint of and no savepoint to fall back to; use mode stateless",
                            c.record.name
                        ),
                    ));
                }
            }
        }
        overrides.insert("user".into(), Value::String(row.user.clone()));
        let previous = json!({
            "package": row.package,
            "overrides": row.overrides,
            "defaults": row.defaults,
            "create_data": row.create_data,
        });
        let op = self.claim_app(
            name,
            OpKind::Upgrade,
            user,
            &[AppState::Started, AppState::RolledBack],
            AppState::Upgrading,
        )?;
        let id = self.registry.write(|tx| {
            upgrades::insert(
                tx,
                &upgrades::NewUpgrade {
                    application: name,
                    from_package: &row.package,
                    to_package: package.as_str(),
                    to_overrides: &Value::Object(overrides.clone()),
                    mode: request.mode,
                    rollback: request.rollback,
                    ready_sec: request
                        .upgrade_ready_sec
                        .unwrap_or(upgrades::DEFAULT_READY_SEC),
                    timeout_sec: request
                        .upgrade_timeout_sec
                        .unwrap_or(upgrades::DEFAULT_TIMEOUT_SEC),
                    previous: &previous,
                    now_ms: now_ms(),
                },
            )
        })?;
        let stateless: Vec<String> = records(&row)
            .into_iter()
            .filter(|r| {
                !self
                    .savepoint_components(&row, Some(&r.name))
                    .is_ok_and(|c| !c.is_empty())
            })
            .map(|r| format!("{}/{}", r.ty, r.name))
            .collect();
        log::info!(
            "upgrade {id} of {name}: {} → {package}, {} mode",
            row.package,
            request.mode
        );
        self.spawn(op, move |engine, op| {
            engine.run_upgrade(op, id, &package, &metadata)
        });
        Ok(
            json!({"upgrade": id, "from": row.package, "to": request.package, "mode": request.mode, "stateless": stateless}),
        )
    }

    /// `GET /applications/{a}/upgrades`: every attempt, newest first.
    pub fn list_upgrades(&self, name: &str) -> Result<(Option<String>, Value), DmError> {
        let owner = self
            .registry
            .read(|c| registry::get_app(c, name))?
            .map(|r| r.user);
        let rows = self.registry.read(|c| upgrades::list(c, name))?;
        Ok((owner, json!({"upgrades": rows})))
    }

    fn step(&self, id: i64, step: UpgradeStep, information: Option<&str>) -> Result<(), Failure> {
        self.registry
            .write(|tx| upgrades::set_step(tx, id, step, information, now_ms()))?;
        Ok(())
    }

    fn current_upgrade(&self, name: &str) -> Result<upgrades::Upgrade, Failure> {
        self.registry
            .read(|c| upgrades::open(c, name))?
            .ok_or_else(|| Failure::new("UpgradeError", "the upgrade's record is gone"))
    }

    fn run_upgrade(
        &self,
        op: &Operation,
        id: i64,
        package: &PackageId,
        metadata: &PackageMetadata,
    ) {
        let name = op.subject.as_str();
        self.hooks.pause("upgrade.intent");
        let result = self.upgrade_steps(op, id, package, metadata);
        match result {
            Ok(()) => {
                let info = format!("Upgraded to {package}");
                if let Err(e) = self.step(id, UpgradeStep::Done, Some(&info)) {
                    log::error!(
                        "upgrade {id} of {name}: cannot record its end: {}",
                        e.details
                    );
                }
                let _ = remove_dir_if_exists(&self.dirs.app_previous(name));
                self.settle_app(op, AppState::Started, Some(info), Outcome::Succeeded);
            }
            Err(failure) => self.roll_back_upgrade(op, &failure.details),
        }
    }

    fn upgrade_steps(
        &self,
        op: &Operation,
        id: i64,
        package: &PackageId,
        metadata: &PackageMetadata,
    ) -> Result<(), Failure> {
        let name = op.subject.as_str();
        let up = self.current_upgrade(name)?;
        let row = self.app_row(name)?;

        // 1. Stop the old version; note what each Flink job keeps.
        self.step(id, UpgradeStep::StoppingOld, None)?;
        let flink = self.savepoint_components(&row, None)?;
        let io = self.savepoint_io.as_deref();
        let mut before = BTreeMap::new();
        for c in &flink {
            let at = c.job.yarn_id.as_deref().and_then(|y| io?.locate(y).ok());
            let retained = at
                .as_ref()
                .and_then(|at| io?.checkpoints(at).ok())
                .and_then(|cp| {
                    cp["latest"]["completed"]["external_path"]
                        .as_str()
                        .map(str::to_string)
                });
            before.insert(
                c.record.name.clone(),
                (at.is_some(), retained, c.job.last_savepoint.clone()),
            );
        }
        for record in records(&row) {
            let healthy = before
                .get(&record.name)
                .is_some_and(|(healthy, _, _)| *healthy);
            let keep = up.mode == UpgradeMode::Savepoint && healthy;
            let stopped = self.with_ctx(&row, &record, |rt, ctx| match keep {
                true => rt.stop(ctx, &record.data),
                false => rt.cancel(ctx, &record.data),
            });
            stopped
                .unwrap_or_else(|| Err(format!("no runtime for {}", record.ty)))
                .map_err(|e| {
                    Failure::new(
                        "UpgradeError",
                        format!("stopping {}/{}: {e}", record.ty, record.name),
                    )
                })?;
            self.hooks.pause("upgrade.stopped");
        }
        let mut restore = Map::new();
        for c in self.savepoint_components(&row, None)? {
            let (_, retained, last_before) = before.remove(&c.record.name).unwrap_or_default();
            let stop_savepoint = c
                .job
                .last_savepoint
                .clone()
                .filter(|p| Some(p) != last_before.as_ref());
            if let Some(path) = &stop_savepoint {
                self.catalogue_savepoint(&row, &c, path, Trigger::Upgrade)?;
            }
            let rows = self
                .registry
                .read(|conn| catalog::list(conn, name, Some(&c.record.name)))?;
            let catalogued = policy::latest_completed(&rows).and_then(|s| s.path.clone());
            let chosen = upgrades::restore_for(
                up.mode,
                stop_savepoint.as_deref(),
                retained.as_deref(),
                catalogued.as_deref(),
            )
            .map_err(|e| Failure::new("UpgradeError", format!("{}: {e}", c.record.name)))?;
            restore.insert(
                c.record.name.clone(),
                chosen.map_or(Value::Null, Value::String),
            );
        }
        self.registry
            .write(|tx| upgrades::set_restore(tx, id, &restore))?;

        // 2. Switch to the new version's files and create data, the old ones kept aside.
        self.step(id, UpgradeStep::Switching, None)?;
        let (app_dir, previous) = (self.dirs.app(name), self.dirs.app_previous(name));
        remove_dir_if_exists(&previous)
            .map_err(|e| Failure::io("cannot clear the previous version's folder", e))?;
        std::fs::rename(&app_dir, &previous)
            .map_err(|e| Failure::io("cannot keep the previous version aside", e))?;
        let overrides = up.to_overrides.as_object().cloned().unwrap_or_default();
        let create_data = self.make_components(name, &row.user, package, metadata, &overrides)?;
        self.registry.write(|tx| {
            tx.execute(
                "UPDATE applications SET package = ?2, overrides = ?3, defaults = ?4, create_data = ?5, updated_at = ?6 WHERE name = ?1",
                rusqlite::params![
                    name,
                    package.as_str(),
                    Value::Object(overrides.clone()).to_string(),
                    metadata.defaults().to_string(),
                    Value::Object(create_data).to_string(),
                    registry::now()
                ],
            )?;
            Ok(())
        })?;
        self.hooks.pause("upgrade.switched");

        // 3. Start the new version from what was kept.
        self.step(id, UpgradeStep::StartingNew, None)?;
        let row = self.app_row(name)?;
        let options = self.options_from(&row, &restore)?;
        self.act_on_components(op, "upgrade.component", |rt, ctx, data| {
            rt.start(
                ctx,
                data,
                &options.get(ctx.component).cloned().unwrap_or_default(),
            )
        })?;

        // 4. Wait until it comes up.
        self.step(id, UpgradeStep::WaitingReady, None)?;
        let mut readiness = Readiness::new(now_ms(), up.ready_sec, up.timeout_sec);
        loop {
            let (not_running, gave_up) = self.not_running(&row);
            match readiness.observe(&not_running, gave_up.as_deref(), now_ms()) {
                Verdict::Ready => return Ok(()),
                Verdict::Failed(why) => return Err(Failure::new("UpgradeError", why)),
                Verdict::Waiting => std::thread::sleep(READINESS_TICK),
            }
        }
    }

    /// The Flink components of `row` not running all their tasks, and why one was given up on.
    fn not_running(&self, row: &AppRow) -> (Vec<String>, Option<String>) {
        let Ok(components) = self.savepoint_components(row, None) else {
            return (vec!["the supervisor".into()], None);
        };
        let io = self.savepoint_io.as_deref();
        let mut not_running = Vec::new();
        for c in components {
            if let Some(why) = &c.job.gave_up {
                return (
                    vec![c.record.name.clone()],
                    Some(format!("{}: {why}", c.record.name)),
                );
            }
            let runs = c
                .job
                .yarn_id
                .as_deref()
                .is_some_and(|y| io.is_some_and(|io| io.locate(y).is_ok()));
            if !runs {
                not_running.push(c.record.name.clone());
            }
        }
        (not_running, None)
    }

    /// Start options from an upgrade's restore choices, recorded as each component's lineage.
    fn options_from(
        &self,
        row: &AppRow,
        restore: &Map<String, Value>,
    ) -> Result<BTreeMap<String, StartOptions>, Failure> {
        let mut options = BTreeMap::new();
        for (component, path) in restore {
            let path = path.as_str().map(str::to_string);
            self.registry.write(|tx| {
                let rows = catalog::list(tx, &row.name, Some(component))?;
                let savepoint = rows.iter().find(|s| s.path.is_some() && s.path == path);
                catalog::record_restore(tx, &row.name, component, savepoint, now_ms())
            })?;
            let restore = match path {
                Some(path) => Restore::Savepoint { path },
                None => Restore::Empty,
            };
            options.insert(
                component.clone(),
                StartOptions {
                    restore,
                    allow_non_restored_state: false,
                },
            );
        }
        Ok(options)
    }

    /// Puts the previous version back and starts it from the upgrade's savepoint, or (without
    /// rollback) leaves the new one with the reason. Also recovery's way out of an upgrade a
    /// crash interrupted.
    pub(super) fn roll_back_upgrade(&self, op: &Operation, why: &str) {
        let name = op.subject.as_str();
        let up = match self.registry.read(|c| upgrades::open(c, name)) {
            Ok(Some(up)) => up,
            _ => {
                // Claimed, but nothing was recorded or done: it runs as before.
                let back = AppState::parse(&op.from_state).unwrap_or(AppState::Started);
                let info = Failure::new("UpgradeError", why).information(op.kind, name);
                return self.settle_app(op, back, Some(info), Outcome::RolledBack);
            }
        };
        if up.step == UpgradeStep::Claimed {
            let _ = self.step(up.id, UpgradeStep::Failed, Some(why));
            let back = AppState::parse(&op.from_state).unwrap_or(AppState::Started);
            let info = format!("Upgrade to {} not started: {why}", up.to_package);
            return self.settle_app(op, back, Some(info), Outcome::RolledBack);
        }
        let switched = matches!(
            up.step,
            UpgradeStep::StartingNew | UpgradeStep::WaitingReady | UpgradeStep::RollingBack
        ) || self.dirs.app_previous(name).exists();
        if !up.rollback && switched {
            let info = format!(
                "Upgrade to {} failed and was not rolled back (rollback: false): {why}",
                up.to_package
            );
            let _ = self.step(up.id, UpgradeStep::Failed, Some(&info));
            return self.settle_app(op, AppState::Started, Some(info), Outcome::Failed);
        }
        log::warn!(
            "upgrade {} of {name}: rolling back to {}: {why}",
            up.id,
            up.from_package
        );
        match self.roll_back_steps(op, &up, switched) {
            Ok(()) => {
                let info = format!(
                    "Rolled back to {} from {}: {why}",
                    up.from_package, up.to_package
                );
                let _ = self.step(up.id, UpgradeStep::RolledBack, Some(&info));
                self.settle_app(op, AppState::RolledBack, Some(info), Outcome::RolledBack);
            }
            Err(failure) => {
                let info = format!(
                    "Upgrade to {} failed ({why}) and so did its rollback: {}",
                    up.to_package, failure.details
                );
                let _ = self.step(up.id, UpgradeStep::Failed, Some(&info));
                self.settle_app(op, AppState::Created, Some(info), Outcome::Failed);
            }
        }
    }

    fn roll_back_steps(
        &self,
        op: &Operation,
        up: &upgrades::Upgrade,
        switched: bool,
    ) -> Result<(), Failure> {
        let name = op.subject.as_str();
        self.step(up.id, UpgradeStep::RollingBack, None)?;
        let row = self.app_row(name)?;
        // Whatever runs now (the new version, or what is left of the old) stops, keeping
        // nothing: the old version resumes from the upgrade's savepoint.
        for (component, result) in self.each_component(&row, |rt, ctx, data| rt.cancel(ctx, data)) {
            result
                .map_err(|e| Failure::new("RollbackError", format!("stopping {component}: {e}")))?;
        }
        if switched {
            let (app_dir, previous) = (self.dirs.app(name), self.dirs.app_previous(name));
            if previous.exists() {
                remove_dir_if_exists(&app_dir)
                    .map_err(|e| Failure::io("cannot remove the new version's folder", e))?;
                std::fs::rename(&previous, &app_dir)
                    .map_err(|e| Failure::io("cannot put the previous version back", e))?;
            }
            let p = &up.previous;
            self.registry.write(|tx| {
                tx.execute(
                    "UPDATE applications SET package = ?2, overrides = ?3, defaults = ?4, create_data = ?5, updated_at = ?6 WHERE name = ?1",
                    rusqlite::params![
                        name,
                        p["package"].as_str().unwrap_or(&up.from_package),
                        p["overrides"].to_string(),
                        p["defaults"].to_string(),
                        (!p["create_data"].is_null()).then(|| p["create_data"].to_string()),
                        registry::now()
                    ],
                )?;
                Ok(())
            })?;
        }
        let row = self.app_row(name)?;
        // Each component's create runs again for the restored version: what it staged outside
        // its folder (an Oozie workflow on HDFS) is the old version's again.
        let mut create_data = row
            .create_data
            .clone()
            .and_then(|d| d.as_object().cloned())
            .unwrap_or_default();
        for record in records(&row) {
            let made = self.with_ctx(&row, &record, |rt, ctx| rt.create(ctx));
            let data = made
                .unwrap_or_else(|| Err(format!("no runtime for {}", record.ty)))
                .map_err(|e| {
                    Failure::new(
                        "RollbackError",
                        format!("{}/{}: {e}", record.ty, record.name),
                    )
                })?;
            if let Some(entry) = create_data
                .get_mut(&record.ty)
                .and_then(Value::as_array_mut)
                .and_then(|list| {
                    list.iter_mut()
                        .find(|c| c["component_name"] == record.name.as_str())
                })
            {
                entry["runtime"] = data;
            }
        }
        self.registry.write(|tx| {
            tx.execute(
                "UPDATE applications SET create_data = ?2 WHERE name = ?1",
                rusqlite::params![name, Value::Object(create_data).to_string()],
            )?;
            Ok(())
        })?;
        let row = self.app_row(name)?;
        // From the savepoint the upgrade took; else (a crash before it was recorded) the latest.
        let options = match up.restore.is_empty() {
            false => self.options_from(&row, &up.restore)?,
            true => self
                .restore_options(&row, crate::savepoints::RestoreChoice::Latest, false)
                .map_err(Failure::from)?,
        };
        self.act_on_components(op, "upgrade.rollback", |rt, ctx, data| {
            rt.start(
                ctx,
                data,
                &options.get(ctx.component).cloned().unwrap_or_default(),
            )
        })
    }
}
