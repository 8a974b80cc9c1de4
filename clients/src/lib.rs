//! # dm-clients
//!
//! dm's one home for the outside systems it calls. Nothing of dm's own model is in here: each
//! module speaks one system's API in that system's terms, with typed answers and one error type.
//!
//! - [`http`]: the client builder every module uses (timeouts, bounded retries of reads) and
//!   [`ClientError`].
//! - [`yarn`]: the ResourceManager (applications by tag, one report, kill) and the
//!   NodeManager's container logs of an ApplicationMaster.
//! - [`flink`]: a Flink JobManager's REST API (jobs, checkpoints, savepoints, stop, cancel).
//! - [`spark`]: a Spark driver's REST API (jobs, stages).
//! - [`oozie`]: Oozie's web services API (jobs, submission, actions).
//! - [`mirror`]: a dm mirror (`index.json`, `sha512sum` files, downloads verified while they stream).

pub mod flink;
pub mod http;
pub mod mirror;
pub mod oozie;
pub mod spark;
pub mod yarn;

pub use http::{ClientError, ErrorKind, HttpClient};
