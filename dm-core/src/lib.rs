//! # dm-core
//!
//! The deployment manager itself: `dmd`, the daemon that turns application packages into
//! running applications over a REST API (registry, operation journal, plugin host, executor,
//! observer), and `dmctl`, its command-line client.
//!
//! So far this crate holds `dmctl package`, which reads, checks, unpacks and builds packages
//! with the [`packaging`] crate exactly as the daemon will.
