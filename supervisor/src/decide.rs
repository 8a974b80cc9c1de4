//! The supervisor's decisions, as pure functions. A job's thread observes its current attempt
//! (a local process, or a YARN application) into an [`Observation`], asks [`decide`] what to do
//! with the job's record and the time, gets a [`Step`] back, writes it into the record with
//! [`record`] (saved before anything is done), and only then acts on it. Every policy lives
//! here: respawn policies, the plan's delay and the back-off, the start limit, the submission
//! deadline, deterministic failures ([`failure`]), and which live YARN application to adopt.
//! Nothing here starts a process or calls a server.

use crate::failure::{self, YarnFailure, HEALTHY_RUN_MS};
use crate::protocol::{Attempt, JobState, Outcome};
use crate::state::{Desired, JobRecord};
use dm_clients::yarn::{FinalStatus, YarnApp};
use dm_plugin_api::RespawnPolicy;
use std::path::Path;
use std::time::Duration;

/// The shortest wait before a respawn, whatever the plan's delay.
pub const MIN_DELAY_MS: u64 = 200;
/// Back-off doubles per quick failure up to this.
pub const MAX_BACKOFF_MS: u64 = 300_000;
/// More automatic respawns after failures than this within the window make the supervisor
/// give up.
pub const START_LIMIT: usize = 10;
pub const START_LIMIT_WINDOW_MS: u64 = 30 * 60_000;
/// A YARN application still waiting for resources after this long is killed.
pub const SUBMISSION_DEADLINE: Duration = Duration::from_secs(300);
/// How long a submit command may run.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(600);
/// How often a running attempt is looked at.
pub const LOCAL_WATCH: Duration = Duration::from_millis(200);
pub const YARN_WATCH: Duration = Duration::from_secs(2);
/// How many failures a start limit's reason names.
const NAMED_FAILURES: usize = 3;

/// What was seen of a job's current attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// What starting the attempt gave.
    Started(Result<Launched, StartFailure>),
    /// The attempt's local process.
    Local(LocalProcess),
    /// The attempt's YARN application, as the ResourceManager reports it.
    Yarn(YarnApp),
    /// The ResourceManager does not know the attempt's application (any more).
    YarnGone { app_id: String },
    /// A YARN attempt without an application id: a supervisor restart interrupted its
    /// submission. `found` is the application carrying the attempt's tag, if YARN has one;
    /// `submit_alive` whether the recorded submit command still runs.
    Submission {
        found: Option<String>,
        submit_alive: bool,
    },
    /// The ResourceManager did not answer: an outage is not an answer.
    RmUnanswered,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LocalProcess {
    Alive,
    /// The supervisor's own child exited; `code` is `None` when a signal ended it.
    Exited {
        success: bool,
        code: Option<i32>,
        /// The root exception or error in its log, if any.
        root_cause: Option<String>,
    },
    /// A process adopted after a restart is gone: its exit status cannot be known.
    Gone,
}

/// What a successful start produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Launched {
    Local {
        pid: u32,
        ticks: Option<u64>,
    },
    /// Submitted, or a live application of the job adopted instead.
    Yarn {
        app_id: String,
    },
}

/// Why an attempt could not be started.
#[derive(Debug, Clone, PartialEq)]
pub struct StartFailure {
    pub reason: String,
    pub kind: StartFailureKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StartFailureKind {
    /// Worth another attempt: the ResourceManager did not answer, a process could not be
    /// spawned, YARN did not list the application in time.
    Transient,
    /// The plan's command cannot be made: it would fail the same way every time.
    Invalid,
    /// The submit command failed; what it wrote tells whether it would fail again.
    Submission { output: String },
}

impl StartFailure {
    pub fn transient(reason: impl Into<String>) -> StartFailure {
        StartFailure {
            reason: reason.into(),
            kind: StartFailureKind::Transient,
        }
    }

