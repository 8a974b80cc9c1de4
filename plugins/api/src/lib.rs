//! # dm-plugin-api
//!
//! The one interface between `dmd` and a component type (`flink`, `sparkStreaming`, …).
//!
//! - [`abi`]: the versioned C ABI (version 2). A plugin is a shared library exporting `dm_plugin_entry`;
//!   requests and answers cross as JSON buffers; panics never cross.
//! - [`model`]: what crosses it. Plugins are *planners*: given a component, its resolved
//!   properties and the target, they answer with validation findings and a [`Plan`] (files to
//!   render, the job's argv, respawn policy, how to find it on YARN and how to stop it); `dmd`
//!   carries the plan out, so all I/O lives in one place.
//! - [`flink_legacy`]: Flink 1.x's YARN options (`-yn 1 -yjm 1024`) as configuration keys, for
//!   every plugin that runs Flink.
//! - [`observe`]: what dmd observes of a component ([`observe::Observations`]), what a plugin
//!   declares to be observed ([`observe::Observe`]) and the [`observe::ComponentSummary`] it
//!   derives with `summarize`; [`summarize`]: the derivation steps plugins share.
//! - [`identity`]: dm's YARN tags, job ids and job names, built in one place.
//! - [`props`]: helpers for reading PNDA-style properties in plugins.
//! - `host` (feature `host`): loading plugins from a folder with libloading, refusing files that
//!   are not plugins or were built for another ABI version.
//!
//! A plugin crate implements [`ComponentPlugin`] and calls [`export_plugin!`].

pub mod abi;
pub mod flink_legacy;
#[cfg(feature = "host")]
pub mod host;
pub mod identity;
pub mod model;
pub mod observe;
pub mod props;
pub mod summarize;
pub mod template;

pub use abi::{ComponentPlugin, ErrorKind, PluginError, ABI_VERSION};
pub use model::*;
pub use packaging::{code, file_rules, Finding};
