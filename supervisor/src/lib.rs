//! # dm-supervisor
//!
//! The process supervisor of dm's long-running jobs: a small separate process that `dmd` talks
//! to over a Unix socket, so that restarting or upgrading `dmd` never stops a job. It applies
//! each job's respawn policy, keeps per-attempt logs, stops jobs cleanly, and adopts what is
//! still running after it restarts. It knows processes and YARN applications, not packages.
//!
//! Not yet implemented: this crate marks its place in the workspace (see `../shared/design.md`).
