//! The operation journal: a row is written (with the transient state, in the same transaction)
//! before an operation acts, and its outcome after. Rows without an outcome are operations that
//! were in flight when dmd stopped; start-up recovery finishes or rolls back each of them.

use crate::error::DmError;
use crate::registry::now;
use rusqlite::{params, Connection};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Deploy,
    Undeploy,
    Create,
    Start,
    Stop,
    Destroy,
    Upgrade,
}

impl OpKind {
    pub const ALL: [OpKind; 7] = [
        OpKind::Deploy,
        OpKind::Undeploy,
        OpKind::Create,
        OpKind::Start,
        OpKind::Stop,
        OpKind::Destroy,
        OpKind::Upgrade,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Deploy => "deploy",
            OpKind::Undeploy => "undeploy",
            OpKind::Create => "create",
            OpKind::Start => "start",
            OpKind::Stop => "stop",
            OpKind::Destroy => "destroy",
            OpKind::Upgrade => "upgrade",
        }
    }

    fn parse(s: &str) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The verb of PNDA's error messages: `Error <verb> <subject> …`.
    pub fn error_verb(self) -> &'static str {
        match self {
            OpKind::Deploy => "deploying",
            OpKind::Undeploy => "undeploying",
            OpKind::Create => "creating",
            OpKind::Start => "starting",
            OpKind::Stop => "stopping",
            OpKind::Destroy => "deleting",
            OpKind::Upgrade => "upgrading",
        }
    }
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
    /// Interrupted by a stop of dmd, then completed by start-up recovery.
    Finished,
    /// Interrupted by a stop of dmd, then undone by start-up recovery.
    RolledBack,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Finished => "finished_by_recovery",
            Outcome::RolledBack => "rolled_back_by_recovery",
        }
    }
}

/// An operation in flight.
#[derive(Debug, Clone)]
pub struct Operation {
    pub id: i64,
    pub kind: OpKind,
    pub subject: String,
    pub user: String,
    /// The stable state the subject was in before the operation.
    pub from_state: String,
    /// When this process took the operation on (for duration metrics).
    pub taken: std::time::Instant,
}

/// Records the intent. Call in the transaction that sets the transient state.
pub fn begin(
    conn: &Connection,
    kind: OpKind,
    subject: &str,
    user: &str,
    from_state: &str,
) -> Result<Operation, DmError> {
    conn.execute(
        "INSERT INTO operations (kind, subject, user, from_state, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![kind.as_str(), subject, user, from_state, now()],
    )?;
    Ok(Operation {
        id: conn.last_insert_rowid(),
        kind,
        subject: subject.into(),
        user: user.into(),
        from_state: from_state.into(),
        taken: std::time::Instant::now(),
    })
}

/// Records the outcome. Call in the transaction that sets the resulting state.
pub fn finish(
    conn: &Connection,
    op: &Operation,
    outcome: Outcome,
    information: Option<&str>,
) -> Result<(), DmError> {
    let changed = conn.execute(
        "UPDATE operations SET outcome = ?2, information = ?3, finished_at = ?4 WHERE id = ?1 AND outcome IS NULL",
        params![op.id, outcome.as_str(), information, now()],
    )?;
    if changed == 1 {
        Ok(())
    } else {
        Err(DmError::Internal(format!(
            "operation {} ({} {}) is not open in the journal",
            op.id,
            op.kind.as_str(),
            op.subject
        )))
    }
}

/// Operations without an outcome, oldest first.
pub fn open_operations(conn: &Connection) -> Result<Vec<Operation>, DmError> {
    let mut stmt = conn.prepare("SELECT id, kind, subject, user, from_state FROM operations WHERE outcome IS NULL ORDER BY id")?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(id, kind, subject, user, from_state)| {
            let kind = OpKind::parse(&kind).ok_or_else(|| {
                DmError::Internal(format!("journal operation {id} has unknown kind {kind}"))
            })?;
            Ok(Operation {
                id,
                kind,
                subject,
                user,
                from_state,
                taken: std::time::Instant::now(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    /// The outcome of an operation, `None` while open.
    fn outcome_of(conn: &Connection, id: i64) -> Result<Option<String>, DmError> {
        Ok(
            conn.query_row("SELECT outcome FROM operations WHERE id = ?1", [id], |r| {
                r.get(0)
            })?,
        )
    }

    #[test]
    fn open_until_finished_once() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::open(&dir.path().join("r.db")).unwrap();
        let op = registry
            .write(|tx| begin(tx, OpKind::Start, "app", "u", "CREATED"))
            .unwrap();
        let open = registry.read(open_operations).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(
            (open[0].kind, open[0].from_state.as_str()),
            (OpKind::Start, "CREATED")
        );
        registry
            .write(|tx| finish(tx, &op, Outcome::Failed, Some("why")))
            .unwrap();
        assert!(registry.read(open_operations).unwrap().is_empty());
        assert_eq!(
            registry.read(|c| outcome_of(c, op.id)).unwrap().as_deref(),
            Some("failed")
        );
        assert!(
            registry
                .write(|tx| finish(tx, &op, Outcome::Succeeded, None))
                .is_err(),
            "an outcome is written once"
        );
    }
}
