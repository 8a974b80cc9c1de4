//! The policies, one by one, on records built in memory: no process, no server.

use super::*;
use crate::protocol::JobSpec;
use dm_clients::yarn::{FinalStatus, YarnState};
use dm_plugin_api::{Arg, Command, Job, JobKind, Respawn};
use std::path::PathBuf;

const T0: u64 = 1_700_000_000_000;

fn job(policy: RespawnPolicy, delay_sec: u64, on_yarn: bool) -> JobRecord {
    JobRecord::new(JobSpec {
        id: "app/c".into(),
        job: Job {
            name: "app-c-job".into(),
            kind: JobKind::Streaming,
            submit: Command {
                argv: vec![Arg::lit("run")],
                env: Default::default(),
            },
            respawn: Respawn { policy, delay_sec },
            yarn: on_yarn.then(|| dm_plugin_api::YarnApp {
                application_type: "Apache Flink".into(),
                tags: vec![
                    "dm".into(),
                    "dm-app-app".into(),
                    "dm-component-flink-c".into(),
                ],
            }),
            stop: Vec::new(),
            savepoints: false,
        },
        workdir: PathBuf::from("/srv/app/c"),
        user: None,
        savepoint_dir: None,
        restore: Default::default(),
        allow_non_restored_state: false,
        env: Vec::new(),
    })
}

/// Records the start of the next attempt at `at`, as the job's thread does.
fn start_attempt(job: &mut JobRecord, at: u64) {
    let step = decide(job, None, at);
    assert!(
        matches!(step, Step::Start { .. }),
        "expected a start, got {step:?}"
    );
    record(job, &step, at, Path::new("/logs"));
}

/// Records `seen` at `at` and returns the step taken.
fn see(job: &mut JobRecord, seen: Observation, at: u64) -> Step {
    let step = decide(job, Some(&seen), at);
    record(job, &step, at, Path::new("/logs"));
    step
}

fn failed_with(reason: &str) -> Observation {
    Observation::Local(LocalProcess::Exited {
        success: false,
        code: Some(1),
        root_cause: Some(reason.into()),
    })
}

fn succeeded() -> Observation {
    Observation::Local(LocalProcess::Exited {
        success: true,
        code: Some(0),
        root_cause: None,
    })
}

fn yarn_app(id: &str, state: &str, final_status: &str, diagnostics: &str) -> YarnApp {
    YarnApp {
        id: id.into(),
        name: "app-c-job".into(),
        state: YarnState::parse(state),
        final_status: FinalStatus::parse(final_status),
        tracking_url: None,
        application_tags: Some("dm,dm-app-app,dm-component-flink-c,dm-attempt-1-1".into()),
        started_time: 0,
        diagnostics: Some(diagnostics.into()).filter(|d: &String| !d.is_empty()),
        am_container_logs: None,
        am_rpc_address: None,
    }
}

fn then_of(step: &Step) -> &Then {
    match step {
        Step::Ended { then, .. } => then,
        other => panic!("expected the attempt to end, got {other:?}"),
    }
}

fn respawns(step: &Step) -> bool {
    matches!(then_of(step), Then::Respawn { .. })
}

