//! # dm-supervisor
//!
//! The process supervisor of dm's long-running jobs: a small separate process that `dmd` talks
//! to over a Unix socket ([`protocol`], [`client`]), so that restarting or upgrading `dmd`
//! never stops a job.
//!
//! - It applies each job's respawn policy (`always`, `on-failure`, `on-success`, `no`) with the
//!   plan's delay, an exponential back-off for quick failures, and a start limit. A job on
//!   YARN that fails before it has run (a deterministic failure: bad arguments, a missing
//!   main class) ends FAILED with its root cause instead of looping ([`failure`]).
//! - On YARN, what is supervised is the YARN application: every submission carries the job's
//!   tags plus one for the attempt; before submitting, a live application of the job is adopted
//!   instead, so two copies never run. A submission still waiting for resources after a
//!   deadline is killed. Stops follow the plan's steps (Flink: stop with savepoint, recorded;
//!   cancel; kill through the RM).
//! - Locally, a job runs in its own process group with its output in a per-attempt log file
//!   (capped by copy-and-truncate); stop is SIGTERM to the group, SIGKILL after a grace period.
//!   Jobs run as the application's user when the supervisor runs as root.
//! - Its state is saved to disk after every change; when it restarts it adopts what still
//!   runs (recognised by pid and start time, or by YARN tags) rather than starting it again.

pub mod client;
pub mod failure;
pub mod process;
pub mod protocol;
pub mod server;
pub mod supervisor;
pub mod yarn;
