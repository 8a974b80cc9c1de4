//! The savepoint catalog's operations ([`crate::savepoints`]): list, trigger, dispose, and what
//! a start restores from. Triggers are written to the catalog before they are sent.

use super::applications::records;
use super::{ComponentRecord, Engine};
use crate::cluster::now_ms;
use crate::error::DmError;
use crate::registry::{self, AppRow};
use crate::runtime::{ComponentContext, SavepointJob, StartOptions};
use crate::savepoints::catalog::{self, NewSavepoint, Outcome};
use crate::savepoints::policy::{self, Schedule, Seen};
use crate::savepoints::worker::FlinkIo;
use crate::savepoints::{RestoreChoice, Savepoint, SavepointState, Trigger};
use dm_supervisor::protocol::Restore;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A component whose job takes savepoints, with what its runtime knows of the job.
pub(super) struct SavepointComponent {
    pub(super) record: ComponentRecord,
    pub(super) job: SavepointJob,
}

impl Engine {
    fn flink_io(&self) -> Result<&dyn FlinkIo, DmError> {
        self.savepoint_io.as_deref().ok_or_else(|| {
            DmError::Unavailable(
                "savepoints need YARN's ResourceManager: [yarn] rm_url is not set".into(),
            )
        })
    }

    pub(super) fn app_row(&self, name: &str) -> Result<AppRow, DmError> {
        self.registry
            .read(|c| registry::get_app(c, name))?
            .ok_or_else(|| {
                DmError::not_found("NOTCREATED", format!("Application {name} does not exist"))
            })
    }

    /// The application's components that take savepoints (`only`: just that one, which must be
    /// one of them).
    pub(super) fn savepoint_components(
        &self,
        row: &AppRow,
        only: Option<&str>,
    ) -> Result<Vec<SavepointComponent>, DmError> {
        let mut found = Vec::new();
        for record in records(row) {
            if only.is_some_and(|c| c != record.name) {
                continue;
            }
            let Some(runtime) = self.runtimes.get(&record.ty) else {
                continue;
            };
            let dir = self.dirs.app(&row.name).join(&record.ty).join(&record.name);
            let ctx = ComponentContext {
                application: &row.name,
                component_type: &record.ty,
                component: &record.name,
                dir: &dir,
                properties: &record.properties,
            };
            let job = runtime
                .savepoint_job(&ctx, &record.data)
                .map_err(|e| DmError::Unavailable(format!("{}/{}: {e}", record.ty, record.name)))?;
            if let Some(job) = job {
                found.push(SavepointComponent { record, job });
            }
        }
        if let Some(name) = only {
            if found.is_empty() {
                return Err(DmError::BadRequest(format!(
                    "{name} is not a component of {} whose job takes savepoints",
                    row.name
                )));
            }
        }
        Ok(found)
    }

    pub(super) fn with_ctx<T>(
        &self,
        row: &AppRow,
        record: &ComponentRecord,
        act: impl FnOnce(&dyn crate::runtime::ComponentRuntime, &ComponentContext) -> T,
    ) -> Option<T> {
        let runtime = self.runtimes.get(&record.ty)?;
        let dir = self.dirs.app(&row.name).join(&record.ty).join(&record.name);
        let ctx = ComponentContext {
            application: &row.name,
            component_type: &record.ty,
            component: &record.name,
            dir: &dir,
            properties: &record.properties,
        };
        Some(act(runtime.as_ref(), &ctx))
    }

    /// `GET /applications/{a}/savepoints`: the catalog (newest first) and, for each running
    /// job, the checkpoints Flink retained (read-only).
    pub fn list_savepoints(
        &self,
        name: &str,
        component: Option<&str>,
    ) -> Result<(Option<String>, Value), DmError> {
        let Some(row) = self.registry.read(|c| registry::get_app(c, name))? else {
            return Ok((None, json!({"savepoints": [], "checkpoints": {}})));
        };
        let rows = self.registry.read(|c| catalog::list(c, name, component))?;
        let mut checkpoints = serde_json::Map::new();
        if row.state.runs() {
            if let Ok(io) = self.flink_io() {
                for c in self
                    .savepoint_components(&row, component)
                    .unwrap_or_default()
                {
                    let Some(yarn_id) = &c.job.yarn_id else {
                        continue;
                    };
                    let seen = io.locate(yarn_id).and_then(|at| io.checkpoints(&at));
                    let value = seen.unwrap_or_else(|e| json!({"error": e.to_string()}));
                    checkpoints.insert(c.record.name.clone(), value);
                }
            }
        }
        Ok((
            Some(row.user),
            json!({"savepoints": rows, "checkpoints": checkpoints}),
        ))
    }