#[test]
fn every_policy_respawns_the_outcomes_it_names_and_finishes_the_others() {
    use RespawnPolicy::*;
    let gone = Observation::Local(LocalProcess::Gone);
    // (policy, after a success, after a failure, after an end of unknown outcome)
    let table = [
        (Always, true, true, true),
        (OnFailure, false, true, true),
        (OnSuccess, true, false, false),
        (No, false, false, false),
    ];
    for (policy, on_success, on_failure, on_unknown) in table {
        for (seen, expected, outcome) in [
            (succeeded(), on_success, Outcome::Succeeded),
            (
                failed_with("java.lang.IllegalStateException: x"),
                on_failure,
                Outcome::Failed,
            ),
            (gone.clone(), on_unknown, Outcome::Unknown),
        ] {
            let mut record = job(policy, 0, false);
            start_attempt(&mut record, T0);
            let step = see(&mut record, seen, T0 + 1_000);
            assert_eq!(
                respawns(&step),
                expected,
                "{policy:?} after {outcome:?}: {step:?}"
            );
            assert_eq!(record.attempts[0].outcome, Some(outcome));
            let state = if expected {
                JobState::BackingOff
            } else if outcome == Outcome::Succeeded {
                JobState::Ended
            } else {
                JobState::Failed
            };
            assert_eq!(record.state, state, "{policy:?} after {outcome:?}");
            // Finished jobs are left alone; respawned ones start again once the delay is over.
            let next = decide(&record, None, record.next_start_ms.max(T0 + 1_000));
            assert_eq!(
                matches!(next, Step::Start { number: 2 }),
                expected,
                "{next:?}"
            );
        }
    }
}

#[test]
fn the_back_off_doubles_per_quick_failure_up_to_its_cap() {
    assert_eq!(backoff_ms(0, 0), MIN_DELAY_MS);
    assert_eq!(backoff_ms(0, 1), MIN_DELAY_MS);
    assert_eq!(backoff_ms(0, 2), 2 * MIN_DELAY_MS);
    assert_eq!(backoff_ms(0, 3), 4 * MIN_DELAY_MS);
    assert_eq!(backoff_ms(10, 1), 10_000);
    assert_eq!(backoff_ms(10, 2), 20_000);
    assert_eq!(backoff_ms(10, 6), MAX_BACKOFF_MS);
    assert_eq!(
        backoff_ms(u64::MAX, u32::MAX),
        MAX_BACKOFF_MS,
        "no overflow"
    );

    // The same through the job's record: each quick failure waits twice as long as the last.
    let mut record = job(RespawnPolicy::Always, 5, false);
    let mut now = T0;
    let mut waits = Vec::new();
    for _ in 0..8 {
        start_attempt(&mut record, now);
        see(
            &mut record,
            failed_with("java.io.IOException: no input"),
            now + 1_000,
        );
        waits.push(record.next_start_ms - (now + 1_000));
        now = record.next_start_ms;
    }
    assert_eq!(
        waits,
        [5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]
    );
    assert_eq!(record.state, JobState::BackingOff);
    assert_eq!(
        decide(&record, None, now - 1),
        Step::BackOff { until_ms: now },
        "no start before the back-off is over"
    );
}

#[test]
fn a_healthy_run_resets_the_back_off() {
    let mut record = job(RespawnPolicy::Always, 1, false);
    record.consecutive_failures = 5;
    start_attempt(&mut record, T0);
    see(
        &mut record,
        failed_with("java.lang.OutOfMemoryError: heap"),
        T0 + HEALTHY_RUN_MS,
    );
    assert_eq!(record.consecutive_failures, 0);
    assert_eq!(record.next_start_ms, T0 + HEALTHY_RUN_MS + 1_000);

    record.consecutive_failures = 5;
    start_attempt(&mut record, T0 + 100_000);
    see(
        &mut record,
        failed_with("java.lang.OutOfMemoryError: heap"),
        T0 + 100_500,
    );
    assert_eq!(record.consecutive_failures, 6, "a quick failure adds one");

    // A success resets it too, however short the run.
    start_attempt(&mut record, T0 + 500_000);
    see(&mut record, succeeded(), T0 + 500_100);
    assert_eq!(record.consecutive_failures, 0);
}

/// Fails quickly `times` times in a row from `now`, each respawn started as soon as allowed;
/// returns the time after the last failure.
fn crash_loop(record: &mut JobRecord, mut now: u64, times: usize) -> u64 {
    for _ in 0..times {
        now = now.max(record.next_start_ms);
        start_attempt(record, now);
        now += 500;
        let reason = format!("java.io.IOException: failure {}", record.attempts.len());
        see(record, failed_with(&reason), now);
    }
    now
}

