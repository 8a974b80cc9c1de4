//! # dm-core
//!
//! The deployment manager itself: `dmd`, the daemon that turns application packages into
//! running applications over a PNDA-compatible REST API (its command-line client is the
//! `dmctl` crate).
//!
//! One job per module: [`config`] (TOML + environment + flags, one key per endpoint) with
//! [`discovery`] (what a bare dmd finds on its own), [`registry`] (SQLite) and [`journal`]
//! (operations, for crash recovery), [`repository`] (package storage), [`lifecycle`] (the
//! engine), [`runtime`] (the component interface), [`plugin_runtime`] (components run by
//! runtime plugins and the supervisor), [`properties`] (property layering), [`hdfs`] (HDFS
//! client), [`hdfs_json`] (PNDA's `hdfs.json` descriptor), [`oozie`] (Oozie's REST API, the
//! runner of Oozie plans and PNDA's Oozie summary), [`notebooks`] (Jupyter notebooks in git),
//! [`status`] (what applications really do, observed on YARN) and [`health`] (platform health
//! probes) with [`cluster`] (their endpoints and HTTP client), [`auth`], [`callbacks`],
//! [`metrics`], [`api`] (HTTP), [`server`] (assembly), [`logging`] and [`pause_points`]
//! (crash-test pause points).

pub mod api;
pub mod auth;
pub mod callbacks;
pub mod cluster;
pub mod config;
pub mod discovery;
pub mod error;
pub mod hdfs;
pub mod hdfs_json;
pub mod health;
pub mod journal;
pub mod lifecycle;
pub mod logging;
pub mod metrics;
pub mod notebooks;
pub mod oozie;
pub mod pause_points;
pub mod plugin_runtime;
pub mod properties;
pub mod registry;
pub mod repository;
pub mod runtime;
pub mod savepoints;
pub mod server;
pub mod status;
pub mod upgrades;
