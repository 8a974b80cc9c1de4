//! Package operations: deploy and undeploy, and what is known of packages.

use super::*;

impl Engine {
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

    pub(super) fn roll_back_deploy(&self, op: &Operation, failure: Failure, outcome: Outcome) {
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

    pub(super) fn finish_undeploy(&self, op: &Operation, outcome: Outcome) {
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
}
