//! # dm-mirror
//!
//! The artifact store behind dm: one interface over a local folder and HDFS that holds
//! application packages, engine distributions (several Flink versions side by side) and jars,
//! plus the mirror builder (from a manifest, with checksums) and server, so that edge nodes
//! install from it offline.
//!
//! Not yet implemented: this crate marks its place in the workspace (see `../shared/design.md`).
