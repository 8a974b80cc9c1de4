//! One probe per service, each returning PNDA's events for it.

use super::{Event, Level, Probe};
use crate::lifecycle::Engine;
use crate::status::StatusBoard;
use dm_clients::http::join;
use dm_clients::{ClientError, HttpClient};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Folds findings into a level: the worst wins, each finding brings its cause.
#[derive(Default)]
struct Findings {
    level: Option<Level>,
    causes: Vec<String>,
}

impl Findings {
    fn add(&mut self, level: Level, cause: Option<String>) {
        self.level = Some(self.level.map_or(level, |l| l.max(level)));
        self.causes.extend(cause);
    }

    fn level(&self) -> Level {
        self.level.unwrap_or(Level::Ok)
    }
}

/// PNDA's cause text for a failed call to `service` at `path`.
fn cause(service: &str, url: &str, path: &str, fault: &ClientError) -> String {
    match fault.status() {
        Some(_) => format!("{service} - {fault} (request path = {path})"),
        None => {
            format!("Unable to connect to the {service} at {url} (request path = {path}): {fault}")
        }
    }
}

/// GETs `url` as JSON, with the time it took (the health figures report it).
fn timed(http: &HttpClient, url: &str) -> Result<(Value, u64), ClientError> {
    let started = Instant::now();
    let value = http.get_json(url)?;
    Ok((value, started.elapsed().as_millis() as u64))
}

/// The Flink HistoryServers: `/config` answering (and its version), then `/jobs/overview`
/// (a 404 before the first archived job is healthy, with 0 jobs). Emitted under both names in
/// use: `flink.health` (the console's tile) and `hadoop.flink.health` (the seed design).
pub fn flink(http: &HttpClient, urls: &[String], now: i64) -> Probe {
    const SERVICE: &str = "Flink History Server";
    let mut findings = Findings::default();
    let (mut versions, mut available_ms, mut jobs_ms) = (Vec::new(), -1i64, -1i64);
    let (mut available, mut listed, mut jobs) = (true, true, 0i64);
    for url in urls {
        match timed(http, &join(url, "config")) {
            Ok((config, ms)) => {
                available_ms = available_ms.max(ms as i64);
                versions.push(config["flink-version"].as_str().unwrap_or("").to_string());
                findings.add(Level::Ok, None);
            }
            Err(fault) => {
                available = false;
                findings.add(Level::Error, Some(cause(SERVICE, url, "/config", &fault)));
            }
        }
        let started = Instant::now();
        match timed(http, &join(url, "jobs/overview")) {
            Ok((overview, _)) => {
                jobs_ms = jobs_ms.max(started.elapsed().as_millis() as i64);
                jobs += overview["jobs"].as_array().map_or(0, Vec::len) as i64;
            }
            // Nothing archived yet.
            Err(e) if e.status() == Some(404) => {
                jobs_ms = jobs_ms.max(started.elapsed().as_millis() as i64);
            }
            Err(fault) => {
                listed = false;
                findings.add(
                    Level::Error,
                    Some(cause(SERVICE, url, "/jobs/overview", &fault)),
                );
            }
        }
    }
    let level = findings.level();
    let figure = |metric: &str, value: Value| Event::figure("flink", metric, value, now);
    Probe {
        source: "flink",
        level,
        causes: findings.causes.clone(),
        events: vec![
            figure("flink.history_server_available_success", json!(available)),
            figure("flink.installed_flink_version", json!(versions.join(","))),
            figure("flink.history_server_available_ms", json!(available_ms)),
            figure("flink.history_server_completed_jobs_success", json!(listed)),
            figure(
                "flink.history_server_completed_jobs_count",
                json!(if listed { jobs } else { -1 }),
            ),
            figure("flink.history_server_completed_jobs_ms", json!(jobs_ms)),
            Event::health("flink", "flink.health", level, findings.causes.clone(), now),
            Event::health("flink", "hadoop.flink.health", level, findings.causes, now),
        ],
    }
}

