//! Where jobs on YARN run: submitting an attempt (or adopting a live application of the job
//! instead), observing it for [`decide`], killing it, and the plan's stop steps. Every
//! submission carries the job's tags plus one for the attempt, which is how an application is
//! found again after a restart.
//!
//! Watching many jobs costs one ResourceManager call per tick, not one per job: the applications
//! carrying dm's tag ([`DM_TAG`]) are listed once per [`YARN_WATCH`] and shared by every
//! job's thread; only an application missing from that list is asked for alone.
//!
//! [`decide`]: crate::decide

use crate::decide::{self, Launched, Observation, StartFailure, StartFailureKind, YARN_WATCH};
use crate::process;
use crate::protocol::{Attempt, JobSpec};
use dm_clients::flink::{Flink, JobProgress, RunningJob};
use dm_clients::yarn::{ResourceManager, YarnApp, YarnState};
use dm_clients::{ClientError, HttpClient};
use dm_plugin_api::identity::DM_TAG;
use dm_plugin_api::{expand, Slot, StopStep};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long YARN may take to list an application after its submit command ended.
const LISTED_WITHIN: Duration = Duration::from_secs(60);
/// How long an application may take to end after a kill or a stop command.
const ENDS_WITHIN: Duration = Duration::from_secs(60);
/// How long a stop with savepoint waits for every task of a Flink job to run.
const TASKS_RUNNING_WITHIN: Duration = Duration::from_secs(90);
/// How much of a submission's log is searched for its root cause.
const CAUSE_SEARCH_BYTES: u64 = 256 * 1024;

pub struct YarnRunner {
    rm: Option<ResourceManager>,
    /// Flink's REST API, to find a job to stop with a savepoint.
    flink: Flink,
    /// The latest listing per tag, shared by the jobs' threads.
    listings: Mutex<HashMap<String, Listing>>,
}

struct Listing {
    taken: Instant,
    apps: Result<Vec<YarnApp>, ClientError>,
}

/// The tag that marks one attempt, unique even if attempt numbers restart.
pub fn attempt_tag(attempt: &Attempt) -> String {
    format!("dm-attempt-{}-{}", attempt.number, attempt.started_ms)
}

impl YarnRunner {
    pub fn new(rm: Option<ResourceManager>) -> YarnRunner {
        YarnRunner {
            rm,
            flink: Flink::new(HttpClient::builder().build()),
            listings: Mutex::new(HashMap::new()),
        }
    }

    fn rm(&self) -> Result<&ResourceManager, String> {
        self.rm
            .as_ref()
            .ok_or_else(|| "no ResourceManager configured for a YARN job".to_string())
    }

