//! dm's mirror for offline edge nodes (issue 14): `build` fetches what a manifest lists, checks
//! each file against its published checksum and lays it out in dm's mirror format
//! ([`dm_clients::mirror`]); `verify` re-checks a mirror; `serve` serves it over HTTP. The
//! artifact store ([`store::ArtifactStore`]) is the one interface to where such files live: a
//! local folder, or HDFS for dmd's package repository.

pub mod build;
pub mod hash;
pub mod hdfs_store;
pub mod manifest;
pub mod serve;
pub mod store;
pub mod verify;
