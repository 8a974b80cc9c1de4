//! Upgrades of a running application to another deployed package version: their record in
//! the registry (`upgrades`, one row per attempt, written before each step so recovery knows
//! where a crash left one) and the pure decisions — what differs between the versions, what the
//! new version restores from, whether it came up. The steps themselves are
//! `lifecycle::upgrade`'s.

use crate::error::DmError;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

macro_rules! named {
    ($(#[$meta:meta])* $ty:ident { $($(#[$vmeta:meta])* $variant:ident = $name:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $ty { $($(#[$vmeta])* #[serde(rename = $name)] $variant),* }
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }
            pub fn parse(s: &str) -> Option<$ty> {
                match s { $($name => Some($ty::$variant),)* _ => None }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

named!(
    /// How the state of Flink jobs crosses an upgrade (the Flink operator's `upgradeMode`).
    UpgradeMode {
        /// Stop with a savepoint, start the new version from it; a job that cannot take one
        /// falls back to its latest retained checkpoint or catalogued savepoint.
        Savepoint = "savepoint",
        /// The latest retained checkpoint (or savepoint), without a savepoint at the stop.
        LastState = "last-state",
        /// Cancel, start empty.
        Stateless = "stateless",
    }
);

named!(
    /// Where an upgrade is; each is written before the step it names begins.
    UpgradeStep {
        Claimed = "CLAIMED",
        StoppingOld = "STOPPING_OLD",
        Switching = "SWITCHING",
        StartingNew = "STARTING_NEW",
        WaitingReady = "WAITING_READY",
        Done = "DONE",
        RollingBack = "ROLLING_BACK",
        RolledBack = "ROLLED_BACK",
        Failed = "FAILED",
    }
);

impl UpgradeStep {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            UpgradeStep::Done | UpgradeStep::RolledBack | UpgradeStep::Failed
        )
    }
}

/// `POST /applications/{a}/upgrade`'s body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpgradeRequest {
    pub package: String,
    #[serde(default = "default_mode")]
    pub mode: UpgradeMode,
    /// As in a create; the application's current overrides when absent.
    #[serde(default)]
    pub overrides: Option<Map<String, Value>>,
    /// Roll back by itself when the new version does not come up (default).
    #[serde(default = "yes")]
    pub rollback: bool,
    /// How long every job of the new version must run all its tasks (`upgrade_ready_sec`).
    #[serde(default)]
    pub upgrade_ready_sec: Option<u64>,
    /// Within how long (`upgrade_timeout_sec`).
    #[serde(default)]
    pub upgrade_timeout_sec: Option<u64>,
}

fn default_mode() -> UpgradeMode {
    UpgradeMode::Savepoint
}
fn yes() -> bool {
    true
}

pub const DEFAULT_READY_SEC: u64 = 60;
pub const DEFAULT_TIMEOUT_SEC: u64 = 300;

/// One upgrade attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Upgrade {
    pub id: i64,
    pub application: String,
    pub from_package: String,
    pub to_package: String,
    pub mode: UpgradeMode,
    pub rollback: bool,
    pub ready_sec: u64,
    pub timeout_sec: u64,
    pub step: UpgradeStep,
    /// Per savepoint-taking component: the savepoint or checkpoint the new version starts from.
    pub restore: Map<String, Value>,
    pub information: Option<String>,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    /// What the application was before: package, overrides, defaults, create data.
    #[serde(skip)]
    pub previous: Value,
    #[serde(skip)]
    pub to_overrides: Value,
}

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS upgrades (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    application  TEXT NOT NULL,
    from_package TEXT NOT NULL,
    to_package   TEXT NOT NULL,
    to_overrides TEXT NOT NULL,
    mode         TEXT NOT NULL,
    rollback     INTEGER NOT NULL,
    ready_sec    INTEGER NOT NULL,
    timeout_sec  INTEGER NOT NULL,
    step         TEXT NOT NULL,
    restore      TEXT NOT NULL DEFAULT '{}',
    previous     TEXT NOT NULL,
    information  TEXT,
    started_ms   INTEGER NOT NULL,
    finished_ms  INTEGER
);
CREATE INDEX IF NOT EXISTS upgrades_by_application ON upgrades(application, id);
";

const COLUMNS: &str =
    "id, application, from_package, to_package, to_overrides, mode, rollback, ready_sec, \
    timeout_sec, step, restore, previous, information, started_ms, finished_ms";