/// The Spark history server: `/api/v1/applications` answering, `/api/v1/version`.
pub fn spark(http: &HttpClient, url: &str, now: i64) -> Probe {
    const SERVICE: &str = "Spark History Server";
    let mut findings = Findings::default();
    let mut events = Vec::new();
    match timed(http, &join(url, "api/v1/applications?limit=1")) {
        Ok((_, ms)) => {
            findings.add(Level::Ok, None);
            events.push(Event::figure(
                "SPARK_ON_YARN",
                "hadoop.SPARK_ON_YARN.history_server_available_ms",
                json!(ms),
                now,
            ));
        }
        Err(fault) => findings.add(
            Level::Error,
            Some(cause(SERVICE, url, "/api/v1/applications", &fault)),
        ),
    }
    if let Ok((version, _)) = timed(http, &join(url, "api/v1/version")) {
        events.push(Event::figure(
            "SPARK_ON_YARN",
            "hadoop.SPARK_ON_YARN.installed_spark_version",
            version["spark"].clone(),
            now,
        ));
    }
    finish(
        "SPARK_ON_YARN",
        "hadoop.SPARK_ON_YARN.health",
        findings,
        events,
        now,
    )
}

/// The ResourceManager: its state (`/ws/v1/cluster/info`), its nodes and capacity
/// (`/ws/v1/cluster/metrics`), with PNDA's capacity names.
pub fn yarn(http: &HttpClient, url: &str, now: i64) -> Probe {
    const SERVICE: &str = "YARN ResourceManager";
    let mut findings = Findings::default();
    let mut events = Vec::new();
    match timed(http, &join(url, "ws/v1/cluster/info")) {
        Ok((info, ms)) => {
            let state = info["clusterInfo"]["state"].as_str().unwrap_or("unknown");
            if state == "STARTED" {
                findings.add(Level::Ok, None);
            } else {
                findings.add(
                    Level::Error,
                    Some(format!("{SERVICE} at {url} is {state}, not STARTED")),
                );
            }
            events.push(Event::figure(
                "YARN",
                "hadoop.YARN.resource_manager_ms",
                json!(ms),
                now,
            ));
        }
        Err(fault) => findings.add(
            Level::Error,
            Some(cause(SERVICE, url, "/ws/v1/cluster/info", &fault)),
        ),
    }
    match timed(http, &join(url, "ws/v1/cluster/metrics")) {
        Ok((metrics, _)) => {
            let m = &metrics["clusterMetrics"];
            let n = |key: &str| m[key].as_i64().unwrap_or(0);
            for (name, key) in [
                (
                    "total_available_vcores_across_yarn_pools",
                    "availableVirtualCores",
                ),
                ("total_available_memory_mb_across_yarn_pools", "availableMB"),
                (
                    "allocated_vcores_across_yarn_pools",
                    "allocatedVirtualCores",
                ),
                ("allocated_memory_mb_across_yarn_pools", "allocatedMB"),
                ("active_nodes", "activeNodes"),
                ("unhealthy_nodes", "unhealthyNodes"),
                ("lost_nodes", "lostNodes"),
            ] {
                events.push(Event::figure(
                    "YARN",
                    &format!("hadoop.YARN.{name}"),
                    json!(n(key)),
                    now,
                ));
            }
            if n("activeNodes") == 0 {
                findings.add(
                    Level::Error,
                    Some(format!("{SERVICE} at {url} has no active NodeManager")),
                );
            }
            if n("unhealthyNodes") + n("lostNodes") > 0 {
                findings.add(
                    Level::Warn,
                    Some(format!(
                        "{SERVICE} at {url}: {} unhealthy and {} lost NodeManager(s)",
                        n("unhealthyNodes"),
                        n("lostNodes")
                    )),
                );
            }
        }
        Err(fault) => findings.add(
            Level::Error,
            Some(cause(SERVICE, url, "/ws/v1/cluster/metrics", &fault)),
        ),
    }
    finish("YARN", "hadoop.YARN.health", findings, events, now)
}

