//! dm-supervisor as dmd uses it, with real local processes: the binary, its socket, its state
//! file, and jobs that run, fail, end and get stopped — including across a `kill -9` of the
//! supervisor itself.

use dm_plugin_api::{Arg, Command, Job, JobKind, Respawn, RespawnPolicy, StopStep};
use dm_supervisor::process::start_ticks;
use dm_supervisor::protocol::{JobReport, JobSpec, JobState, Outcome, Request, Response};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
use common::Supervisor;

/// A job running `script` with `sh` in `workdir`.
fn spec(id: &str, workdir: &Path, script: &str, policy: RespawnPolicy) -> JobSpec {
    std::fs::create_dir_all(workdir).unwrap();
    std::fs::write(workdir.join("job.sh"), script).unwrap();
    JobSpec {
        id: id.into(),
        job: Job {
            name: id.replace('/', "-"),
            kind: JobKind::Streaming,
            submit: Command {
                argv: vec![Arg::lit("/bin/sh"), Arg::lit("job.sh")],
                env: Default::default(),
            },
            respawn: Respawn {
                policy,
                delay_sec: 0,
            },
            yarn: None,
            stop: vec![StopStep::Signal { grace_sec: 5 }],
            savepoints: false,
        },
        workdir: workdir.to_path_buf(),
        user: None,
        savepoint_dir: None,
        restore: Default::default(),
        allow_non_restored_state: false,
        env: vec![("DM_TEST_GREETING".into(), "hello".into())],
    }
}

fn start(sup: &Supervisor, spec: JobSpec) -> JobReport {
    match sup.call(Request::Start {
        spec: Box::new(spec),
    }) {
        Response::Job { job } => job,
        other => panic!("unexpected {other:?}"),
    }
}

fn alive(pid: u32) -> bool {
    start_ticks(pid).is_some()
}

fn log_text(sup: &Supervisor, id: &str) -> String {
    match sup.call(Request::Logs {
        id: id.into(),
        attempt: None,
        max_bytes: None,
    }) {
        Response::Log { text, .. } => text,
        other => panic!("unexpected {other:?}"),
    }
}

fn pid_of(report: &JobReport) -> u32 {
    report
        .attempts
        .last()
        .and_then(|a| a.pid)
        .expect("a running attempt has a pid")
}

fn work(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let workdir = dir.path().join(name);
    (dir, workdir)
}

#[test]
fn runs_a_job_in_its_workdir_with_its_environment_and_logs() {
    let state = tempfile::tempdir().unwrap();
    let sup = Supervisor::start(state.path(), None);
    let (_w, workdir) = work("app1");
    start(
        &sup,
        spec(
            "app1/c",
            &workdir,
            "echo \"$DM_TEST_GREETING from $(pwd)\"; exec sleep 60\n",
            RespawnPolicy::Always,
        ),
    );
    let report = sup.wait_for("app1/c", "running", 20, |r| {
        r.state == JobState::Running && r.attempts.last().is_some_and(|a| a.pid.is_some())
    });
    assert!(alive(pid_of(&report)));
    sup.wait_for("app1/c", "log line", 20, |_| {
        log_text(&sup, "app1/c").contains("hello from")
    });
    assert!(log_text(&sup, "app1/c").contains(workdir.to_str().unwrap()));
    sup.call(Request::Stop {
        id: "app1/c".into(),
        cancel: false,
    });
}

#[test]
fn jobs_run_as_the_applications_user_when_the_supervisor_is_root() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: the supervisor cannot change users, nothing to check");
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let sup = Supervisor::start(state.path(), None);
    let (dir, workdir) = work("app9");
    let mut job = spec(
        "app9/c",
        &workdir,
        "echo \"uid=$(id -u)\"\n",
        RespawnPolicy::No,
    );
    job.user = Some("nobody".into());
    // The job's user must be able to enter its folder.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    start(&sup, job);
    sup.wait_for("app9/c", "ended", 20, |r| r.state == JobState::Ended);
    assert!(
        log_text(&sup, "app9/c").contains("uid=65534"),
        "{}",
        log_text(&sup, "app9/c")
    );
}

#[test]
fn starting_a_running_job_again_does_not_start_a_second_copy() {
    let state = tempfile::tempdir().unwrap();
    let sup = Supervisor::start(state.path(), None);
    let (_w, workdir) = work("app2");
    let job = spec("app2/c", &workdir, "exec sleep 60\n", RespawnPolicy::Always);
    start(&sup, job.clone());
    sup.wait_for("app2/c", "running", 20, |r| r.state == JobState::Running);
    start(&sup, job);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sup.status("app2/c").attempts.len(), 1);
    sup.call(Request::Stop {
        id: "app2/c".into(),
        cancel: false,
    });
}

