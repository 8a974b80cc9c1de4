//! # dm-core
//!
//! The deployment manager itself: `dmd`, the daemon that turns application packages into
//! running applications over a PNDA-compatible REST API (its command-line client is the
//! `dmctl` crate).
//!
//! One job per module: [`config`] (TOML + environment + flags), [`registry`] (SQLite) and
//! [`journal`] (operations, for crash recovery), [`repository`] (package storage),
//! [`lifecycle`] (the engine), [`runtime`] (the component interface), [`plugin_runtime`]
//! (components run by runtime plugins and the supervisor), [`properties`]
//! (property layering), [`hdfs`] (HDFS client), [`hdfs_paths`] (PNDA's `hdfs.json`), [`oozie`] (Oozie's REST
//! API) and [`oozie_job`] (Oozie plans carried out), [`notebooks`] (Jupyter notebooks in git), [`oozie_summary`] (PNDA's Oozie summary),
//! [`status`] (what applications really do, observed on YARN) and [`health`] (platform health
//! probes) with [`cluster`] (their endpoints), [`auth`], [`callbacks`], [`metrics`], [`api`] (HTTP), [`server`]
//! (assembly), [`logging`] and [`hooks`] (crash-test pause points).

pub mod api;
pub mod auth;
pub mod callbacks;
pub mod cluster;
pub mod config;
pub mod discovery;
pub mod error;
pub mod hdfs;
pub mod hdfs_paths;
pub mod health;
pub mod hooks;
pub mod journal;
pub mod lifecycle;
pub mod logging;
pub mod metrics;
pub mod notebooks;
pub mod oozie;
pub mod oozie_job;
pub mod oozie_summary;
pub mod plugin_runtime;
pub mod properties;
pub mod registry;
pub mod repository;
pub mod runtime;
pub mod server;
pub mod status;