/// HDFS: the NameNode answering RPC (hdfs-native), then its JMX for DataNodes and capacity.
pub fn hdfs(
    http: &HttpClient,
    rpc: Option<&str>,
    web: Option<&str>,
    timeout: Duration,
    now: i64,
) -> Probe {
    let mut findings = Findings::default();
    let mut events = Vec::new();
    if let Some(url) = rpc {
        match namenode_rpc(url, timeout) {
            Ok(ms) => {
                findings.add(Level::Ok, None);
                events.push(Event::figure(
                    "HDFS",
                    "hadoop.HDFS.namenode_rpc_ms",
                    json!(ms),
                    now,
                ));
            }
            Err(e) => findings.add(
                Level::Error,
                Some(format!("NameNode {url} does not answer: {e}")),
            ),
        }
    }
    if let Some(url) = web {
        let path = "jmx?qry=Hadoop:service=NameNode,name=FSNamesystemState";
        match timed(http, &join(url, path)) {
            Ok((jmx, _)) => {
                let bean = &jmx["beans"][0];
                let n = |key: &str| bean[key].as_i64().unwrap_or(0);
                for (name, key) in [
                    ("live_datanodes", "NumLiveDataNodes"),
                    ("dead_datanodes", "NumDeadDataNodes"),
                    ("total_dfs_capacity_across_datanodes", "CapacityTotal"),
                    ("total_dfs_capacity_used_across_datanodes", "CapacityUsed"),
                    ("capacity_remaining", "CapacityRemaining"),
                    ("files_total", "FilesTotal"),
                    ("blocks_total", "BlocksTotal"),
                    ("under_replicated_blocks", "UnderReplicatedBlocks"),
                ] {
                    events.push(Event::figure(
                        "HDFS",
                        &format!("hadoop.HDFS.{name}"),
                        json!(n(key)),
                        now,
                    ));
                }
                if n("NumLiveDataNodes") == 0 {
                    findings.add(
                        Level::Error,
                        Some(format!("NameNode {url} reports no live DataNode")),
                    );
                } else if n("NumDeadDataNodes") > 0 {
                    findings.add(
                        Level::Warn,
                        Some(format!(
                            "NameNode {url} reports {} dead DataNode(s)",
                            n("NumDeadDataNodes")
                        )),
                    );
                } else {
                    findings.add(Level::Ok, None);
                }
                if bean["FSState"].as_str().is_some_and(|s| s != "Operational") {
                    findings.add(Level::Warn, Some(format!("NameNode {url} is in safe mode")));
                }
            }
            // The file system may still serve; only its figures are missing.
            Err(fault) => findings.add(
                Level::Warn,
                Some(cause("NameNode JMX", url, "/jmx", &fault)),
            ),
        }
    }
    finish("HDFS", "hadoop.HDFS.health", findings, events, now)
}

/// How long the NameNode takes to stat `/`, failing fast rather than retrying for minutes.
fn namenode_rpc(url: &str, timeout: Duration) -> Result<u64, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let client = hdfs_native::ClientBuilder::new()
        .with_url(url)
        .with_io_runtime(runtime.handle().clone())
        .with_config([("dfs.client.failover.max.attempts", "0")])
        .build()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    runtime.block_on(async {
        match tokio::time::timeout(timeout, client.get_file_info("/")).await {
            Ok(Ok(_)) => Ok(started.elapsed().as_millis() as u64),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {timeout:?}")),
        }
    })
}

