//! Parsing of answers recorded from real Flink JobManagers on YARN (`tests/data/flink-<v>/`,
//! recorded on the loopback cluster; `serialized-throwable` values shortened).

use super::*;

fn recorded(version: &str, name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/data/flink-{version}/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const VERSIONS: [&str; 2] = ["1.20.5", "2.3.0"];

#[test]
fn the_savepoint_status_shapes_parse() {
    for v in VERSIONS {
        assert_eq!(
            parse_savepoint_status(&recorded(v, "savepoint-status-in-progress.json")).unwrap(),
            SavepointStatus::InProgress,
            "{v}"
        );
        match parse_savepoint_status(&recorded(v, "savepoint-status-completed.json")).unwrap() {
            SavepointStatus::Completed { location } => {
                assert!(
                    location.starts_with("hdfs://") && location.contains("/savepoint-"),
                    "{v}: {location}"
                )
            }
            other => panic!("{v}: {other:?}"),
        }
        match parse_savepoint_status(&recorded(v, "stop-status-completed.json")).unwrap() {
            SavepointStatus::Completed { location } => {
                assert!(location.contains("/savepoint-"), "{v}: {location}")
            }
            other => panic!("{v}: {other:?}"),
        }
    }
}

#[test]
fn a_savepoint_refused_because_tasks_are_not_running_says_so() {
    // Recorded right after submission, with the tasks still SCHEDULED: Flink answers COMPLETED
    // with a failure cause, not FAILED.
    match parse_savepoint_status(&recorded("2.3.0", "savepoint-status-failed.json")).unwrap() {
        SavepointStatus::Failed { cause } => {
            assert!(
                cause.contains("Not all required tasks are currently running"),
                "{cause}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_disposal_status_shapes_parse() {
    // Flink 1.20 disposed of its savepoint before the first poll: only 2.3's was caught midway.
    assert_eq!(
        parse_disposal_status(&recorded("2.3.0", "disposal-status-in-progress.json")).unwrap(),
        DisposalStatus::InProgress
    );
    for v in VERSIONS {
        assert_eq!(
            parse_disposal_status(&recorded(v, "disposal-status-completed.json")).unwrap(),
            DisposalStatus::Completed,
            "{v}"
        );
        match parse_disposal_status(&recorded(v, "disposal-status-failed.json")).unwrap() {
            DisposalStatus::Failed { cause } => {
                assert!(
                    cause.contains("Could not dispose savepoint"),
                    "{v}: {cause}"
                );
                assert!(cause.contains("FileNotFoundException"), "{v}: {cause}");
            }
            other => panic!("{v}: {other:?}"),
        }
    }
}

#[test]
fn checkpoints_give_counts_the_latest_of_each_kind_and_history() {
    for v in VERSIONS {
        let c: Checkpoints = serde_json::from_slice(&recorded(v, "checkpoints.json")).unwrap();
        assert!(c.counts.completed >= 1, "{v}: {c:?}");
        assert_eq!(
            c.counts.total,
            c.counts.completed + c.counts.failed + c.counts.in_progress,
            "{v}"
        );
        let completed = c.latest.completed.as_ref().expect("a completed checkpoint");
        assert!(
            completed
                .external_path
                .as_deref()
                .unwrap()
                .contains("/chk-"),
            "{v}: {completed:?}"
        );
        let savepoint = c.latest.savepoint.as_ref().expect("the savepoint taken");
        assert!(savepoint.is_savepoint, "{v}");
        assert!(
            savepoint
                .external_path
                .as_deref()
                .unwrap()
                .contains("/savepoint-"),
            "{v}"
        );
        assert!(c.latest.restored.is_none(), "{v}");
        assert!(!c.history.is_empty(), "{v}");
        assert!(
            c.history
                .iter()
                .any(|h| h.is_savepoint && h.status == "COMPLETED"),
            "{v}"
        );
    }
}

#[test]
fn the_overview_gives_the_running_job() {
    for v in VERSIONS {
        let overview: Overview = serde_json::from_slice(&recorded(v, "overview.json")).unwrap();
        match progress(&overview.jobs) {
            JobProgress::Running(job) => assert_eq!(job.id.len(), 32, "{v}: {job:?}"),
            other => panic!("{v}: {other:?}"),
        }
    }
}

#[test]
fn progress_follows_the_jobs_states() {
    let job = |state: &str, running: u64| JobOverview {
        jid: format!("j-{state}"),
        name: String::new(),
        state: JobState::parse(state),
        tasks: TaskCounts { running, total: 2 },
    };
    assert_eq!(progress(&[]), JobProgress::Starting);
    assert_eq!(progress(&[job("INITIALIZING", 0)]), JobProgress::Starting);
    assert_eq!(
        progress(&[job("CANCELED", 0), job("FINISHED", 0)]),
        JobProgress::Ended
    );
    assert_eq!(
        progress(&[job("FAILED", 0), job("RUNNING", 1)]),
        JobProgress::Running(RunningJob {
            id: "j-RUNNING".into(),
            all_tasks_running: false
        })
    );
    assert_eq!(
        progress(&[job("RUNNING", 2)]),
        JobProgress::Running(RunningJob {
            id: "j-RUNNING".into(),
            all_tasks_running: true
        })
    );
    assert_eq!(
        JobState::parse("SOMETHING_NEW"),
        JobState::Other("SOMETHING_NEW".into())
    );
}

#[test]
fn the_trigger_answer_is_a_request_id() {
    for v in VERSIONS {
        let t: Trigger = serde_json::from_slice(&recorded(v, "trigger.json")).unwrap();
        assert_eq!(t.request_id.len(), 32, "{v}");
    }
}
