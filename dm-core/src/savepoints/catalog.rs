//! The catalog's tables in the registry: `savepoints` (one row per savepoint) and `restores`
//! (what each component's current run was started from, for lineage and disposal guards).

use super::{Savepoint, SavepointState, Trigger};
use crate::error::DmError;
use rusqlite::{params, Connection, OptionalExtension, Row};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS savepoints (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    application   TEXT NOT NULL,
    component     TEXT NOT NULL,
    flink_version TEXT,
    job_id        TEXT,
    yarn_id       TEXT,
    path          TEXT,
    trigger       TEXT NOT NULL,
    package       TEXT NOT NULL,
    created_ms    INTEGER NOT NULL,
    finished_ms   INTEGER,
    state         TEXT NOT NULL,
    error         TEXT,
    restored_from INTEGER,
    flink_trigger TEXT
);
CREATE INDEX IF NOT EXISTS savepoints_by_component ON savepoints(application, component, id);
CREATE INDEX IF NOT EXISTS savepoints_in_progress ON savepoints(state) WHERE state = 'IN_PROGRESS';
CREATE TABLE IF NOT EXISTS restores (
    application  TEXT NOT NULL,
    component    TEXT NOT NULL,
    savepoint_id INTEGER,
    path         TEXT,
    at_ms        INTEGER NOT NULL,
    PRIMARY KEY (application, component)
);
";

/// A savepoint about to be asked for.
#[derive(Debug, Clone)]
pub struct NewSavepoint<'a> {
    pub application: &'a str,
    pub component: &'a str,
    pub flink_version: Option<&'a str>,
    pub trigger: Trigger,
    pub package: &'a str,
    pub now_ms: i64,
}

const COLUMNS: &str = "id, application, component, flink_version, job_id, yarn_id, path, trigger, \
    package, created_ms, finished_ms, state, error, restored_from, flink_trigger";

fn row(r: &Row) -> rusqlite::Result<Savepoint> {
    let text = |i: usize| -> rusqlite::Result<String> { r.get(i) };
    let bad = |i: usize, what: &str, value: String| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("{what} {value:?} in the savepoints table").into(),
        )
    };
    let trigger = text(7)?;
    let state = text(11)?;
    Ok(Savepoint {
        id: r.get(0)?,
        application: r.get(1)?,
        component: r.get(2)?,
        flink_version: r.get(3)?,
        job_id: r.get(4)?,
        yarn_id: r.get(5)?,
        path: r.get(6)?,
        trigger: Trigger::parse(&trigger).ok_or_else(|| bad(7, "trigger", trigger.clone()))?,
        package: r.get(8)?,
        created_ms: r.get(9)?,
        finished_ms: r.get(10)?,
        state: SavepointState::parse(&state).ok_or_else(|| bad(11, "state", state.clone()))?,
        error: r.get(12)?,
        restored_from: r.get(13)?,
        flink_trigger: r.get(14)?,
    })
}

/// Writes an `IN_PROGRESS` row, with the lineage of the component's current run; its id.
pub fn insert(conn: &Connection, new: &NewSavepoint) -> Result<i64, DmError> {
    let restored_from = restored_from(conn, new.application, new.component)?;
    conn.execute(
        "INSERT INTO savepoints (application, component, flink_version, trigger, package, created_ms, state, restored_from)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'IN_PROGRESS', ?7)",
        params![
            new.application,
            new.component,
            new.flink_version,
            new.trigger.as_str(),
            new.package,
            new.now_ms,
            restored_from
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Records that the trigger reached Flink: the job it was sent to and Flink's request id.
pub fn set_sent(
    conn: &Connection,
    id: i64,
    job_id: &str,
    yarn_id: &str,
    flink_trigger: &str,
) -> Result<(), DmError> {
    conn.execute(
        "UPDATE savepoints SET job_id = ?2, yarn_id = ?3, flink_trigger = ?4 WHERE id = ?1",
        params![id, job_id, yarn_id, flink_trigger],
    )?;
    Ok(())
}

/// Where a savepoint's life ends (or goes on, for `Disposed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed { path: String },
    Failed { error: String },
    Disposed,
}

pub fn finish(conn: &Connection, id: i64, outcome: &Outcome, now_ms: i64) -> Result<(), DmError> {
    match outcome {
        Outcome::Completed { path } => conn.execute(
            "UPDATE savepoints SET state = 'COMPLETED', path = ?2, finished_ms = ?3, error = NULL WHERE id = ?1",
            params![id, path, now_ms],
        )?,
        Outcome::Failed { error } => conn.execute(
            "UPDATE savepoints SET state = 'FAILED', error = ?2, finished_ms = ?3 WHERE id = ?1",
            params![id, error, now_ms],
        )?,
        // Keeps `finished_ms`: when it was completed stays known.
        Outcome::Disposed => conn.execute(
            "UPDATE savepoints SET state = 'DISPOSED' WHERE id = ?1",
            params![id],
        )?,
    };
    Ok(())
}

/// Records a savepoint taken outside a trigger (a stop's), completed already; its id.
pub fn insert_completed(
    conn: &Connection,
    new: &NewSavepoint,
    job_id: Option<&str>,
    yarn_id: Option<&str>,
    path: &str,
) -> Result<i64, DmError> {
    let id = insert(conn, new)?;
    conn.execute(
        "UPDATE savepoints SET job_id = ?2, yarn_id = ?3 WHERE id = ?1",
        params![id, job_id, yarn_id],
    )?;
    finish(
        conn,
        id,
        &Outcome::Completed { path: path.into() },
        new.now_ms,
    )?;
    Ok(id)
}

/// The component's savepoints (every component's when `component` is `None`), newest first.
pub fn list(
    conn: &Connection,
    application: &str,
    component: Option<&str>,
) -> Result<Vec<Savepoint>, DmError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM savepoints WHERE application = ?1 AND (?2 IS NULL OR component = ?2) ORDER BY id DESC"
    ))?;
    let rows = stmt
        .query_map(params![application, component], row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn get(conn: &Connection, application: &str, id: i64) -> Result<Option<Savepoint>, DmError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM savepoints WHERE application = ?1 AND id = ?2"
    ))?;
    Ok(stmt.query_row(params![application, id], row).optional()?)
}