/// Oozie: `/v2/admin/status` is NORMAL (SAFEMODE and NOSUBMISSION are warnings).
pub fn oozie(http: &HttpClient, url: &str, now: i64) -> Probe {
    let mut findings = Findings::default();
    let mut events = Vec::new();
    match timed(http, &join(url, "v2/admin/status")) {
        Ok((status, ms)) => {
            let mode = status["systemMode"].as_str().unwrap_or("unknown");
            if mode == "NORMAL" {
                findings.add(Level::Ok, None);
            } else {
                findings.add(
                    Level::Warn,
                    Some(format!("Oozie at {url} is in {mode} mode")),
                );
            }
            events.push(Event::figure(
                "OOZIE",
                "hadoop.OOZIE.system_mode",
                json!(mode),
                now,
            ));
            events.push(Event::figure(
                "OOZIE",
                "hadoop.OOZIE.available_ms",
                json!(ms),
                now,
            ));
        }
        Err(fault) => findings.add(
            Level::Error,
            Some(cause("Oozie", url, "/v2/admin/status", &fault)),
        ),
    }
    finish("OOZIE", "hadoop.OOZIE.health", findings, events, now)
}

/// dm itself, with PNDA's `dm_blackbox` figures (what the console's DM tile reads): the
/// repository's packages and the deployed ones listed, with counts and times; plus the status
/// observer keeping up.
pub fn dm(engine: &Engine, status: &StatusBoard, now: i64) -> Probe {
    const SOURCE: &str = "deployment-manager";
    let mut findings = Findings::default();
    let mut events = Vec::new();
    let figure = |metric: &str, value: Value| {
        Event::figure(SOURCE, &format!("{SOURCE}.{metric}"), value, now)
    };
    let started = Instant::now();
    // `/repository/packages` lists each package name once (its latest version).
    let available = engine.store.list().map(|files| {
        let names: std::collections::BTreeSet<String> =
            files.iter().map(|f| f.id.name().to_string()).collect();
        names.len()
    });
    let available_ms = started.elapsed().as_millis() as u64;
    let started = Instant::now();
    let deployed = engine.list_packages().map(|p| p.len());
    let deployed_ms = started.elapsed().as_millis() as u64;
    for (what, result, ms, path) in [
        (
            "available",
            available.map_err(|e| e.to_string()),
            available_ms,
            "/repository/packages",
        ),
        (
            "deployed",
            deployed.map_err(|e| e.to_string()),
            deployed_ms,
            "/packages",
        ),
    ] {
        events.push(figure(&format!("packages_{what}_time_ms"), json!(ms)));
        events.push(figure(
            &format!("packages_{what}_succeeded"),
            json!(result.is_ok()),
        ));
        match result {
            Ok(count) => {
                findings.add(Level::Ok, None);
                events.push(figure(&format!("packages_{what}_count"), json!(count)));
            }
            Err(e) => findings.add(
                Level::Error,
                Some(format!("Deployment Manager - {e} (request path = {path})")),
            ),
        }
    }
    match engine.list_applications(None) {
        Ok(apps) => events.push(figure("applications_count", json!(apps.len()))),
        Err(e) => findings.add(
            Level::Error,
            Some(format!(
                "Deployment Manager - {e} (request path = /applications)"
            )),
        ),
    }
    let last = status.last_cycle_ms();
    if last > 0 {
        let age = now - last;
        events.push(figure("status_age_ms", json!(age)));
        // Three missed cycles (and some slack for a slow one): the summaries are going stale.
        let stale = 3 * status.interval().as_millis() as i64 + 30_000;
        if age > stale {
            findings.add(
                Level::Warn,
                Some(format!(
                    "Deployment Manager - application status last observed {} s ago",
                    age / 1000
                )),
            );
        }
    }
    finish(
        "deployment-manager",
        "deployment-manager.health",
        findings,
        events,
        now,
    )
}

fn finish(
    source: &'static str,
    metric: &str,
    findings: Findings,
    mut events: Vec<Event>,
    now: i64,
) -> Probe {
    let level = findings.level();
    events.push(Event::health(
        source,
        metric,
        level,
        findings.causes.clone(),
        now,
    ));
    Probe {
        source,
        level,
        causes: findings.causes,
        events,
    }
}