    fn is_deterministic(&self) -> bool {
        match &self.kind {
            StartFailureKind::Transient => false,
            StartFailureKind::Invalid => true,
            StartFailureKind::Submission { output } => {
                failure::is_deterministic(YarnFailure::Submission { log_tail: output })
            }
        }
    }
}

/// What to do next with a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The job is not to run (any more): its thread ends.
    Quit,
    /// Wait until then (ms since the epoch) before the next attempt.
    BackOff { until_ms: u64 },
    /// Start attempt `number`.
    Start { number: u32 },
    /// The attempt was launched and runs.
    Running(Launched),
    /// The application an interrupted submission produced is the attempt's.
    Adopt { app_id: String },
    /// Nothing changed: look again after this long.
    Watch(Duration),
    /// The attempt ended — after its application is killed, when `kill` names one.
    Ended {
        kill: Option<String>,
        outcome: Outcome,
        reason: Option<String>,
        consecutive_failures: u32,
        then: Then,
    },
}

/// After an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Then {
    /// Start another at `at_ms`; `counted` by the start limit (a respawn after a failure).
    Respawn { at_ms: u64, counted: bool },
    /// No more attempts.
    Finish {
        state: JobState,
        reason: Option<String>,
    },
}

/// The next step for `job`, given what was `seen` of its current attempt (`None` when there
/// is none, or it has not been looked at yet) at `now` (ms since the epoch).
pub fn decide(job: &JobRecord, seen: Option<&Observation>, now: u64) -> Step {
    if job.desired != Desired::Running {
        return Step::Quit;
    }
    let Some(current) = job.current() else {
        if matches!(job.state, JobState::Ended | JobState::Failed) {
            return Step::Quit;
        }
        if now < job.next_start_ms {
            return Step::BackOff {
                until_ms: job.next_start_ms,
            };
        }
        return Step::Start {
            number: job.attempts.last().map_or(1, |a| a.number + 1),
        };
    };
    let Some(seen) = seen else {
        return Step::Watch(Duration::ZERO);
    };
    let ended = |outcome, reason: Option<String>, deterministic, kill| {
        end(job, current, now, outcome, reason, deterministic, kill)
    };
    match seen {
        Observation::Started(Ok(launched)) => Step::Running(launched.clone()),
        Observation::Started(Err(failure)) => ended(
            Outcome::Failed,
            Some(failure.reason.clone()),
            failure.is_deterministic(),
            None,
        ),
        Observation::Local(LocalProcess::Alive) => Step::Watch(LOCAL_WATCH),
        Observation::Local(LocalProcess::Exited { success: true, .. }) => {
            ended(Outcome::Succeeded, None, false, None)
        }
        Observation::Local(LocalProcess::Exited {
            success: false,
            code,
            root_cause,
        }) => {
            let reason = root_cause.clone().unwrap_or_else(|| match code {
                Some(code) => format!("exited with status {code}"),
                None => "exited with status (killed by a signal)".to_string(),
            });
            ended(Outcome::Failed, Some(reason), false, None)
        }
        Observation::Local(LocalProcess::Gone) => ended(
            Outcome::Unknown,
            Some("ended while the supervisor was not running; exit status unknown".into()),
            false,
            None,
        ),
        Observation::YarnGone { app_id } => ended(
            Outcome::Unknown,
            Some(format!(
                "YARN no longer knows application {app_id} (was the ResourceManager restarted?)"
            )),
            false,
            None,
        ),
        Observation::Yarn(app) if app.is_final() => {
            let (outcome, reason, deterministic) =
                yarn_end(app, now.saturating_sub(current.started_ms));
            ended(outcome, reason, deterministic, None)
        }
        Observation::Yarn(app)
            if app.is_pending()
                && Duration::from_millis(now.saturating_sub(current.started_ms))
                    > SUBMISSION_DEADLINE =>
        {
            let reason = format!(
                "YARN application {} was still {} after {} s: killed",
                app.id,
                app.state,
                SUBMISSION_DEADLINE.as_secs()
            );
            ended(Outcome::Failed, Some(reason), false, Some(app.id.clone()))
        }
        Observation::Yarn(_) | Observation::RmUnanswered => Step::Watch(YARN_WATCH),
        Observation::Submission {
            found: Some(app_id),
            ..
        } => Step::Adopt {
            app_id: app_id.clone(),
        },
        Observation::Submission {
            found: None,
            submit_alive,
        } if *submit_alive
            && Duration::from_millis(now.saturating_sub(current.started_ms)) < SUBMIT_TIMEOUT =>
        {
            Step::Watch(YARN_WATCH)
        }
        Observation::Submission { found: None, .. } => ended(
            Outcome::Unknown,
            Some(
                "the submission was interrupted by a supervisor restart and produced no YARN application"
                    .into(),
            ),
            false,
            None,
        ),
    }
}