    /// `POST /applications/{a}/savepoints`: a savepoint of each running job (of `component`'s
    /// only, when given), now. The rows are `IN_PROGRESS`; the catalog's thread follows them.
    pub fn trigger_savepoints(
        &self,
        name: &str,
        component: Option<&str>,
    ) -> Result<Vec<Savepoint>, DmError> {
        let row = self.app_row(name)?;
        if !row.state.runs() {
            return Err(DmError::conflict(
                row.state.as_str(),
                format!(
                    "Application {name} is {}: only a STARTED application's jobs take savepoints",
                    row.state
                ),
            ));
        }
        let components = self.savepoint_components(&row, component)?;
        if components.is_empty() {
            return Err(DmError::BadRequest(format!(
                "Application {name} has no component whose job takes savepoints"
            )));
        }
        components
            .iter()
            .map(|c| self.trigger_one(&row, c, Trigger::Manual))
            .collect()
    }

    fn trigger_one(
        &self,
        row: &AppRow,
        c: &SavepointComponent,
        trigger: Trigger,
    ) -> Result<Savepoint, DmError> {
        let component = &c.record.name;
        let yarn_id = c.job.yarn_id.as_ref().ok_or_else(|| {
            DmError::conflict(
                "NOT_RUNNING",
                format!("{component} has no running job to take a savepoint of"),
            )
        })?;
        let io = self.flink_io()?;
        let at = io.locate(yarn_id).map_err(|e| {
            DmError::conflict(
                "NOT_RUNNING",
                format!("{component}: no running Flink job found: {e}"),
            )
        })?;
        let id = self.registry.write(|tx| {
            let in_flight = catalog::list(tx, &row.name, Some(component))?
                .into_iter()
                .find(|s| s.state == SavepointState::InProgress);
            if let Some(s) = in_flight {
                return Err(DmError::conflict(
                    "IN_PROGRESS",
                    format!("savepoint {} of {component} is still in progress", s.id),
                ));
            }
            catalog::insert(
                tx,
                &NewSavepoint {
                    application: &row.name,
                    component,
                    flink_version: c.job.flink_version.as_deref(),
                    trigger,
                    package: &row.package,
                    now_ms: now_ms(),
                },
            )
        })?;
        self.hooks.pause("savepoint.recorded");
        let sent = io.trigger(&at, c.job.savepoint_dir.as_deref());
        self.registry.write(|tx| match &sent {
            Ok(request) => catalog::set_sent(tx, id, &at.job_id, &at.yarn_id, request),
            Err(e) => catalog::finish(
                tx,
                id,
                &Outcome::Failed {
                    error: e.to_string(),
                },
                now_ms(),
            ),
        })?;
        log::info!(
            "savepoint {id} of {}/{component} ({trigger}): {}",
            row.name,
            match &sent {
                Ok(request) => format!("triggered on job {} ({request})", at.job_id),
                Err(e) => format!("not triggered: {e}"),
            }
        );
        match sent {
            Ok(_) => self
                .registry
                .read(|c| catalog::get(c, &row.name, id))?
                .ok_or_else(|| DmError::Internal(format!("savepoint {id} vanished"))),
            Err(e) => Err(DmError::Unavailable(format!("{component}: {e}"))),
        }
    }

