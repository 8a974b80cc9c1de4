//! # dm-supervisor
//!
//! The process supervisor of dm's long-running jobs: a small separate process that `dmd` talks
//! to over a Unix socket ([`protocol`], [`client`], [`server`]), so that restarting or upgrading
//! `dmd` never stops a job.
//!
//! ## Shape: observe → decide → record → act
//! Each job has one thread ([`supervisor`]). It *observes* the current attempt through the
//! runner of the job's kind — [`local_runner`] (a local process: alive, exited with a status,
//! gone) or [`yarn_runner`] (the YARN application as the ResourceManager reports it, a
//! submission interrupted by a restart, or no answer) — into a [`decide::Observation`]. The
//! pure [`decide::decide`] turns the job's record, that observation and the time into a
//! [`decide::Step`] (start attempt N, watch again after D, back off until T, the attempt ended
//! and then respawn at T or finish with a reason, kill an application past its deadline,
//! adopt…). [`decide::record`] writes the step into the record, which is saved to `state.json`
//! ([`state`], atomic write) *before* the thread acts on it. Every policy is in [`decide`] and
//! unit-tested there without a process or a server:
//!
//! - Respawn policies `always`, `on-failure`, `on-success`, `no`, with the plan's delay doubled
//!   for each quick failure in a row (up to five minutes); a run of a minute or more, or a
//!   success, resets it.
//! - The start limit counts only automatic respawns after failures (more than ten within
//!   thirty minutes and the job ends FAILED, naming its last failures); the user's starts and
//!   stops are never counted and reset it.
//! - A job on YARN that fails before it has run (a deterministic failure: bad arguments, a
//!   missing main class) ends FAILED with its root cause instead of looping ([`failure`]).
//! - A submission still waiting for resources after a deadline is killed.
//! - Before submitting, a live application of the job, found by its tags, is adopted instead
//!   and older copies are killed, so two copies never run.
//!
//! ## Where jobs run
//! - On YARN ([`yarn_runner`]; the RM and Flink clients are `dm_clients`'), every submission carries the job's
//!   tags plus one for the attempt. The jobs' threads share one listing of `dm`-tagged
//!   applications per tick instead of one RM call per job. Stops follow the plan's steps (Flink:
//!   stop with savepoint, recorded; cancel; kill through the RM).
//! - Locally ([`local_runner`], [`process`]), a job runs in its own process group with its
//!   output in a per-attempt log file (capped by copy-and-truncate); stop is SIGTERM to the
//!   group, SIGKILL after a grace period. Jobs run as the application's user when the
//!   supervisor runs as root.
//! - When the supervisor restarts it adopts what still runs (recognised by pid and start time,
//!   or by YARN tags) rather than starting it again.

pub mod client;
pub mod decide;
pub mod failure;
pub mod local_runner;
pub mod process;
pub mod protocol;
pub mod server;
pub mod state;
pub mod supervisor;
pub mod yarn_runner;