    /// Adopts a live application of this job if YARN has one (killing older copies), else
    /// submits a new one and waits for YARN to list it. Two copies of one job never run.
    /// `on_spawn` learns the submit command's pid as soon as it runs.
    pub fn start(
        &self,
        spec: &JobSpec,
        attempt: &Attempt,
        last_savepoint: Option<String>,
        on_spawn: &dyn Fn(u32),
    ) -> Result<Launched, StartFailure> {
        let rm = self.rm().map_err(StartFailure::transient)?;
        let yarn =
            spec.job.yarn.as_ref().ok_or_else(|| {
                StartFailure::transient(format!("job {} is not a YARN job", spec.id))
            })?;
        if let Some(narrowest) = yarn.tags.last() {
            let apps = rm.apps_tagged(narrowest).map_err(transient)?;
            let adoption = decide::adoption(&apps, &yarn.tags);
            for extra in &adoption.kill {
                rm.kill(extra).map_err(transient)?;
            }
            if let Some(app_id) = adoption.adopt {
                return Ok(Launched::Yarn { app_id });
            }
        }
        let tag = attempt_tag(attempt);
        let tags = yarn
            .tags
            .iter()
            .chain([&tag])
            .cloned()
            .collect::<Vec<_>>()
            .join(",");
        let value_of = |slot: Slot| match slot {
            Slot::YarnTags => Some(tags.clone()),
            Slot::RestoreFrom => last_savepoint.clone(),
            Slot::AllowNonRestoredState => Some(spec.allow_non_restored_state.to_string()),
            _ => None,
        };
        let argv = expand(&spec.job.submit.argv, &value_of).map_err(|reason| StartFailure {
            reason,
            kind: StartFailureKind::Invalid,
        })?;
        let submitted = process::run_to_end(
            &argv,
            &spec.workdir,
            &spec.submit_env(),
            spec.user.as_deref(),
            &attempt.log,
            decide::SUBMIT_TIMEOUT,
            on_spawn,
        )
        .map_err(|reason| StartFailure {
            kind: StartFailureKind::Submission {
                output: reason.clone(),
            },
            reason,
        })?;
        let deadline = Instant::now() + LISTED_WITHIN;
        loop {
            if let Some(app) = rm.apps_tagged(&tag).map_err(transient)?.into_iter().next() {
                return Ok(Launched::Yarn { app_id: app.id });
            }
            if !submitted || Instant::now() > deadline {
                let output = process::tail(&attempt.log, CAUSE_SEARCH_BYTES);
                let reason = match (submitted, process::root_cause(&output)) {
                    (_, Some(cause)) => format!("submission failed: {cause}"),
                    (false, None) => "the submit command failed (see the attempt log)".to_string(),
                    (true, None) => {
                        "the submit command ended but YARN has no application for this attempt"
                            .to_string()
                    }
                };
                // A client that ended well but left nothing on YARN is not judged: YARN may be
                // slow to list it.
                let kind = if submitted {
                    StartFailureKind::Transient
                } else {
                    StartFailureKind::Submission { output }
                };
                return Err(StartFailure { reason, kind });
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// What YARN says of the attempt. An attempt without an application id had its
    /// submission interrupted by a supervisor restart: its application is looked for by the
    /// attempt's tag, and whether the recorded submit command still runs is told too.
    pub fn observe(
        &self,
        tags: &[String],
        attempt: &Attempt,
        pid_ticks: Option<u64>,
    ) -> Observation {
        let Ok(rm) = self.rm() else {
            return Observation::RmUnanswered;
        };
        let Some(app_id) = attempt.yarn_application_id.as_deref() else {
            return match rm.apps_tagged(&attempt_tag(attempt)) {
                Ok(apps) => Observation::Submission {
                    found: apps.into_iter().next().map(|a| a.id),
                    submit_alive: match (attempt.pid, pid_ticks) {
                        (Some(pid), Some(ticks)) => process::is_alive(pid, ticks),
                        _ => false,
                    },
                },
                Err(_) => Observation::RmUnanswered,
            };
        };
        let listed_by = tags.iter().any(|t| t == DM_TAG).then_some(DM_TAG);
        match self.app(rm, listed_by, app_id) {
            Ok(Some(app)) => Observation::Yarn(app),
            Ok(None) => Observation::YarnGone {
                app_id: app_id.to_string(),
            },
            Err(_) => Observation::RmUnanswered,
        }
    }

    /// The application `id`, from the shared listing of `tag` when it is there, else asked for
    /// alone (the listing may predate it). `None` when the RM does not know it.
    fn app(
        &self,
        rm: &ResourceManager,
        tag: Option<&str>,
        id: &str,
    ) -> Result<Option<YarnApp>, ClientError> {
        if let Some(tag) = tag {
            // Held while listing: the other jobs' threads wait for this answer rather than
            // each asking the RM again.
            let mut listings = self.listings.lock().unwrap_or_else(|p| p.into_inner());
            let stale = listings
                .get(tag)
                .is_none_or(|l| l.taken.elapsed() >= YARN_WATCH);
            if stale {
                let apps = rm.apps_tagged(tag);
                listings.insert(
                    tag.to_string(),
                    Listing {
                        taken: Instant::now(),
                        apps,
                    },
                );
            }
            match &listings[tag].apps {
                Ok(apps) => {
                    if let Some(app) = apps.iter().find(|a| a.id == id) {
                        return Ok(Some(app.clone()));
                    }
                }
                Err(e) => return Err(e.clone()),
            }
        }
        rm.find(id)
    }

    /// Kills an application, e.g. one past the submission deadline or started for a job that
    /// was stopped meanwhile. A kill that fails is not retried: the next attempt's adoption
    /// finds a copy left behind.
    pub fn kill(&self, app_id: &str) {
        if let Ok(rm) = self.rm() {
            if let Err(e) = rm.kill(app_id) {
                eprintln!("dm-supervisor: cannot kill {app_id}: {e}");
            }
        }
    }

    /// Stops the attempt by the plan's steps, in order until one works. Returns the savepoint
    /// written, if a step took one.
    pub fn stop(
        &self,
        spec: &JobSpec,
        attempt: &Attempt,
        cancel: bool,
    ) -> Result<Option<String>, String> {
        let rm = self.rm()?;
        let Some(app_id) = attempt.yarn_application_id.clone() else {
            // Still submitting: end the submit command, then kill whatever it produced, by the
            // attempt's tag.
            if let Some(pid) = attempt.pid {
                process::stop_group(pid, Duration::from_secs(5), || {
                    process::start_ticks(pid).is_none()
                });
            }
            for app in rm
                .apps_tagged(&attempt_tag(attempt))
                .map_err(|e| e.to_string())?
                .into_iter()
                .filter(|a| !a.is_final())
            {
                rm.kill(&app.id).map_err(|e| e.to_string())?;
            }
            return Ok(None);
        };
        let app = rm.app(&app_id).map_err(|e| e.to_string())?;
        if app.is_final() {
            return Ok(None);
        }
        let mut errors = Vec::new();
        for step in &spec.job.stop {
            match step {
                StopStep::YarnKill => match rm
                    .kill(&app_id)
                    .map_err(|e| e.to_string())
                    .and_then(|_| wait_final(rm, &app_id, ENDS_WITHIN))
                {
                    Ok(_) => return Ok(None),
                    Err(e) => errors.push(e),
                },
                StopStep::Signal { .. } => {}
                StopStep::Run {
                    savepoint: true, ..
                } if cancel => {}
                StopStep::Run {
                    command,
                    timeout_sec,
                    savepoint,
                } => {
                    let job_id = if *savepoint {
                        wait_all_tasks_running(&self.flink, &app)
                    } else {
                        match job_progress(&self.flink, &app) {
                            JobProgress::Running(job) => Some(job),
                            _ => None,
                        }
                    }
                    .map(|j| j.id);
                    let value_of = |slot: Slot| match slot {
                        Slot::YarnApplicationId => Some(app_id.clone()),
                        Slot::FlinkJobId => job_id.clone(),
                        Slot::SavepointDir => spec.savepoint_dir.clone(),
                        _ => None,
                    };
                    let argv = match expand(&command.argv, &value_of) {
                        Ok(argv) => argv,
                        Err(e) => {
                            errors.push(format!("skipped a stop command: {e}"));
                            continue;
                        }
                    };
                    match process::run_to_end(
                        &argv,
                        &spec.workdir,
                        &spec.env,
                        spec.user.as_deref(),
                        &attempt.log,
                        Duration::from_secs(*timeout_sec),
                        &|_| {},
                    ) {
                        Ok(true) => {
                            let written = savepoint
                                .then(|| savepoint_path(&process::tail(&attempt.log, 64 * 1024)))
                                .flatten();
                            if wait_final(rm, &app_id, ENDS_WITHIN).is_ok() {
                                return Ok(written);
                            }
                            errors.push(format!(
                                "{} returned but the application did not end",
                                argv.get(1).map(String::as_str).unwrap_or("stop")
                            ));
                        }
                        Ok(false) => errors.push(format!(
                            "{} failed (see the attempt log)",
                            argv.get(1).map(String::as_str).unwrap_or("stop")
                        )),
                        Err(e) => errors.push(e),
                    }
                }
            }
        }
        Err(errors.join("; "))
    }
}

/// A savepoint needs every task running; a job just (re)started may still be building its
/// graph or deploying its tasks, and a JobManager just started may not answer yet: wait for
/// that (up to a limit), not for a job that has ended.
fn wait_all_tasks_running(flink: &Flink, app: &YarnApp) -> Option<RunningJob> {
    if app.state != YarnState::Running {
        // No JobManager yet: nothing to take a savepoint of.
        return None;
    }
    let deadline = Instant::now() + TASKS_RUNNING_WITHIN;
    loop {
        let progress = job_progress(flink, app);
        let out_of_time = Instant::now() > deadline;
        match progress {
            JobProgress::Running(job) if job.all_tasks_running || out_of_time => return Some(job),
            JobProgress::Ended => return None,
            JobProgress::Unknown | JobProgress::Starting if out_of_time => return None,
            _ => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}

fn wait_final(rm: &ResourceManager, app_id: &str, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        if rm.app(app_id).map_err(|e| e.to_string())?.is_final() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{app_id} did not end within {} s",
                within.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// How far a Flink application's job has come, asked through its tracking URL.
fn job_progress(flink: &Flink, app: &YarnApp) -> JobProgress {
    match app.tracking_url.as_deref() {
        Some(tracking) => flink.progress(tracking),
        None => JobProgress::Unknown,
    }
}

/// An RM that did not answer is worth another attempt.
fn transient(e: ClientError) -> StartFailure {
    StartFailure::transient(e.to_string())
}

/// The savepoint path that `flink stop` printed ("Savepoint completed. Path: …").
fn savepoint_path(output: &str) -> Option<String> {
    output
        .lines()
        .rev()
        .find_map(|l| l.split("Savepoint completed. Path: ").nth(1))
        .map(|p| p.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::Arc;

    /// Answers the RM's two application queries on 127.0.0.1 as a ResourceManager with
    /// `listed` applications does, and records the paths asked for.
    fn resource_manager(listed: &'static [&'static str]) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&asked);
        let app = |id: &str| {
            format!(
                r#"{{"id":"{id}","name":"job","state":"RUNNING","finalStatus":"UNDEFINED","applicationTags":"dm"}}"#
            )
        };
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                reader.read_line(&mut request).unwrap();
                let path = request.split(' ').nth(1).unwrap_or("").to_string();
                let mut header = String::new();
                while reader.read_line(&mut header).unwrap() > 2 {
                    header.clear();
                }
                let (status, body) = if path.starts_with("/ws/v1/cluster/apps?") {
                    let apps: Vec<String> = listed.iter().map(|id| app(id)).collect();
                    (
                        "200 OK",
                        format!(r#"{{"apps":{{"app":[{}]}}}}"#, apps.join(",")),
                    )
                } else if let Some(id) = path.strip_prefix("/ws/v1/cluster/apps/") {
                    if id.ends_with("0009") {
                        ("404 Not Found", String::new())
                    } else {
                        ("200 OK", format!(r#"{{"app":{}}}"#, app(id)))
                    }
                } else {
                    ("400 Bad Request", String::new())
                };
                log.lock().unwrap().push(path);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (base, asked)
    }

    /// The tags of a plugin's YARN job in application `app`.
    fn tags(app: &str) -> Vec<String> {
        vec![
            "dm".into(),
            format!("dm-app-{app}"),
            "dm-component-flink-c".into(),
        ]
    }

    fn running_attempt(app_id: &str) -> Attempt {
        Attempt {
            number: 1,
            started_ms: 1,
            ended_ms: None,
            pid: None,
            yarn_application_id: Some(app_id.into()),
            outcome: None,
            reason: None,
            log: "/nonexistent/attempt-1.log".into(),
        }
    }

    #[test]
    fn many_jobs_are_watched_with_one_listing_per_tick() {
        let (base, asked) = resource_manager(&[
            "application_1_0001",
            "application_1_0002",
            "application_1_0003",
        ]);
        let runner = YarnRunner::new(Some(ResourceManager::new(&base)));
        let jobs: Vec<(Vec<String>, Attempt)> = (1..=3)
            .map(|n| {
                (
                    tags(&format!("app{n}")),
                    running_attempt(&format!("application_1_000{n}")),
                )
            })
            .collect();
        std::thread::scope(|scope| {
            for (tags, attempt) in &jobs {
                let runner = &runner;
                scope.spawn(move || {
                    let seen = runner.observe(tags, attempt, None);
                    assert!(
                        matches!(&seen, Observation::Yarn(app) if Some(&app.id) == attempt.yarn_application_id.as_ref()),
                        "{seen:?}"
                    );
                });
            }
        });
        assert_eq!(
            *asked.lock().unwrap(),
            ["/ws/v1/cluster/apps?applicationTags=dm"],
            "three jobs, one call"
        );

        // One not in the listing is asked for alone; one the RM does not know is gone.
        let seen = runner.observe(&jobs[0].0, &running_attempt("application_1_0004"), None);
        assert!(
            matches!(seen, Observation::Yarn(ref app) if app.id == "application_1_0004"),
            "{seen:?}"
        );
        let seen = runner.observe(&jobs[0].0, &running_attempt("application_1_0009"), None);
        assert_eq!(
            seen,
            Observation::YarnGone {
                app_id: "application_1_0009".into()
            }
        );
        assert_eq!(asked.lock().unwrap().len(), 3);

        // The next tick lists again.
        std::thread::sleep(YARN_WATCH);
        runner.observe(&jobs[1].0, &jobs[1].1, None);
        assert_eq!(
            asked.lock().unwrap().last().map(String::as_str),
            Some("/ws/v1/cluster/apps?applicationTags=dm")
        );
        assert_eq!(asked.lock().unwrap().len(), 4);
    }

    #[test]
    fn an_rm_that_does_not_answer_is_an_outage_not_an_end() {
        // Nothing listens on a port just freed.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let rm = ResourceManager::with_timeouts(
            &format!("http://127.0.0.1:{port}"),
            Duration::from_secs(1),
            Duration::from_secs(2),
        );
        let runner = YarnRunner::new(Some(rm));
        assert_eq!(
            runner.observe(&tags("app"), &running_attempt("application_1_0001"), None),
            Observation::RmUnanswered
        );
    }

    #[test]
    fn finds_the_savepoint_flink_printed() {
        let out = "Suspending job abc.\nSavepoint completed. Path: hdfs://nn:9000/sp/savepoint-abc-1234\nOK\n";
        assert_eq!(
            savepoint_path(out).as_deref(),
            Some("hdfs://nn:9000/sp/savepoint-abc-1234")
        );
        assert_eq!(savepoint_path("nothing here"), None);
    }
}