    /// `DELETE /applications/{a}/savepoints/{id}`: disposes of a savepoint; its row stays,
    /// `DISPOSED`.
    pub fn dispose_savepoint(&self, name: &str, id: i64) -> Result<Savepoint, DmError> {
        let row = self.app_row(name)?;
        let target = self
            .registry
            .read(|c| catalog::get(c, name, id))?
            .ok_or_else(|| {
                DmError::not_found(
                    "NOTFOUND",
                    format!("savepoint {id} is not in {name}'s catalog"),
                )
            })?;
        let rows = self
            .registry
            .read(|c| catalog::list(c, name, Some(&target.component)))?;
        let restored_from = self
            .registry
            .read(|c| catalog::restored_from(c, name, &target.component))?;
        let running_from = row.state.runs().then_some(restored_from).flatten();
        policy::may_dispose(&target, &rows, running_from)
            .map_err(|why| DmError::conflict(target.state.as_str(), why))?;
        if let Some(path) = &target.path {
            let io = self.flink_io()?;
            // A JobManager of the component disposes of it; else its folder goes from HDFS.
            let jobmanager = if row.state.runs() {
                self.savepoint_components(&row, Some(&target.component))
                    .ok()
                    .and_then(|mut c| c.pop())
                    .and_then(|c| c.job.yarn_id)
                    .and_then(|yarn_id| io.locate(&yarn_id).ok())
                    .map(|at| at.jobmanager)
            } else {
                None
            };
            io.dispose(jobmanager.as_deref(), path).map_err(|e| {
                DmError::Unavailable(format!("cannot dispose of savepoint {id} at {path}: {e}"))
            })?;
        }
        self.registry
            .write(|tx| catalog::finish(tx, id, &Outcome::Disposed, now_ms()))?;
        log::info!("savepoint {id} of {name}/{} disposed", target.component);
        self.registry
            .read(|c| catalog::get(c, name, id))?
            .ok_or_else(|| DmError::Internal(format!("savepoint {id} vanished")))
    }

    /// Checks a start's `?savepoint=` before anything is claimed: an id must be a completed
    /// savepoint of this application.
    pub(super) fn check_restore(&self, name: &str, choice: RestoreChoice) -> Result<(), DmError> {
        if let RestoreChoice::Id(id) = choice {
            let rows = self.registry.read(|c| catalog::list(c, name, None))?;
            let target = rows.iter().find(|s| s.id == id).ok_or_else(|| {
                DmError::BadRequest(format!("savepoint {id} is not in {name}'s catalog"))
            })?;
            policy::restore_point(choice, &target.component, &rows).map_err(DmError::BadRequest)?;
        }
        Ok(())
    }

    /// What each savepoint-taking component of `row` starts from, recorded as its lineage.
    /// A savepoint the supervisor holds that the catalog does not know (a stop's, taken while
    /// dmd was down) is catalogued first.
    pub(super) fn restore_options(
        &self,
        row: &AppRow,
        choice: RestoreChoice,
        allow_non_restored_state: bool,
    ) -> Result<BTreeMap<String, StartOptions>, DmError> {
        let mut options = BTreeMap::new();
        for c in self.savepoint_components(row, None)? {
            self.catalogue_last_savepoint(row, &c)?;
            let component = c.record.name.clone();
            let restore = self.registry.write(|tx| {
                let rows = catalog::list(tx, &row.name, None)?;
                let point = policy::restore_point(choice, &component, &rows)
                    .map_err(DmError::BadRequest)?;
                catalog::record_restore(tx, &row.name, &component, point, now_ms())?;
                Ok(match point.and_then(|s| s.path.clone()) {
                    Some(path) => Restore::Savepoint { path },
                    None => Restore::Empty,
                })
            })?;
            log::info!("{}/{component} starts from {restore:?}", row.name);
            options.insert(
                component,
                StartOptions {
                    restore,
                    allow_non_restored_state,
                },
            );
        }
        Ok(options)
    }

    /// Records the savepoint a stop left with the supervisor, if the catalog lacks it.
    pub(super) fn catalogue_stop_savepoints(&self, name: &str) {
        let result = self.app_row(name).and_then(|row| {
            self.savepoint_components(&row, None)?
                .iter()
                .try_for_each(|c| self.catalogue_last_savepoint(&row, c))
        });
        if let Err(e) = result {
            log::error!("cannot record the stop savepoints of {name} in the catalog: {e}");
        }
    }

    fn catalogue_last_savepoint(
        &self,
        row: &AppRow,
        c: &SavepointComponent,
    ) -> Result<(), DmError> {
        match &c.job.last_savepoint {
            Some(path) => self
                .catalogue_savepoint(row, c, path, Trigger::Stop)
                .map(drop),
            None => Ok(()),
        }
    }

    /// Records a completed savepoint at `path` unless the catalog has it; its id either way.
    pub(super) fn catalogue_savepoint(
        &self,
        row: &AppRow,
        c: &SavepointComponent,
        path: &str,
        trigger: Trigger,
    ) -> Result<i64, DmError> {
        self.registry.write(|tx| {
            let known = catalog::list(tx, &row.name, Some(&c.record.name))?
                .into_iter()
                .find(|s| s.path.as_deref() == Some(path));
            if let Some(known) = known {
                return Ok(known.id);
            }
            let id = catalog::insert_completed(
                tx,
                &NewSavepoint {
                    application: &row.name,
                    component: &c.record.name,
                    flink_version: c.job.flink_version.as_deref(),
                    trigger,
                    package: &row.package,
                    now_ms: now_ms(),
                },
                None,
                None,
                path,
            )?;
            log::info!(
                "savepoint {id} of {}/{} ({trigger}) at {path}",
                row.name,
                c.record.name
            );
            Ok(id)
        })
    }

