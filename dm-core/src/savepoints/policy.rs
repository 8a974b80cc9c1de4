//! The catalog's decisions, pure: rows (newest first, as [`super::catalog::list`] gives them)
//! and what was observed in, a decision out.

use super::{RestoreChoice, Savepoint, SavepointState, Trigger};
use serde_json::Value;

/// The newest completed savepoint among `rows` (newest first).
pub fn latest_completed(rows: &[Savepoint]) -> Option<&Savepoint> {
    rows.iter().find(|s| s.state == SavepointState::Completed)
}

/// What a component starts from: `Ok(None)` is empty state.
pub fn restore_point<'a>(
    choice: RestoreChoice,
    component: &str,
    rows: &'a [Savepoint],
) -> Result<Option<&'a Savepoint>, String> {
    let mine: Vec<&Savepoint> = rows.iter().filter(|s| s.component == component).collect();
    match choice {
        RestoreChoice::Empty => Ok(None),
        RestoreChoice::Latest => Ok(mine
            .into_iter()
            .find(|s| s.state == SavepointState::Completed)),
        RestoreChoice::Id(id) => match rows.iter().find(|s| s.id == id) {
            // Another component's savepoint: this one starts from its own latest.
            Some(s) if s.component != component => Ok(mine
                .into_iter()
                .find(|s| s.state == SavepointState::Completed)),
            Some(s) if s.state == SavepointState::Completed => Ok(Some(s)),
            Some(s) => Err(format!(
                "savepoint {id} is {}, not COMPLETED: it cannot be restored",
                s.state
            )),
            None => Err(format!(
                "savepoint {id} is not in this application's catalog"
            )),
        },
    }
}

/// Whether `target` may be disposed: never the newest completed savepoint of its component
/// (the one a restart resumes from), nor the one its running job was started from.
pub fn may_dispose(
    target: &Savepoint,
    rows: &[Savepoint],
    running_restored_from: Option<i64>,
) -> Result<(), String> {
    let id = target.id;
    match target.state {
        SavepointState::Disposed => return Err(format!("savepoint {id} is already DISPOSED")),
        SavepointState::InProgress => {
            return Err(format!(
                "savepoint {id} is IN_PROGRESS: wait until it completes or fails"
            ))
        }
        SavepointState::Completed | SavepointState::Failed => {}
    }
    if running_restored_from == Some(id) {
        return Err(format!(
            "savepoint {id} is the one {}'s running job was started from",
            target.component
        ));
    }
    let newest = rows
        .iter()
        .filter(|s| s.component == target.component)
        .find(|s| s.state == SavepointState::Completed);
    if newest.map(|s| s.id) == Some(id) {
        return Err(format!(
            "savepoint {id} is {}'s newest completed savepoint: the next start resumes from it",
            target.component
        ));
    }
    Ok(())
}

/// A component's periodic savepoints and their retention (its properties
/// `savepoint_interval_sec`, `savepoint_max_count`, `savepoint_max_age_sec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// `None`: no periodic savepoints (the default).
    pub interval_ms: Option<i64>,
    pub max_count: usize,
    pub max_age_ms: i64,
}

/// As the Flink operator's `savepoint.history.max.count` and `.max.age`.
pub const DEFAULT_MAX_COUNT: usize = 10;
pub const DEFAULT_MAX_AGE_SEC: i64 = 24 * 3600;

impl Schedule {
    /// Reads the schedule from a component's properties; a bad value names its key.
    pub fn from_properties(
        properties: &serde_json::Map<String, Value>,
    ) -> Result<Schedule, String> {
        let number = |key: &str| -> Result<Option<i64>, String> {
            let value = properties
                .get(&format!("component_{key}"))
                .or_else(|| properties.get(key));
            let parsed = match value {
                None | Some(Value::Null) => return Ok(None),
                Some(Value::Number(n)) => n.as_i64(),
                Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
                Some(Value::String(s)) => s.trim().parse().ok(),
                Some(_) => None,
            };
            match parsed {
                Some(n) if n > 0 => Ok(Some(n)),
                _ => Err(format!(
                    "{key} must be a whole number above 0, not {}",
                    value.unwrap()
                )),
            }
        };
        Ok(Schedule {
            interval_ms: number("savepoint_interval_sec")?.map(|s| s * 1000),
            max_count: number("savepoint_max_count")?.map_or(DEFAULT_MAX_COUNT, |n| n as usize),
            max_age_ms: number("savepoint_max_age_sec")?.unwrap_or(DEFAULT_MAX_AGE_SEC) * 1000,
        })
    }
}

