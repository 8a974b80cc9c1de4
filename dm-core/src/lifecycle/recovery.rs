//! Start-up recovery: every operation a previous run left open is finished or rolled back.

use super::*;

impl Engine {
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
                OpKind::Upgrade => {
                    self.roll_back_upgrade(&op, "dmd stopped during the upgrade");
                    Outcome::RolledBack
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
            // Put back or removed by the end of every upgrade, recovered ones included.
            (self.dirs.apps_root(), ".previous-"),
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