    /// Follows every trigger in flight to its end (the catalog's thread).
    pub(crate) fn resolve_triggers(&self) -> Result<(), DmError> {
        let rows = self.registry.read(catalog::in_progress)?;
        if rows.is_empty() {
            return Ok(());
        }
        let io = self.flink_io()?;
        for row in rows {
            let seen = match (&row.flink_trigger, &row.yarn_id, &row.job_id) {
                (Some(trigger), Some(yarn_id), Some(job_id)) => match io.locate(yarn_id) {
                    Ok(at) => io.poll(&at.jobmanager, job_id, trigger),
                    Err(e) => Seen::Unreachable {
                        error: e.to_string(),
                    },
                },
                // Written, then dmd stopped before it was sent: recovery's case. A row still
                // being sent by a request right now is younger than a tick.
                _ if now_ms() - row.created_ms
                    > 2 * crate::savepoints::worker::TICK.as_millis() as i64 =>
                {
                    Seen::NotSent
                }
                _ => continue,
            };
            let Some(outcome) = policy::resolve(&row, &seen, now_ms()) else {
                continue;
            };
            self.registry
                .write(|tx| catalog::finish(tx, row.id, &outcome, now_ms()))?;
            log::info!(
                "savepoint {} of {}/{}: {outcome:?}",
                row.id,
                row.application,
                row.component
            );
            if let Outcome::Completed { path } = &outcome {
                self.hand_over(&row, path);
            }
        }
        Ok(())
    }

    /// Tells the component's supervisor of a completed savepoint, so a respawn resumes from it.
    fn hand_over(&self, savepoint: &Savepoint, path: &str) {
        let Ok(app) = self.app_row(&savepoint.application) else {
            return;
        };
        let Some(record) = records(&app)
            .into_iter()
            .find(|r| r.name == savepoint.component)
        else {
            return;
        };
        if let Some(Err(e)) = self.with_ctx(&app, &record, |rt, ctx| rt.record_savepoint(ctx, path))
        {
            log::warn!(
                "savepoint {}: cannot hand it to the supervisor: {e}",
                savepoint.id
            );
        }
    }

    /// Takes the periodic savepoints that are due and disposes of what retention removes.
    pub(crate) fn run_schedules(&self) -> Result<(), DmError> {
        if self.savepoint_io.is_none() {
            return Ok(());
        }
        for name in self.registry.read(registry::started_apps_with_savepoints)? {
            let Ok(row) = self.app_row(&name) else {
                continue;
            };
            let Ok(components) = self.savepoint_components(&row, None) else {
                continue;
            };
            for c in components {
                let schedule = match Schedule::from_properties(&c.record.properties) {
                    Ok(s) => s,
                    Err(e) => {
                        log::warn!("{name}/{}: {e}; no periodic savepoints", c.record.name);
                        continue;
                    }
                };
                let Some(since) = c.job.running_since_ms else {
                    continue;
                };
                let rows = self
                    .registry
                    .read(|conn| catalog::list(conn, &name, Some(&c.record.name)))?;
                if policy::periodic_due(&schedule, &rows, since, now_ms()) {
                    if let Err(e) = self.trigger_one(&row, &c, Trigger::Periodic) {
                        log::warn!("{name}/{}: periodic savepoint: {e}", c.record.name);
                    }
                }
                let restored_from = self
                    .registry
                    .read(|conn| catalog::restored_from(conn, &name, &c.record.name))?;
                for id in policy::expired(&schedule, &rows, restored_from, now_ms()) {
                    match self.dispose_savepoint(&name, id) {
                        Ok(_) => log::info!(
                            "{name}/{}: savepoint {id} removed by retention",
                            c.record.name
                        ),
                        Err(e) => log::warn!(
                            "{name}/{}: retention cannot dispose of savepoint {id}: {e}",
                            c.record.name
                        ),
                    }
                }
            }
        }
        Ok(())
    }
}