/// Every trigger still in flight, oldest first.
pub fn in_progress(conn: &Connection) -> Result<Vec<Savepoint>, DmError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM savepoints WHERE state = 'IN_PROGRESS' ORDER BY id"
    ))?;
    let rows = stmt.query_map([], row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Records what a component's run was started from (`None`: empty state).
pub fn record_restore(
    conn: &Connection,
    application: &str,
    component: &str,
    savepoint: Option<&Savepoint>,
    now_ms: i64,
) -> Result<(), DmError> {
    conn.execute(
        "INSERT OR REPLACE INTO restores (application, component, savepoint_id, path, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            application,
            component,
            savepoint.map(|s| s.id),
            savepoint.and_then(|s| s.path.as_deref()),
            now_ms
        ],
    )?;
    Ok(())
}

/// The catalog id of the savepoint the component's current run was started from.
pub fn restored_from(
    conn: &Connection,
    application: &str,
    component: &str,
) -> Result<Option<i64>, DmError> {
    let id: Option<Option<i64>> = conn
        .query_row(
            "SELECT savepoint_id FROM restores WHERE application = ?1 AND component = ?2",
            params![application, component],
            |r| r.get(0),
        )
        .optional()?;
    Ok(id.flatten())
}

/// Forgets a destroyed application's savepoints (their folders go with its HDFS leftovers).
pub fn delete_application(conn: &Connection, application: &str) -> Result<(), DmError> {
    conn.execute(
        "DELETE FROM savepoints WHERE application = ?1",
        [application],
    )?;
    conn.execute("DELETE FROM restores WHERE application = ?1", [application])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn
    }

    fn new<'a>(component: &'a str, trigger: Trigger, now_ms: i64) -> NewSavepoint<'a> {
        NewSavepoint {
            application: "app",
            component,
            flink_version: Some("2.3.0"),
            trigger,
            package: "pkg-1.0.0",
            now_ms,
        }
    }

    #[test]
    fn a_trigger_goes_from_in_progress_to_completed_and_disposed() {
        let c = conn();
        let id = insert(&c, &new("count", Trigger::Manual, 10)).unwrap();
        let row = get(&c, "app", id).unwrap().unwrap();
        assert_eq!(
            (row.state, row.path.clone(), row.flink_trigger.clone()),
            (SavepointState::InProgress, None, None)
        );
        assert_eq!(in_progress(&c).unwrap().len(), 1);
        set_sent(&c, id, "jid", "application_1_0001", "req").unwrap();
        finish(
            &c,
            id,
            &Outcome::Completed {
                path: "hdfs:///sp/savepoint-1".into(),
            },
            20,
        )
        .unwrap();
        let row = get(&c, "app", id).unwrap().unwrap();
        assert_eq!(row.state, SavepointState::Completed);
        assert_eq!(row.path.as_deref(), Some("hdfs:///sp/savepoint-1"));
        assert_eq!(
            (row.job_id.as_deref(), row.finished_ms),
            (Some("jid"), Some(20))
        );
        assert!(in_progress(&c).unwrap().is_empty());
        finish(&c, id, &Outcome::Disposed, 30).unwrap();
        let row = get(&c, "app", id).unwrap().unwrap();
        assert_eq!(
            (row.state, row.finished_ms),
            (SavepointState::Disposed, Some(20))
        );
    }

    #[test]
    fn rows_are_listed_newest_first_per_component_and_carry_their_lineage() {
        let c = conn();
        let first = insert_completed(&c, &new("a", Trigger::Stop, 1), None, None, "/sp/1").unwrap();
        record_restore(&c, "app", "a", get(&c, "app", first).unwrap().as_ref(), 2).unwrap();
        let second = insert(&c, &new("a", Trigger::Periodic, 3)).unwrap();
        insert(&c, &new("b", Trigger::Manual, 4)).unwrap();
        let a = list(&c, "app", Some("a")).unwrap();
        assert_eq!(
            a.iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![second, first]
        );
        assert_eq!(a[0].restored_from, Some(first));
        assert_eq!(a[1].restored_from, None);
        assert_eq!(list(&c, "app", None).unwrap().len(), 3);
        assert!(list(&c, "other", None).unwrap().is_empty());
        delete_application(&c, "app").unwrap();
        assert!(list(&c, "app", None).unwrap().is_empty());
        assert_eq!(restored_from(&c, "app", "a").unwrap(), None);
    }
}
