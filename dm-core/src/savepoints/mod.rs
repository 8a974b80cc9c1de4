//! The savepoint catalog: every Flink savepoint dm triggered, took at a stop or was asked to
//! restore from, with its lineage. [`catalog`] is its table in the registry, [`policy`] the
//! pure decisions (what "latest" is, what may be disposed, when a periodic savepoint is due,
//! what retention removes, how a trigger left in flight by a crash is resolved), [`worker`]
//! the thread that polls triggers, takes periodic savepoints and applies retention.
//!
//! A trigger is written to the catalog as `IN_PROGRESS` *before* it is sent to Flink, so a
//! crash in between leaves a row that recovery resolves; no savepoint is ever lost from sight.

pub mod catalog;
pub mod flink_rest;
pub mod policy;
pub mod worker;

use serde::Serialize;

macro_rules! named {
    ($(#[$meta:meta])* $ty:ident { $($variant:ident = $name:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        pub enum $ty { $(#[serde(rename = $name)] $variant),* }
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }
            pub fn parse(s: &str) -> Option<$ty> {
                match s { $($name => Some($ty::$variant),)* _ => None }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

named!(
    /// Why a savepoint was taken.
    Trigger { Manual = "MANUAL", Periodic = "PERIODIC", Stop = "STOP", Upgrade = "UPGRADE" }
);
named!(
    /// Where a savepoint is in its life.
    SavepointState {
        InProgress = "IN_PROGRESS", Completed = "COMPLETED", Failed = "FAILED", Disposed = "DISPOSED",
    }
);

/// One row of the catalog, as `GET /applications/{a}/savepoints` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Savepoint {
    pub id: i64,
    pub application: String,
    pub component: String,
    pub flink_version: Option<String>,
    pub job_id: Option<String>,
    pub yarn_id: Option<String>,
    /// Where Flink wrote it, once completed.
    pub path: Option<String>,
    pub trigger: Trigger,
    /// The package (`name-version`) the job ran when it was taken.
    pub package: String,
    /// Milliseconds since the epoch: when it was asked for, and when it completed or failed.
    pub created_ms: i64,
    pub finished_ms: Option<i64>,
    pub state: SavepointState,
    pub error: Option<String>,
    /// The savepoint the job that took this one had been started from (lineage).
    pub restored_from: Option<i64>,
    /// Flink's `request-id` of the trigger, once sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flink_trigger: Option<String>,
}

/// What a start restores each Flink component from (`?savepoint=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreChoice {
    /// The newest completed savepoint of the component (the default, as before the catalog).
    Latest,
    /// Start with empty state.
    Empty,
    /// This catalog row (it names its component; the others use `Latest`).
    Id(i64),
}

impl RestoreChoice {
    pub fn parse(text: Option<&str>) -> Result<RestoreChoice, String> {
        match text {
            None | Some("latest") => Ok(RestoreChoice::Latest),
            Some("none") => Ok(RestoreChoice::Empty),
            Some(id) => id.parse().map(RestoreChoice::Id).map_err(|_| {
                format!("savepoint={id:?} is not a savepoint id, \"latest\" or \"none\"")
            }),
        }
    }
}