fn row(r: &Row) -> rusqlite::Result<Upgrade> {
    let json = |i: usize| -> rusqlite::Result<Value> {
        let text: String = r.get(i)?;
        serde_json::from_str(&text).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
        })
    };
    let named = |i: usize, value: Option<&str>| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unknown value {value:?} in the upgrades table").into(),
        )
    };
    let mode: String = r.get(5)?;
    let step: String = r.get(9)?;
    Ok(Upgrade {
        id: r.get(0)?,
        application: r.get(1)?,
        from_package: r.get(2)?,
        to_package: r.get(3)?,
        to_overrides: json(4)?,
        mode: UpgradeMode::parse(&mode).ok_or_else(|| named(5, Some(&mode)))?,
        rollback: r.get(6)?,
        ready_sec: r.get(7)?,
        timeout_sec: r.get(8)?,
        step: UpgradeStep::parse(&step).ok_or_else(|| named(9, Some(&step)))?,
        restore: json(10)?.as_object().cloned().unwrap_or_default(),
        previous: json(11)?,
        information: r.get(12)?,
        started_ms: r.get(13)?,
        finished_ms: r.get(14)?,
    })
}

/// The attempt about to begin.
pub struct NewUpgrade<'a> {
    pub application: &'a str,
    pub from_package: &'a str,
    pub to_package: &'a str,
    pub to_overrides: &'a Value,
    pub mode: UpgradeMode,
    pub rollback: bool,
    pub ready_sec: u64,
    pub timeout_sec: u64,
    pub previous: &'a Value,
    pub now_ms: i64,
}

pub fn insert(conn: &Connection, new: &NewUpgrade) -> Result<i64, DmError> {
    conn.execute(
        "INSERT INTO upgrades (application, from_package, to_package, to_overrides, mode, rollback, ready_sec, timeout_sec, step, previous, started_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'CLAIMED', ?9, ?10)",
        params![
            new.application,
            new.from_package,
            new.to_package,
            new.to_overrides.to_string(),
            new.mode.as_str(),
            new.rollback,
            new.ready_sec,
            new.timeout_sec,
            new.previous.to_string(),
            new.now_ms
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Records the next step (and, for a final one, when it ended).
pub fn set_step(
    conn: &Connection,
    id: i64,
    step: UpgradeStep,
    information: Option<&str>,
    now_ms: i64,
) -> Result<(), DmError> {
    conn.execute(
        "UPDATE upgrades SET step = ?2, information = COALESCE(?3, information), finished_ms = ?4 WHERE id = ?1",
        params![id, step.as_str(), information, step.is_final().then_some(now_ms)],
    )?;
    Ok(())
}

pub fn set_restore(
    conn: &Connection,
    id: i64,
    restore: &Map<String, Value>,
) -> Result<(), DmError> {
    conn.execute(
        "UPDATE upgrades SET restore = ?2 WHERE id = ?1",
        params![id, Value::Object(restore.clone()).to_string()],
    )?;
    Ok(())
}

/// The application's upgrades, newest first.
pub fn list(conn: &Connection, application: &str) -> Result<Vec<Upgrade>, DmError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM upgrades WHERE application = ?1 ORDER BY id DESC"
    ))?;
    let rows = stmt
        .query_map([application], row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The application's upgrade that has not ended, if any.
pub fn open(conn: &Connection, application: &str) -> Result<Option<Upgrade>, DmError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM upgrades WHERE application = ?1 AND step NOT IN ('DONE', 'ROLLED_BACK', 'FAILED') ORDER BY id DESC LIMIT 1"
    ))?;
    Ok(stmt.query_row([application], row).optional()?)
}

pub fn delete_application(conn: &Connection, application: &str) -> Result<(), DmError> {
    conn.execute("DELETE FROM upgrades WHERE application = ?1", [application])?;
    Ok(())
}

/// What keeps the new version from replacing the old one component for component: the same
/// component names of the same types, or a sentence per difference.
pub fn component_differences(old: &[(String, String)], new: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (ty, name) in old {
        match new.iter().find(|(_, n)| n == name) {
            None => problems.push(format!("component {name} ({ty}) is not in the new version")),
            Some((new_ty, _)) if new_ty != ty => problems.push(format!(
                "component {name} is {ty} now and {new_ty} in the new version"
            )),
            Some(_) => {}
        }
    }
    for (ty, name) in new {
        if !old.iter().any(|(_, n)| n == name) {
            problems.push(format!("component {name} ({ty}) is new in the new version"));
        }
    }
    problems
}