#[test]
fn the_start_limit_gives_up_after_so_many_respawns_after_failures_and_names_them() {
    let mut record = job(RespawnPolicy::Always, 0, false);
    // The user's start, then START_LIMIT respawns: all allowed.
    let now = crash_loop(&mut record, T0, START_LIMIT);
    assert_eq!(record.state, JobState::BackingOff);
    assert_eq!(record.respawns_ms.len(), START_LIMIT);
    let now = crash_loop(&mut record, now, 1);
    assert_eq!(record.attempts.len(), START_LIMIT + 1);
    assert_eq!(record.state, JobState::Failed);
    let reason = record.reason.clone().unwrap();
    assert_eq!(
        reason,
        format!(
            "start limit hit: {START_LIMIT} automatic respawns after failures within 30 minutes; \
             last failures: attempt 11: java.io.IOException: failure 11; \
             attempt 10: java.io.IOException: failure 10; attempt 9: java.io.IOException: failure 9"
        )
    );
    assert!(!reason.contains("none recorded"));
    assert_eq!(
        decide(&record, None, now + 1),
        Step::Quit,
        "given up: no more attempts"
    );

    // The user starting it again begins afresh.
    record.user_request(Desired::Running);
    record.state = JobState::Starting;
    assert!(record.respawns_ms.is_empty());
    crash_loop(&mut record, now + 1, START_LIMIT);
    assert_eq!(record.state, JobState::BackingOff);
}

#[test]
fn starts_and_stops_the_user_asks_for_do_not_count() {
    let mut record = job(RespawnPolicy::Always, 0, false);
    let mut now = T0;
    // Started and stopped again and again: an ordinary day while developing.
    for _ in 0..3 * START_LIMIT {
        record.user_request(Desired::Running);
        record.state = JobState::Starting;
        start_attempt(&mut record, now);
        see(
            &mut record,
            Observation::Started(Ok(Launched::Local {
                pid: 42,
                ticks: Some(1),
            })),
            now,
        );
        // What a stop request records.
        record.user_request(Desired::Stopped);
        let current = record.current_mut().unwrap();
        current.ended_ms = Some(now + 1_000);
        current.outcome = Some(Outcome::Stopped);
        record.state = JobState::Stopped;
        now += 2_000;
    }
    assert_eq!(
        decide(&record, None, now),
        Step::Quit,
        "stopped stays stopped"
    );
    record.user_request(Desired::Running);
    record.state = JobState::Starting;
    crash_loop(&mut record, now, START_LIMIT);
    assert_eq!(record.state, JobState::BackingOff, "{:?}", record.reason);
}

#[test]
fn respawns_after_successes_and_old_failures_do_not_count() {
    let mut record = job(RespawnPolicy::Always, 0, false);
    let mut now = T0;
    for _ in 0..2 * START_LIMIT {
        now = now.max(record.next_start_ms);
        start_attempt(&mut record, now);
        now += 100;
        see(&mut record, succeeded(), now);
    }
    assert!(record.respawns_ms.is_empty());
    assert_eq!(record.state, JobState::BackingOff);

    // Failures spread over more than the window never reach the limit.
    for _ in 0..2 * START_LIMIT {
        now = crash_loop(&mut record, now, 1) + START_LIMIT_WINDOW_MS / 5;
    }
    assert_eq!(record.state, JobState::BackingOff, "{:?}", record.reason);
    assert!(record.respawns_ms.len() <= 5, "old respawns are forgotten");
}