/// How a final YARN application ended: outcome, reason, and whether it failed in a way that
/// would repeat. `ran_ms` is the time since the attempt started.
fn yarn_end(app: &YarnApp, ran_ms: u64) -> (Outcome, Option<String>, bool) {
    if app.final_status == FinalStatus::Succeeded {
        return (Outcome::Succeeded, None, false);
    }
    let diagnostics = app.diagnostics.as_deref().unwrap_or("");
    let deterministic = app.final_status == FinalStatus::Failed
        && failure::is_deterministic(YarnFailure::Application {
            ran_ms,
            diagnostics,
        });
    let first = diagnostics.lines().next().unwrap_or("").trim();
    let reason = format!(
        "YARN application {} ended {} ({}){}",
        app.id,
        app.state,
        app.final_status,
        if first.is_empty() {
            String::new()
        } else {
            format!(": {first}")
        }
    );
    (Outcome::Failed, Some(reason), deterministic)
}

/// The current attempt ended: by the job's policy, respawn (after the delay and back-off,
/// within the start limit) or finish. A deterministic failure finishes whatever the policy.
fn end(
    job: &JobRecord,
    current: &Attempt,
    now: u64,
    outcome: Outcome,
    reason: Option<String>,
    deterministic: bool,
    kill: Option<String>,
) -> Step {
    let respawn = &job.spec.job.respawn;
    let by_policy = match respawn.policy {
        RespawnPolicy::Always => true,
        RespawnPolicy::OnFailure => matches!(outcome, Outcome::Failed | Outcome::Unknown),
        RespawnPolicy::OnSuccess => outcome == Outcome::Succeeded,
        RespawnPolicy::No => false,
    };
    let ran_ms = now.saturating_sub(current.started_ms);
    let consecutive_failures = if outcome == Outcome::Succeeded || ran_ms >= HEALTHY_RUN_MS {
        0
    } else {
        job.consecutive_failures + 1
    };
    let failed = matches!(outcome, Outcome::Failed | Outcome::Unknown);
    let then = if deterministic || !by_policy {
        let state = if outcome == Outcome::Succeeded {
            JobState::Ended
        } else {
            JobState::Failed
        };
        let reason = match &reason {
            Some(reason) if deterministic && respawn.policy != RespawnPolicy::No => Some(format!(
                "{reason}; not respawned: it failed before it ran and would fail the same way again"
            )),
            _ => reason.clone(),
        };
        Then::Finish { state, reason }
    } else if failed && recent_respawns(job, now) >= START_LIMIT {
        Then::Finish {
            state: JobState::Failed,
            reason: Some(start_limit_reason(job, current, reason.as_deref(), now)),
        }
    } else {
        Then::Respawn {
            at_ms: now + backoff_ms(respawn.delay_sec, consecutive_failures),
            counted: failed,
        }
    };
    Step::Ended {
        kill,
        outcome,
        reason,
        consecutive_failures,
        then,
    }
}

/// The wait before a respawn: the plan's delay, doubled for each quick failure in a row after
/// the first, up to [`MAX_BACKOFF_MS`].
pub fn backoff_ms(delay_sec: u64, consecutive_failures: u32) -> u64 {
    let base = delay_sec.saturating_mul(1000).max(MIN_DELAY_MS);
    base.saturating_mul(1u64 << consecutive_failures.saturating_sub(1).min(16))
        .min(MAX_BACKOFF_MS)
}

/// Automatic respawns after failures within the start limit's window.
fn recent_respawns(job: &JobRecord, now: u64) -> usize {
    job.respawns_ms
        .iter()
        .filter(|&&at| at + START_LIMIT_WINDOW_MS > now)
        .count()
}