/// What a Flink component of the new version starts from: `Ok(None)` is empty state.
/// `stop_savepoint` is the one its stop took (savepoint mode), `retained` its latest retained
/// checkpoint seen before the stop, `catalogued` its newest completed savepoint in the catalog.
pub fn restore_for(
    mode: UpgradeMode,
    stop_savepoint: Option<&str>,
    retained: Option<&str>,
    catalogued: Option<&str>,
) -> Result<Option<String>, String> {
    let found = match mode {
        UpgradeMode::Stateless => return Ok(None),
        UpgradeMode::Savepoint => stop_savepoint.or(retained).or(catalogued),
        UpgradeMode::LastState => retained.or(catalogued),
    };
    found.map(|p| Some(p.to_string())).ok_or_else(|| {
        format!("{mode} mode: there is no savepoint or retained checkpoint to start the new version from")
    })
}

/// Whether the new version came up: every job runs all its tasks for `ready_ms`, within
/// `timeout_ms` of the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub started_ms: i64,
    pub ready_ms: i64,
    pub timeout_ms: i64,
    /// Since when every job has run all its tasks, without a break.
    pub running_since_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ready,
    Waiting,
    Failed(String),
}

impl Readiness {
    pub fn new(started_ms: i64, ready_sec: u64, timeout_sec: u64) -> Readiness {
        Readiness {
            started_ms,
            ready_ms: ready_sec as i64 * 1000,
            timeout_ms: timeout_sec as i64 * 1000,
            running_since_ms: None,
        }
    }