#[test]
fn a_submission_waiting_for_resources_past_the_deadline_is_killed() {
    let mut record = job(RespawnPolicy::Always, 0, true);
    start_attempt(&mut record, T0);
    see(
        &mut record,
        Observation::Started(Ok(Launched::Yarn {
            app_id: "application_1_0001".into(),
        })),
        T0 + 5_000,
    );
    let deadline = T0 + SUBMISSION_DEADLINE.as_millis() as u64;
    let accepted = yarn_app("application_1_0001", "ACCEPTED", "UNDEFINED", "");
    assert_eq!(
        decide(
            &record,
            Some(&Observation::Yarn(accepted.clone())),
            deadline
        ),
        Step::Watch(YARN_WATCH),
        "within the deadline it may wait"
    );
    let running = yarn_app("application_1_0001", "RUNNING", "UNDEFINED", "");
    assert_eq!(
        decide(
            &record,
            Some(&Observation::Yarn(running)),
            deadline + 60_000
        ),
        Step::Watch(YARN_WATCH),
        "a running application is past the deadline's concern"
    );
    let step = see(&mut record, Observation::Yarn(accepted), deadline + 1);
    let Step::Ended {
        kill,
        outcome,
        reason,
        ..
    } = &step
    else {
        panic!("{step:?}")
    };
    assert_eq!(kill.as_deref(), Some("application_1_0001"));
    assert_eq!(*outcome, Outcome::Failed);
    assert_eq!(
        reason.as_deref(),
        Some("YARN application application_1_0001 was still ACCEPTED after 300 s: killed")
    );
    assert!(
        respawns(&step),
        "waiting for resources is not the job's fault: {step:?}"
    );
}

#[test]
fn a_yarn_application_that_fails_before_it_ran_is_not_respawned_under_any_policy() {
    let diagnostics = "Application application_1_0002 failed 1 times due to AM Container exited with  exitCode: 1\nmore";
    for policy in [RespawnPolicy::Always, RespawnPolicy::OnFailure] {
        let mut record = job(policy, 0, true);
        start_attempt(&mut record, T0);
        see(
            &mut record,
            Observation::Started(Ok(Launched::Yarn {
                app_id: "application_1_0002".into(),
            })),
            T0 + 5_000,
        );
        let failed = yarn_app("application_1_0002", "FAILED", "FAILED", diagnostics);
        let step = see(&mut record, Observation::Yarn(failed), T0 + 25_000);
        assert!(!respawns(&step), "{step:?}");
        assert_eq!(record.state, JobState::Failed);
        assert_eq!(
            record.reason.as_deref(),
            Some("YARN application application_1_0002 ended FAILED (FAILED): Application application_1_0002 failed 1 times due to AM Container exited with  exitCode: 1; not respawned: it failed before it ran and would fail the same way again")
        );
        assert_eq!(
            record.attempts[0].reason.as_deref(),
            Some("YARN application application_1_0002 ended FAILED (FAILED): Application application_1_0002 failed 1 times due to AM Container exited with  exitCode: 1"),
            "the attempt keeps the root cause alone"
        );
    }
    // The same failure after a healthy run is worth another attempt.
    let mut record = job(RespawnPolicy::Always, 0, true);
    start_attempt(&mut record, T0);
    see(
        &mut record,
        Observation::Started(Ok(Launched::Yarn {
            app_id: "application_1_0003".into(),
        })),
        T0 + 5_000,
    );
    let failed = yarn_app("application_1_0003", "FAILED", "FAILED", diagnostics);
    assert!(respawns(&see(
        &mut record,
        Observation::Yarn(failed),
        T0 + HEALTHY_RUN_MS
    )));
    // Killed by someone else: not deterministic, respawned.
    let started = record.next_start_ms;
    start_attempt(&mut record, started);
    see(
        &mut record,
        Observation::Started(Ok(Launched::Yarn {
            app_id: "application_1_0004".into(),
        })),
        started,
    );
    let killed = yarn_app("application_1_0004", "KILLED", "KILLED", "");
    let step = see(&mut record, Observation::Yarn(killed), started + 1_000);
    assert!(respawns(&step));
    assert_eq!(
        record.attempts[1].reason.as_deref(),
        Some("YARN application application_1_0004 ended KILLED (KILLED)")
    );
    // Under policy no the reason is the failure alone.
    let mut record = job(RespawnPolicy::No, 0, true);
    start_attempt(&mut record, T0);
    let failed = yarn_app("application_1_0005", "FAILED", "FAILED", "boom");
    see(
        &mut record,
        Observation::Started(Ok(Launched::Yarn {
            app_id: failed.id.clone(),
        })),
        T0,
    );
    see(&mut record, Observation::Yarn(failed), T0 + 1_000);
    assert_eq!(
        record.reason.as_deref(),
        Some("YARN application application_1_0005 ended FAILED (FAILED): boom")
    );
}