/// Whether a periodic savepoint of the component is due at `now_ms`: an interval is set, no
/// trigger of it is in flight, and the last periodic or manual one (or the job's start, when
/// there is none since) is an interval ago.
pub fn periodic_due(
    schedule: &Schedule,
    rows: &[Savepoint],
    running_since_ms: i64,
    now_ms: i64,
) -> bool {
    let Some(interval) = schedule.interval_ms else {
        return false;
    };
    if rows.iter().any(|s| s.state == SavepointState::InProgress) {
        return false;
    }
    let last = rows
        .iter()
        .filter(|s| matches!(s.trigger, Trigger::Periodic | Trigger::Manual))
        .map(|s| s.created_ms)
        .filter(|&at| at >= running_since_ms)
        .max()
        .unwrap_or(running_since_ms);
    now_ms >= last + interval
}

/// The periodic savepoints retention disposes of: those beyond the newest `max_count` periodic
/// ones or older than `max_age`, never the component's newest completed savepoint (whatever
/// its trigger) nor the one its running job started from. Savepoints a user or an upgrade asked
/// for are kept until disposed by hand.
pub fn expired(
    schedule: &Schedule,
    rows: &[Savepoint],
    running_restored_from: Option<i64>,
    now_ms: i64,
) -> Vec<i64> {
    let newest = latest_completed(rows).map(|s| s.id);
    rows.iter()
        .filter(|s| s.trigger == Trigger::Periodic && s.state == SavepointState::Completed)
        .enumerate()
        .filter(|(rank, s)| {
            *rank >= schedule.max_count || now_ms - s.created_ms > schedule.max_age_ms
        })
        .map(|(_, s)| s.id)
        .filter(|&id| Some(id) != newest && Some(id) != running_restored_from)
        .collect()
}

/// What Flink said of a trigger in flight, as the worker observed it.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// dmd had not yet sent it (a crash between writing the row and the call).
    NotSent,
    InProgress,
    Completed {
        location: String,
    },
    Failed {
        cause: String,
    },
    /// The JobManager did not answer (the job or its YARN application is gone, or restarting).
    Unreachable {
        error: String,
    },
}

/// How long a trigger may stay in flight before it is declared failed.
pub const TRIGGER_TIMEOUT_MS: i64 = 10 * 60 * 1000;