    /// Takes one look: `not_running` names the jobs not running all their tasks (empty: all
    /// do), `gave_up` a job the supervisor will not start again.
    pub fn observe(
        &mut self,
        not_running: &[String],
        gave_up: Option<&str>,
        now_ms: i64,
    ) -> Verdict {
        if let Some(why) = gave_up {
            return Verdict::Failed(format!("the new version cannot run: {why}"));
        }
        if not_running.is_empty() {
            let since = *self.running_since_ms.get_or_insert(now_ms);
            if now_ms - since >= self.ready_ms {
                return Verdict::Ready;
            }
        } else {
            self.running_since_ms = None;
        }
        if now_ms - self.started_ms > self.timeout_ms {
            return Verdict::Failed(match not_running.is_empty() {
                true => format!(
                    "the new version did not run for {} s in a row within {} s",
                    self.ready_ms / 1000,
                    self.timeout_ms / 1000
                ),
                false => format!(
                    "{} did not run all its tasks within {} s",
                    not_running.join(", "),
                    self.timeout_ms / 1000
                ),
            });
        }
        Verdict::Waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(t, n)| (t.to_string(), n.to_string()))
            .collect()
    }

    #[test]
    fn the_versions_must_have_the_same_components() {
        let old = pairs(&[("flink", "count"), ("sparkStreaming", "totals")]);
        assert!(component_differences(&old, &old).is_empty());
        let new = pairs(&[("flink", "count"), ("flink", "totals"), ("oozie", "daily")]);
        assert_eq!(
            component_differences(&old, &new),
            [
                "component totals is sparkStreaming now and flink in the new version",
                "component daily (oozie) is new in the new version"
            ]
        );
        assert_eq!(
            component_differences(&old, &pairs(&[("flink", "count")])),
            ["component totals (sparkStreaming) is not in the new version"]
        );
    }

    #[test]
    fn each_mode_restores_from_its_own_source_or_refuses() {
        use UpgradeMode::*;
        let (sp, cp, cat) = (Some("/sp/stop"), Some("/cp/chk-9"), Some("/sp/old"));
        assert_eq!(restore_for(Stateless, sp, cp, cat), Ok(None));
        assert_eq!(
            restore_for(Savepoint, sp, cp, cat),
            Ok(Some("/sp/stop".into()))
        );
        // An unhealthy job took no stop savepoint: its latest checkpoint, else the catalog's.
        assert_eq!(
            restore_for(Savepoint, None, cp, cat),
            Ok(Some("/cp/chk-9".into()))
        );
        assert_eq!(
            restore_for(Savepoint, None, None, cat),
            Ok(Some("/sp/old".into()))
        );
        assert_eq!(
            restore_for(LastState, sp, cp, cat),
            Ok(Some("/cp/chk-9".into()))
        );
        assert_eq!(
            restore_for(LastState, sp, None, cat),
            Ok(Some("/sp/old".into()))
        );
        let refused = restore_for(Savepoint, None, None, None).unwrap_err();
        assert!(
            refused.starts_with("savepoint mode: there is no savepoint"),
            "{refused}"
        );
    }

    #[test]
    fn ready_after_running_without_a_break_for_the_ready_time() {
        let mut r = Readiness::new(0, 60, 300);
        let busy = ["count".to_string()];
        assert_eq!(r.observe(&busy, None, 10_000), Verdict::Waiting);
        assert_eq!(r.observe(&[], None, 20_000), Verdict::Waiting);
        assert_eq!(r.observe(&[], None, 79_999), Verdict::Waiting);
        // A break starts the count again.
        assert_eq!(r.observe(&busy, None, 80_000), Verdict::Waiting);
        assert_eq!(r.observe(&[], None, 90_000), Verdict::Waiting);
        assert_eq!(r.observe(&[], None, 150_000), Verdict::Ready);
    }

    #[test]
    fn not_ready_within_the_timeout_or_given_up_fails() {
        let mut r = Readiness::new(0, 60, 300);
        let busy = ["count".to_string()];
        assert_eq!(r.observe(&busy, None, 300_000), Verdict::Waiting);
        assert_eq!(
            r.observe(&busy, None, 300_001),
            Verdict::Failed("count did not run all its tasks within 300 s".into())
        );
        let mut r = Readiness::new(0, 60, 300);
        assert_eq!(r.observe(&[], None, 260_000), Verdict::Waiting);
        assert_eq!(
            r.observe(&[], None, 300_001),
            Verdict::Failed("the new version did not run for 60 s in a row within 300 s".into())
        );
        let mut r = Readiness::new(0, 60, 300);
        assert_eq!(
            r.observe(&busy, Some("start limit hit"), 1),
            Verdict::Failed("the new version cannot run: start limit hit".into())
        );
    }

    #[test]
    fn requests_default_to_savepoint_mode_with_rollback() {
        let r: UpgradeRequest =
            serde_json::from_value(serde_json::json!({"package": "app-2.0.0"})).unwrap();
        assert_eq!(
            (r.mode, r.rollback, r.overrides),
            (UpgradeMode::Savepoint, true, None)
        );
        let bad = serde_json::from_value::<UpgradeRequest>(
            serde_json::json!({"package": "a-2.0.0", "mode": "hot"}),
        );
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("unknown variant `hot`"));
        let bad = serde_json::from_value::<UpgradeRequest>(
            serde_json::json!({"package": "a-2.0.0", "rollbak": false}),
        );
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("unknown field `rollbak`"));
    }

    #[test]
    fn steps_are_recorded_in_order_and_the_open_one_is_found() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let previous = serde_json::json!({"package": "app-1.0.0"});
        let id = insert(
            &conn,
            &NewUpgrade {
                application: "app",
                from_package: "app-1.0.0",
                to_package: "app-2.0.0",
                to_overrides: &serde_json::json!({}),
                mode: UpgradeMode::Savepoint,
                rollback: true,
                ready_sec: 60,
                timeout_sec: 300,
                previous: &previous,
                now_ms: 5,
            },
        )
        .unwrap();
        assert_eq!(
            open(&conn, "app").unwrap().unwrap().step,
            UpgradeStep::Claimed
        );
        set_step(&conn, id, UpgradeStep::StoppingOld, None, 6).unwrap();
        let mut restore = Map::new();
        restore.insert("count".into(), Value::String("/sp/1".into()));
        set_restore(&conn, id, &restore).unwrap();
        let up = open(&conn, "app").unwrap().unwrap();
        assert_eq!(
            (up.step, up.restore, up.previous, up.finished_ms),
            (UpgradeStep::StoppingOld, restore, previous, None)
        );
        set_step(
            &conn,
            id,
            UpgradeStep::RolledBack,
            Some("did not come up"),
            9,
        )
        .unwrap();
        assert!(open(&conn, "app").unwrap().is_none());
        let all = list(&conn, "app").unwrap();
        assert_eq!(
            (all[0].finished_ms, all[0].information.as_deref()),
            (Some(9), Some("did not come up"))
        );
    }
}