#[test]
fn submissions_that_fail_the_same_way_every_time_end_the_job() {
    let cases = [
        (StartFailureKind::Invalid, false),
        (
            StartFailureKind::Submission {
                output: "Caused by: java.io.FileNotFoundException: JAR file does not exist: -yn"
                    .into(),
            },
            false,
        ),
        (
            StartFailureKind::Submission {
                output: "java.net.ConnectException: Connection refused".into(),
            },
            true,
        ),
        (StartFailureKind::Transient, true),
    ];
    for (kind, again) in cases {
        let mut record = job(RespawnPolicy::Always, 0, true);
        start_attempt(&mut record, T0);
        let failure = StartFailure {
            reason: "submission failed: it did".into(),
            kind: kind.clone(),
        };
        let step = see(&mut record, Observation::Started(Err(failure)), T0 + 2_000);
        assert_eq!(respawns(&step), again, "{kind:?}: {step:?}");
        assert_eq!(record.attempts[0].outcome, Some(Outcome::Failed));
        assert_eq!(
            record.attempts[0].reason.as_deref(),
            Some("submission failed: it did")
        );
    }
}

#[test]
fn a_live_application_found_by_its_tags_is_adopted_and_extra_copies_killed() {
    let tags: Vec<String> = ["dm", "dm-app-app", "dm-component-flink-c"]
        .map(String::from)
        .into();
    let with = |id: &str, state: &str, started_time: i64| YarnApp {
        started_time,
        ..yarn_app(id, state, "UNDEFINED", "")
    };
    let mut other = with("application_1_0009", "RUNNING", 900);
    other.application_tags = Some("dm,dm-app-app,dm-component-flink-d".into());
    let apps = [
        with("application_1_0001", "RUNNING", 100),
        with("application_1_0003", "ACCEPTED", 300),
        with("application_1_0002", "RUNNING", 200),
        YarnApp {
            final_status: FinalStatus::Killed,
            ..with("application_1_0004", "KILLED", 400)
        },
        other,
    ];
    assert_eq!(
        adoption(&apps, &tags),
        Adoption {
            adopt: Some("application_1_0003".into()),
            kill: vec!["application_1_0001".into(), "application_1_0002".into()],
        }
    );
    assert_eq!(
        adoption(&apps[3..], &tags),
        Adoption::default(),
        "nothing live: submit"
    );
}

#[test]
fn a_submission_interrupted_by_a_restart_is_adopted_waited_for_or_ended() {
    let mut record = job(RespawnPolicy::OnFailure, 0, true);
    start_attempt(&mut record, T0);
    let found = Observation::Submission {
        found: Some("application_1_0007".into()),
        submit_alive: false,
    };
    assert_eq!(
        decide(&record, Some(&found), T0 + 1_000),
        Step::Adopt {
            app_id: "application_1_0007".into()
        }
    );
    let submitting = Observation::Submission {
        found: None,
        submit_alive: true,
    };
    assert_eq!(
        decide(&record, Some(&submitting), T0 + 1_000),
        Step::Watch(YARN_WATCH)
    );
    let timeout = T0 + SUBMIT_TIMEOUT.as_millis() as u64;
    for seen in [
        submitting,
        Observation::Submission {
            found: None,
            submit_alive: false,
        },
    ] {
        let at = if matches!(
            seen,
            Observation::Submission {
                submit_alive: true,
                ..
            }
        ) {
            timeout
        } else {
            T0 + 1_000
        };
        let step = decide(&record, Some(&seen), at);
        let Step::Ended {
            outcome,
            reason,
            then,
            ..
        } = &step
        else {
            panic!("{step:?}")
        };
        assert_eq!(*outcome, Outcome::Unknown);
        assert!(reason
            .as_deref()
            .unwrap()
            .contains("interrupted by a supervisor restart"));
        assert!(
            matches!(then, Then::Respawn { counted: true, .. }),
            "{then:?}"
        );
    }
    let mut adopted = record.clone();
    see(&mut adopted, found, T0 + 1_000);
    assert_eq!(adopted.state, JobState::Running);
    assert_eq!(
        adopted.attempts[0].yarn_application_id.as_deref(),
        Some("application_1_0007")
    );
}