/// Names what reached the limit: the count, and the last failures with their attempts.
fn start_limit_reason(
    job: &JobRecord,
    current: &Attempt,
    reason: Option<&str>,
    now: u64,
) -> String {
    let earlier = job.attempts.iter().rev().filter(|a| {
        a.number != current.number && matches!(a.outcome, Some(Outcome::Failed | Outcome::Unknown))
    });
    let named: Vec<String> = std::iter::once((current.number, reason))
        .chain(earlier.map(|a| (a.number, a.reason.as_deref())))
        .take(NAMED_FAILURES)
        .map(|(number, reason)| match reason {
            Some(reason) => format!("attempt {number}: {reason}"),
            None => format!("attempt {number} failed without a reason given"),
        })
        .collect();
    format!(
        "start limit hit: {} automatic respawns after failures within {} minutes; last failures: {}",
        recent_respawns(job, now),
        START_LIMIT_WINDOW_MS / 60_000,
        named.join("; ")
    )
}

/// Writes `step` into the job's record at `now`; new attempts log into `log_dir`. Returns
/// whether the record changed (and so must be saved).
pub fn record(job: &mut JobRecord, step: &Step, now: u64, log_dir: &Path) -> bool {
    match step {
        Step::Quit | Step::Watch(_) => false,
        Step::BackOff { .. } => {
            let changed = job.state != JobState::BackingOff;
            job.state = JobState::BackingOff;
            changed
        }
        Step::Start { number } => {
            job.attempts.push(Attempt {
                number: *number,
                started_ms: now,
                ended_ms: None,
                pid: None,
                yarn_application_id: None,
                outcome: None,
                reason: None,
                log: log_dir.join(format!("attempt-{number}.log")),
            });
            job.state = JobState::Starting;
            true
        }
        Step::Running(Launched::Local { pid, ticks }) => {
            job.pid_ticks = *ticks;
            if let Some(current) = job.current_mut() {
                current.pid = Some(*pid);
            }
            job.state = JobState::Running;
            true
        }
        Step::Running(Launched::Yarn { app_id }) | Step::Adopt { app_id } => {
            job.pid_ticks = None;
            if let Some(current) = job.current_mut() {
                current.pid = None;
                current.yarn_application_id = Some(app_id.clone());
            }
            job.state = JobState::Running;
            true
        }
        Step::Ended {
            outcome,
            reason,
            consecutive_failures,
            then,
            ..
        } => {
            if let Some(current) = job.current_mut() {
                current.ended_ms = Some(now);
                current.outcome = Some(*outcome);
                current.reason = reason.clone();
                current.pid = None;
            }
            job.pid_ticks = None;
            job.consecutive_failures = *consecutive_failures;
            match then {
                Then::Respawn { at_ms, counted } => {
                    job.next_start_ms = *at_ms;
                    job.state = JobState::BackingOff;
                    job.reason = reason.clone();
                    if *counted {
                        job.respawns_ms
                            .retain(|&at| at + START_LIMIT_WINDOW_MS > now);
                        job.respawns_ms.push(now);
                    }
                }
                Then::Finish { state, reason } => {
                    job.state = *state;
                    job.reason = reason.clone();
                }
            }
            true
        }
    }
}

/// Before submitting, the live applications carrying all of the job's `tags`: the newest is
/// adopted instead of submitting another, older copies are killed, so two never run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Adoption {
    pub adopt: Option<String>,
    pub kill: Vec<String>,
}

pub fn adoption(apps: &[YarnApp], tags: &[String]) -> Adoption {
    let mut live: Vec<&YarnApp> = apps
        .iter()
        .filter(|a| !a.is_final() && a.has_tags(tags))
        .collect();
    live.sort_by_key(|a| a.started_time);
    let adopt = live.pop().map(|a| a.id.clone());
    Adoption {
        adopt,
        kill: live.into_iter().map(|a| a.id.clone()).collect(),
    }
}

#[cfg(test)]
mod tests;