#[test]
fn always_respawns_and_numbers_attempts() {
    let state = tempfile::tempdir().unwrap();
    let sup = Supervisor::start(state.path(), None);
    let (_w, workdir) = work("app3");
    start(
        &sup,
        spec(
            "app3/c",
            &workdir,
            "echo run; exit 0\n",
            RespawnPolicy::Always,
        ),
    );
    let report = sup.wait_for("app3/c", "three attempts", 20, |r| r.attempts.len() >= 3);
    let numbers: Vec<u32> = report.attempts.iter().map(|a| a.number).take(3).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(report.attempts[0].outcome, Some(Outcome::Succeeded));
}

#[test]
fn on_failure_stops_respawning_after_a_success() {
    let state = tempfile::tempdir().unwrap();
    let sup = Supervisor::start(state.path(), None);
    let (_w, workdir) = work("app4");
    // Fails the first time, succeeds the second.
    let script = "if [ -f done ]; then exit 0; fi; touch done; echo 'java.lang.IllegalStateException: no input yet'; exit 2\n";
    start(
        &sup,
        spec("app4/c", &workdir, script, RespawnPolicy::OnFailure),
    );
    let report = sup.wait_for("app4/c", "ended", 20, |r| r.state == JobState::Ended);
    assert_eq!(report.attempts.len(), 2);
    assert_eq!(report.attempts[0].outcome, Some(Outcome::Failed));
    assert_eq!(
        report.attempts[0].reason.as_deref(),
        Some("java.lang.IllegalStateException: no input yet")
    );
    assert_eq!(report.attempts[1].outcome, Some(Outcome::Succeeded));
}

#[test]
fn no_respawn_leaves_a_failed_job_failed_with_its_reason() {
    let state = tempfile::tempdir().unwrap();
    let sup = Supervisor::start(state.path(), None);
    let (_w, workdir) = work("app5");
    start(
        &sup,
        spec("app5/c", &workdir, "exit 3\n", RespawnPolicy::No),
    );
    let report = sup.wait_for("app5/c", "failed", 20, |r| r.state == JobState::Failed);
    assert_eq!(report.attempts.len(), 1);
    assert_eq!(report.reason.as_deref(), Some("exited with status 3"));
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(sup.status("app5/c").attempts.len(), 1, "not restarted");
    // Destroyed as dmd does it: stop, then remove.
    assert!(matches!(
        sup.call(Request::Stop {
            id: "app5/c".into(),
            cancel: false,
        }),
        Response::Job { .. }
    ));
    assert!(matches!(
        sup.call(Request::Remove {
            id: "app5/c".into()
        }),
        Response::Ok
    ));
}