#[test]
fn an_outage_is_not_a_failure_and_an_application_yarn_forgot_is_an_unknown_end() {
    let mut record = job(RespawnPolicy::OnFailure, 0, true);
    start_attempt(&mut record, T0);
    see(
        &mut record,
        Observation::Started(Ok(Launched::Yarn {
            app_id: "application_1_0001".into(),
        })),
        T0,
    );
    assert_eq!(
        decide(&record, Some(&Observation::RmUnanswered), T0 + 3_600_000),
        Step::Watch(YARN_WATCH)
    );
    let step = see(
        &mut record,
        Observation::YarnGone {
            app_id: "application_1_0001".into(),
        },
        T0 + 10_000,
    );
    assert!(respawns(&step));
    assert_eq!(record.attempts[0].outcome, Some(Outcome::Unknown));
    assert_eq!(
        record.attempts[0].reason.as_deref(),
        Some("YARN no longer knows application application_1_0001 (was the ResourceManager restarted?)")
    );
}

#[test]
fn a_local_failure_is_named_by_its_root_cause_else_its_status() {
    for (seen, reason) in [
        (failed_with("ValueError: bad rate"), "ValueError: bad rate"),
        (
            Observation::Local(LocalProcess::Exited {
                success: false,
                code: Some(3),
                root_cause: None,
            }),
            "exited with status 3",
        ),
        (
            Observation::Local(LocalProcess::Exited {
                success: false,
                code: None,
                root_cause: None,
            }),
            "exited with status (killed by a signal)",
        ),
        (
            Observation::Local(LocalProcess::Gone),
            "ended while the supervisor was not running; exit status unknown",
        ),
    ] {
        let mut record = job(RespawnPolicy::No, 0, false);
        start_attempt(&mut record, T0);
        see(&mut record, seen, T0 + 10);
        assert_eq!(record.reason.as_deref(), Some(reason));
        assert_eq!(record.state, JobState::Failed);
    }
}

#[test]
fn an_adopted_attempt_is_watched_and_a_stopped_job_is_left_alone() {
    let mut record = job(RespawnPolicy::Always, 0, false);
    start_attempt(&mut record, T0);
    assert_eq!(record.attempts[0].log, PathBuf::from("/logs/attempt-1.log"));
    see(
        &mut record,
        Observation::Started(Ok(Launched::Local {
            pid: 4242,
            ticks: Some(77),
        })),
        T0,
    );
    assert_eq!(record.state, JobState::Running);
    assert_eq!(
        (record.attempts[0].pid, record.pid_ticks),
        (Some(4242), Some(77))
    );
    // After a restart the thread has not looked yet: it looks at once, then at its pace.
    assert_eq!(decide(&record, None, T0 + 1), Step::Watch(Duration::ZERO));
    let alive = Observation::Local(LocalProcess::Alive);
    assert_eq!(
        decide(&record, Some(&alive), T0 + 1),
        Step::Watch(LOCAL_WATCH)
    );
    record.desired = Desired::Stopped;
    assert_eq!(decide(&record, Some(&alive), T0 + 1), Step::Quit);
}
