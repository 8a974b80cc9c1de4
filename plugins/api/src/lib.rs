//! # dm-plugin-api
//!
//! The interface between `dmd` and the runtime plugins that handle each component type
//! (`flink`, `sparkStreaming`, `oozie`, `jupyter`).
//!
//! Today a component type contributes its package validation rules, through
//! [`packaging::ComponentRules`]; the built-in rule sets are in [`packaging::RuleSet::builtin`].
//! The versioned C ABI through which `dmd` loads plugins at run time (libloading) and the
//! planning interface (create/start/stop/destroy plans, status) are added here next
//! (see `../shared/design.md`).

pub use packaging::{ComponentRules, Finding, RuleSet};