/// The end of a trigger in flight, or `None` while it is still going.
pub fn resolve(row: &Savepoint, seen: &Seen, now_ms: i64) -> Option<super::catalog::Outcome> {
    use super::catalog::Outcome;
    let late = now_ms - row.created_ms > TRIGGER_TIMEOUT_MS;
    match seen {
        Seen::NotSent => Some(Outcome::Failed {
            error: "dmd stopped before the trigger reached Flink".into(),
        }),
        Seen::Completed { location } => Some(Outcome::Completed {
            path: location.clone(),
        }),
        Seen::Failed { cause } => Some(Outcome::Failed {
            error: cause.clone(),
        }),
        Seen::InProgress if late => Some(Outcome::Failed {
            error: format!("not completed within {} s", TRIGGER_TIMEOUT_MS / 1000),
        }),
        Seen::Unreachable { error } if late => Some(Outcome::Failed {
            error: format!("the JobManager stopped answering: {error}"),
        }),
        Seen::InProgress | Seen::Unreachable { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::catalog::Outcome;
    use super::*;

    fn sp(
        id: i64,
        component: &str,
        trigger: Trigger,
        state: SavepointState,
        created_ms: i64,
    ) -> Savepoint {
        Savepoint {
            id,
            application: "app".into(),
            component: component.into(),
            flink_version: Some("2.3.0".into()),
            job_id: None,
            yarn_id: None,
            path: (state != SavepointState::InProgress).then(|| format!("/sp/{id}")),
            trigger,
            package: "pkg-1.0.0".into(),
            created_ms,
            finished_ms: None,
            state,
            error: None,
            restored_from: None,
            flink_trigger: None,
        }
    }
    use SavepointState::*;
    use Trigger::*;

    #[test]
    fn latest_is_the_newest_completed_of_the_component() {
        let rows = [
            sp(5, "a", Manual, InProgress, 50),
            sp(4, "b", Manual, Completed, 40),
            sp(3, "a", Periodic, Failed, 30),
            sp(2, "a", Stop, Completed, 20),
            sp(1, "a", Manual, Completed, 10),
        ];
        let id = |r: Result<Option<&Savepoint>, String>| r.unwrap().map(|s| s.id);
        assert_eq!(
            id(restore_point(RestoreChoice::Latest, "a", &rows)),
            Some(2)
        );
        assert_eq!(id(restore_point(RestoreChoice::Latest, "c", &rows)), None);
        assert_eq!(id(restore_point(RestoreChoice::Empty, "a", &rows)), None);
        assert_eq!(id(restore_point(RestoreChoice::Id(1), "a", &rows)), Some(1));
        // The id names component a's savepoint: b starts from its own latest.
        assert_eq!(id(restore_point(RestoreChoice::Id(1), "b", &rows)), Some(4));
        let refused = restore_point(RestoreChoice::Id(3), "a", &rows).unwrap_err();
        assert!(refused.contains("savepoint 3 is FAILED"), "{refused}");
        let unknown = restore_point(RestoreChoice::Id(9), "a", &rows).unwrap_err();
        assert!(
            unknown.contains("not in this application's catalog"),
            "{unknown}"
        );
    }

    #[test]
    fn restore_choices_parse_from_the_query() {
        assert_eq!(RestoreChoice::parse(None), Ok(RestoreChoice::Latest));
        assert_eq!(
            RestoreChoice::parse(Some("latest")),
            Ok(RestoreChoice::Latest)
        );
        assert_eq!(RestoreChoice::parse(Some("none")), Ok(RestoreChoice::Empty));
        assert_eq!(RestoreChoice::parse(Some("12")), Ok(RestoreChoice::Id(12)));
        assert!(RestoreChoice::parse(Some("x1"))
            .unwrap_err()
            .contains("\"x1\""));
    }

    #[test]
    fn the_newest_and_the_running_ones_cannot_be_disposed() {
        let rows = [
            sp(4, "a", Manual, InProgress, 40),
            sp(3, "a", Periodic, Completed, 30),
            sp(2, "a", Periodic, Completed, 20),
            sp(1, "a", Stop, Completed, 10),
            sp(0, "a", Stop, Disposed, 5),
        ];
        let refusal = |id: usize, running| may_dispose(&rows[4 - id], &rows, running);
        assert!(refusal(3, None).unwrap_err().contains("newest completed"));
        assert!(refusal(1, Some(1))
            .unwrap_err()
            .contains("running job was started from"));
        assert!(refusal(4, None).unwrap_err().contains("IN_PROGRESS"));
        assert!(refusal(0, None).unwrap_err().contains("already DISPOSED"));
        assert_eq!(refusal(2, Some(1)), Ok(()));
        assert_eq!(refusal(1, None), Ok(()));
    }

    fn schedule(interval_sec: Option<i64>, max_count: usize, max_age_sec: i64) -> Schedule {
        Schedule {
            interval_ms: interval_sec.map(|s| s * 1000),
            max_count,
            max_age_ms: max_age_sec * 1000,
        }
    }

    #[test]
    fn schedules_come_from_the_properties_with_defaults() {
        let props = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            Schedule::from_properties(&props(serde_json::json!({}))).unwrap(),
            schedule(None, DEFAULT_MAX_COUNT, DEFAULT_MAX_AGE_SEC)
        );
        assert_eq!(
            Schedule::from_properties(&props(serde_json::json!({
                "component_savepoint_interval_sec": "10", "savepoint_max_count": 3, "savepoint_max_age_sec": 60
            })))
            .unwrap(),
            schedule(Some(10), 3, 60)
        );
        let bad = Schedule::from_properties(&props(
            serde_json::json!({"component_savepoint_interval_sec": "ten"}),
        ));
        assert_eq!(
            bad.unwrap_err(),
            "savepoint_interval_sec must be a whole number above 0, not \"ten\""
        );
        assert!(
            Schedule::from_properties(&props(serde_json::json!({"savepoint_max_count": 0})))
                .is_err()
        );
    }

    #[test]
    fn a_periodic_savepoint_is_due_an_interval_after_the_last_one_or_the_start() {
        let every10 = schedule(Some(10), 10, 3600);
        assert!(!periodic_due(&schedule(None, 10, 3600), &[], 0, 1_000_000));
        // Since the start.
        assert!(!periodic_due(&every10, &[], 1_000, 10_999));
        assert!(periodic_due(&every10, &[], 1_000, 11_000));
        // Since the last periodic or manual trigger of this run.
        let rows = [
            sp(2, "a", Manual, Completed, 5_000),
            sp(1, "a", Stop, Completed, 9_000),
        ];
        assert!(!periodic_due(&every10, &rows, 1_000, 14_999));
        assert!(periodic_due(&every10, &rows, 1_000, 15_000));
        // A trigger from an earlier run does not count.
        assert!(periodic_due(&every10, &rows, 6_000, 16_000));
        // Never two in flight.
        let busy = [sp(3, "a", Periodic, InProgress, 0)];
        assert!(!periodic_due(&every10, &busy, 0, 1_000_000));
    }

    #[test]
    fn retention_keeps_the_newest_periodic_ones_and_never_the_latest_or_the_running_one() {
        let day = 24 * 3600 * 1000;
        let now = 10 * day;
        let rows = [
            sp(6, "a", Periodic, Completed, now - 1_000),
            sp(5, "a", Periodic, Completed, now - 2_000),
            sp(4, "a", Periodic, Failed, now - 3_000),
            sp(3, "a", Periodic, Completed, now - 4_000),
            sp(2, "a", Manual, Completed, now - 2 * day),
            sp(1, "a", Periodic, Completed, now - 2 * day),
        ];
        // Count 2: 3 and 1 go (4 failed, 2 manual stay).
        assert_eq!(
            expired(&schedule(None, 2, 7 * 24 * 3600), &rows, None, now),
            vec![3, 1]
        );
        // Age 1 day: only 1 goes.
        assert_eq!(
            expired(&schedule(None, 10, 24 * 3600), &rows, None, now),
            vec![1]
        );
        // The running job started from 1: it stays.
        assert!(expired(&schedule(None, 10, 24 * 3600), &rows, Some(1), now).is_empty());
        // All old: the newest completed one (6) stays whatever the limits.
        assert_eq!(
            expired(&schedule(None, 1, 0), &rows, None, now + 1),
            vec![5, 3, 1]
        );
    }

    #[test]
    fn triggers_in_flight_resolve_from_what_flink_says_or_time_out() {
        let row = sp(1, "a", Manual, InProgress, 0);
        let late = TRIGGER_TIMEOUT_MS + 1;
        assert_eq!(
            resolve(&row, &Seen::NotSent, 1),
            Some(Outcome::Failed {
                error: "dmd stopped before the trigger reached Flink".into()
            })
        );
        assert_eq!(
            resolve(
                &row,
                &Seen::Completed {
                    location: "hdfs:///sp/x".into()
                },
                1
            ),
            Some(Outcome::Completed {
                path: "hdfs:///sp/x".into()
            })
        );
        assert_eq!(
            resolve(
                &row,
                &Seen::Failed {
                    cause: "CheckpointException: not all tasks running".into()
                },
                1
            ),
            Some(Outcome::Failed {
                error: "CheckpointException: not all tasks running".into()
            })
        );
        assert_eq!(resolve(&row, &Seen::InProgress, 1), None);
        assert_eq!(
            resolve(
                &row,
                &Seen::Unreachable {
                    error: "refused".into()
                },
                1
            ),
            None
        );
        assert!(
            matches!(resolve(&row, &Seen::InProgress, late), Some(Outcome::Failed { error }) if error.contains("within 600 s"))
        );
        assert!(matches!(
            resolve(&row, &Seen::Unreachable { error: "refused".into() }, late),
            Some(Outcome::Failed { error }) if error.contains("stopped answering: refused")
        ));
    }
}