#[test]
fn stop_ends_the_whole_process_group_and_it_stays_stopped() {
    let state = tempfile::tempdir().unwrap();
    let sup = Supervisor::start(state.path(), None);
    let (_w, workdir) = work("app6");
    // A job with a child of its own, and a TERM handler that takes a moment.
    let script = "sleep 60 & echo $! > child.pid; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done\n";
    start(
        &sup,
        spec("app6/c", &workdir, script, RespawnPolicy::Always),
    );
    let report = sup.wait_for("app6/c", "running", 20, |r| r.state == JobState::Running);
    let pid = pid_of(&report);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !workdir.join("child.pid").exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let child: u32 = std::fs::read_to_string(workdir.join("child.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(child));

    let stopped = match sup.call(Request::Stop {
        id: "app6/c".into(),
        cancel: false,
    }) {
        Response::Job { job } => job,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(stopped.state, JobState::Stopped);
    assert_eq!(
        stopped.attempts.last().unwrap().outcome,
        Some(Outcome::Stopped)
    );
    assert!(!alive(pid), "the job is gone");
    assert!(!alive(child), "its child is gone too");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        sup.status("app6/c").attempts.len(),
        1,
        "a stopped job is not respawned"
    );
    assert!(
        log_text(&sup, "app6/c").contains("bye"),
        "the job got SIGTERM first"
    );

    // Remove forgets it; starting again works.
    assert!(matches!(
        sup.call(Request::Remove {
            id: "app6/c".into()
        }),
        Response::Ok
    ));
    assert!(matches!(
        sup.call(Request::Status {
            id: "app6/c".into()
        }),
        Response::Error { .. }
    ));
}

#[test]
fn a_crashed_supervisor_adopts_its_jobs_instead_of_starting_them_again() {
    let state = tempfile::tempdir().unwrap();
    let sup = Supervisor::start(state.path(), None);
    let (_w, workdir) = work("app7");
    start(
        &sup,
        spec("app7/c", &workdir, "exec sleep 60\n", RespawnPolicy::Always),
    );
    let before = sup.wait_for("app7/c", "running", 20, |r| {
        r.state == JobState::Running && r.attempts.last().is_some_and(|a| a.pid.is_some())
    });
    let pid = pid_of(&before);

    sup.crash();
    assert!(alive(pid), "the job outlives the supervisor");
    let sup = Supervisor::start(state.path(), None);
    std::thread::sleep(Duration::from_millis(600));
    let after = sup.status("app7/c");
    assert_eq!(
        after.attempts.len(),
        1,
        "adopted, not started again: {after:#?}"
    );
    assert_eq!(pid_of(&after), pid);
    assert_eq!(after.state, JobState::Running);

    // An adopted job can be stopped, and its end is noticed.
    match sup.call(Request::Stop {
        id: "app7/c".into(),
        cancel: false,
    }) {
        Response::Job { job } => assert_eq!(job.state, JobState::Stopped),
        other => panic!("unexpected {other:?}"),
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(!alive(pid));
}

#[test]
fn a_job_that_ended_while_the_supervisor_was_down_is_respawned_by_policy() {
    let state = tempfile::tempdir().unwrap();
    let sup = Supervisor::start(state.path(), None);
    let (_w, workdir) = work("app8");
    start(
        &sup,
        spec(
            "app8/c",
            &workdir,
            "exec sleep 60\n",
            RespawnPolicy::OnFailure,
        ),
    );
    let pid = pid_of(&sup.wait_for("app8/c", "running", 20, |r| {
        r.attempts.last().is_some_and(|a| a.pid.is_some())
    }));
    sup.crash();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let sup = Supervisor::start(state.path(), None);
    let report = sup.wait_for("app8/c", "second attempt", 20, |r| r.attempts.len() == 2);
    assert_eq!(report.attempts[0].outcome, Some(Outcome::Unknown));
    assert!(report.attempts[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("exit status unknown"));
    sup.call(Request::Stop {
        id: "app8/c".into(),
        cancel: false,
    });
}

#[test]
fn a_job_the_user_stops_and_starts_again_and_again_is_never_refused() {
    let state = tempfile::tempdir().unwrap();
    let sup = Supervisor::start(state.path(), None);
    let (_w, workdir) = work("app10");
    let job = spec(
        "app10/c",
        &workdir,
        "exec sleep 60\n",
        RespawnPolicy::Always,
    );
    // More starts than the start limit allows respawns, all asked for by the user.
    let starts = dm_supervisor::decide::START_LIMIT + 2;
    for n in 1..=starts {
        start(&sup, job.clone());
        let report = sup.wait_for("app10/c", &format!("start {n} running"), 20, |r| {
            r.state == JobState::Running && r.attempts.last().is_some_and(|a| a.pid.is_some())
        });
        assert_eq!(report.attempts.len(), n, "{report:#?}");
        if n < starts {
            match sup.call(Request::Stop {
                id: "app10/c".into(),
                cancel: false,
            }) {
                Response::Job { job } => assert_eq!(job.state, JobState::Stopped),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    let report = sup.status("app10/c");
    assert_eq!(report.reason, None, "{report:#?}");
    assert!(alive(pid_of(&report)));
    sup.call(Request::Stop {
        id: "app10/c".into(),
        cancel: false,
    });
}

#[test]
fn a_supervisor_restarted_on_an_older_state_file_adopts_its_job() {
    let state = tempfile::tempdir().unwrap();
    let (_w, workdir) = work("app11");
    let job = spec(
        "app11/c",
        &workdir,
        "exec sleep 60\n",
        RespawnPolicy::Always,
    );
    // A job left running by an older supervisor, whose state.json predates `respawns_ms`.
    use std::os::unix::process::CommandExt;
    let mut running = std::process::Command::new("sleep")
        .arg("60")
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = running.id();
    let log = state.path().join("logs/app11__c/attempt-4.log");
    let older = serde_json::json!({
        "jobs": { "app11/c": {
            "spec": job,
            "desired": "running",
            "state": "running",
            "reason": null,
            "attempts": [{
                "number": 4, "started_ms": 1_000, "ended_ms": null, "pid": pid,
                "yarn_application_id": null, "outcome": null, "reason": null, "log": log
            }],
            "last_savepoint": null,
            "next_start_ms": 0,
            "consecutive_failures": 0,
            "pid_ticks": start_ticks(pid).unwrap(),
            "generation": 2
        }}
    });
    std::fs::write(state.path().join("state.json"), older.to_string()).unwrap();

    let sup = Supervisor::start(state.path(), None);
    // Several of its watch intervals: time enough to have (wrongly) started another.
    std::thread::sleep(Duration::from_millis(600));
    let report = sup.status("app11/c");
    assert_eq!(report.state, JobState::Running, "{report:#?}");
    assert_eq!(
        report.attempts.len(),
        1,
        "adopted, not started again: {report:#?}"
    );
    assert_eq!(pid_of(&report), pid);

    match sup.call(Request::Stop {
        id: "app11/c".into(),
        cancel: false,
    }) {
        Response::Job { job } => assert_eq!(job.state, JobState::Stopped),
        other => panic!("unexpected {other:?}"),
    }
    let status = running.wait().unwrap();
    assert!(!status.success(), "ended by the stop's signal: {status:?}");
}
