//! Platform health, probed directly (PNDA asked Ambari or Cloudera Manager): the Flink
//! HistoryServers, the Spark history server, the YARN ResourceManager, HDFS (the NameNode over
//! RPC with hdfs-native, its JMX for DataNodes and capacity), Oozie, and dm itself.
//!
//! Every `[health] interval_secs` a thread probes each *configured* service at once (a service
//! without an endpoint is not reported at all, rather than reported as ERROR) and publishes
//! PNDA's metrics (pnda-platform.md §2): `<name>.health` = OK / WARN / ERROR with causes, plus
//! companion figures, each with a millisecond timestamp. They are served by
//! `GET /platform/health`, exposed to Prometheus, and, when `console_url` is set, POSTed in
//! PNDA's format every cycle. Application KPIs from the status observer ride along.

mod probes;

use crate::cluster::{now_ms, Endpoints};
use crate::lifecycle::Engine;
use crate::status::StatusBoard;
use dm_clients::HttpClient;
use prometheus::{GaugeVec, Opts};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The console's body-parser limit: bigger posts are split (PNDA posted event by event).
const MAX_POST_BYTES: usize = 102_400;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Seconds between probe rounds; the console marks a tile stale after 3 minutes.
    pub interval_secs: f64,
    /// Each probe call gives up after this long.
    pub timeout_ms: u64,
    /// PNDA's data logger (`http://logger:3001/metrics`); empty: nothing is posted.
    pub console_url: String,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            interval_secs: 30.0,
            timeout_ms: 5000,
            console_url: String::new(),
        }
    }
}

impl HealthConfig {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(0.1..=170.0).contains(&self.interval_secs) {
            problems.push(
                "health.interval_secs must be between 0.1 and 170 (the console marks a tile stale after 180 s)"
                    .into(),
            );
        }
        if self.timeout_ms == 0 {
            problems.push("health.timeout_ms must be at least 1".into());
        }
        if !(self.console_url.is_empty() || self.console_url.starts_with("http://")) {
            problems.push(format!(
                "health.console_url must be an http:// URL or empty, not {:?}",
                self.console_url
            ));
        }
        problems
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// One PNDA metric value.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub source: String,
    pub metric: String,
    pub value: Value,
    pub causes: Vec<String>,
    pub timestamp: i64,
}

impl Event {
    fn health(source: &str, metric: &str, level: Level, causes: Vec<String>, at: i64) -> Event {
        Event {
            source: source.into(),
            metric: metric.into(),
            value: json!(level.as_str()),
            causes,
            timestamp: at,
        }
    }

    fn figure(source: &str, metric: &str, value: Value, at: i64) -> Event {
        Event {
            source: source.into(),
            metric: metric.into(),
            value,
            causes: Vec::new(),
            timestamp: at,
        }
    }

    /// The JSON for dm's API (causes as a list).
    fn to_json(&self) -> Value {
        json!({"source": self.source, "metric": self.metric, "value": self.value,
               "causes": self.causes, "timestamp": self.timestamp})
    }

    /// PNDA's posted form: causes as a JSON-encoded string.
    fn to_pnda(&self) -> Value {
        json!({"source": self.source, "metric": self.metric, "value": self.value,
               "causes": Value::from(self.causes.clone()).to_string(), "timestamp": self.timestamp})
    }
}

/// What one service's probe found.
pub struct Probe {
    /// The service's health, `hadoop.YARN` etc.
    pub source: &'static str,
    pub level: Level,
    pub causes: Vec<String>,
    /// The `.health` metric names (Flink has two) and the companions.
    pub events: Vec<Event>,
}

#[derive(Default)]
struct Report {
    timestamp: Option<i64>,
    events: Vec<Event>,
}

pub struct HealthBoard {
    latest: RwLock<Arc<Report>>,
    prometheus: prometheus::Registry,
    health: GaugeVec,
    figures: GaugeVec,
}

impl HealthBoard {
    fn new() -> HealthBoard {
        let health = GaugeVec::new(
            Opts::new(
                "dm_platform_health",
                "Platform service health: 0 OK, 1 WARN, 2 ERROR (PNDA's <service>.health)",
            ),
            &["service", "metric"],
        )
        .expect("valid metric");
        let figures = GaugeVec::new(
            Opts::new(
                "dm_platform_figure",
                "Numeric companions of the platform health metrics, by PNDA metric name",
            ),
            &["service", "metric"],
        )
        .expect("valid metric");
        let prometheus = prometheus::Registry::new();
        prometheus
            .register(Box::new(health.clone()))
            .expect("unique");
        prometheus
            .register(Box::new(figures.clone()))
            .expect("unique");
        HealthBoard {
            latest: RwLock::new(Arc::new(Report::default())),
            prometheus,
            health,
            figures,
        }
    }

    /// `{"timestamp", "data": [{source, metric, value, causes, timestamp}]}`.
    pub fn json(&self) -> Value {
        let report = Arc::clone(&self.latest.read().unwrap_or_else(|p| p.into_inner()));
        let data: Vec<Value> = report.events.iter().map(Event::to_json).collect();
        json!({"timestamp": report.timestamp, "data": data})
    }

    pub fn render_prometheus(&self) -> String {
        crate::metrics::render(&self.prometheus)
    }

    fn publish(&self, timestamp: i64, events: Vec<Event>) {
        self.health.reset();
        self.figures.reset();
        for event in events
            .iter()
            .filter(|e| !e.source.starts_with("application."))
        {
            let labels = [event.source.as_str(), event.metric.as_str()];
            if event.metric.ends_with(".health") {
                let level = match event.value.as_str() {
                    Some("OK") => 0.0,
                    Some("WARN") => 1.0,
                    _ => 2.0,
                };
                self.health.with_label_values(&labels).set(level);
            } else if let Some(n) = event.value.as_f64() {
                self.figures.with_label_values(&labels).set(n);
            } else if let Some(b) = event.value.as_bool() {
                self.figures
                    .with_label_values(&labels)
                    .set(if b { 1.0 } else { 0.0 });
            }
        }
        *self.latest.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Report {
            timestamp: Some(timestamp),
            events,
        });
    }
}

/// What the probes need.
pub struct Targets {
    pub cluster: Endpoints,
    pub engine: Arc<Engine>,
    pub status: Arc<StatusBoard>,
}

/// Starts the probe thread; its results appear on the returned board.
pub fn start(config: &HealthConfig, targets: Targets) -> Arc<HealthBoard> {
    let board = Arc::new(HealthBoard::new());
    let interval = Duration::from_secs_f64(config.interval_secs);
    let timeout = Duration::from_millis(config.timeout_ms);
    let http = HttpClient::builder()
        .connect_timeout(timeout)
        .total_timeout(timeout)
        .build();
    let console = (!config.console_url.is_empty()).then(|| config.console_url.clone());
    let published = Arc::clone(&board);
    std::thread::Builder::new()
        .name("dm-health".into())
        .spawn(move || loop {
            let started = Instant::now();
            let now = now_ms();
            let events = round(&targets, &http, timeout, now);
            if let Some(url) = &console {
                for body in pnda_bodies(&events, now) {
                    if let Err(e) = http.post(url, "application/json", body.as_bytes()) {
                        log::warn!("health: cannot post to the console: {e}");
                    }
                }
            }
            published.publish(now, events);
            std::thread::sleep(interval.saturating_sub(started.elapsed()));
        })
        .expect("start the health thread");
    board
}

/// One round of every configured probe, run side by side, then the application KPIs.
fn round(targets: &Targets, http: &HttpClient, timeout: Duration, now: i64) -> Vec<Event> {
    let cluster = &targets.cluster;
    let mut events = Vec::new();
    std::thread::scope(|scope| {
        let mut running = Vec::new();
        if !cluster.flink_history_urls.is_empty() {
            running.push(scope.spawn(|| probes::flink(http, &cluster.flink_history_urls, now)));
        }
        if let Some(url) = &cluster.spark_history_url {
            running.push(scope.spawn(move || probes::spark(http, url, now)));
        }
        if let Some(url) = &cluster.rm_url {
            running.push(scope.spawn(move || probes::yarn(http, url, now)));
        }
        if cluster.namenode_url.is_some() || cluster.namenode_http_url.is_some() {
            running.push(scope.spawn(move || {
                probes::hdfs(
                    http,
                    cluster.namenode_url.as_deref(),
                    cluster.namenode_http_url.as_deref(),
                    timeout,
                    now,
                )
            }));
        }
        if let Some(url) = &cluster.oozie_url {
            running.push(scope.spawn(move || probes::oozie(http, url, now)));
        }
        running.push(scope.spawn(|| probes::dm(&targets.engine, &targets.status, now)));
        for probe in running {
            match probe.join() {
                Ok(probe) => {
                    if probe.level != Level::Ok {
                        log::info!(
                            "health: {} is {}: {}",
                            probe.source,
                            probe.level.as_str(),
                            probe.causes.join("; ")
                        );
                    }
                    events.extend(probe.events);
                }
                Err(_) => log::error!("health: a probe panicked"),
            }
        }
    });
    for kpi in targets.status.kpis() {
        events.push(Event::figure(
            &format!("application.{}", kpi.application),
            &format!(
                "application.kpi.{}.{}.{}",
                kpi.application, kpi.component, kpi.metric
            ),
            json!(kpi.value),
            now,
        ));
    }
    events
}

/// PNDA's POST bodies `{"data": [...], "timestamp"}`, as many as needed to keep each under the
/// console's limit.
fn pnda_bodies(events: &[Event], now: i64) -> Vec<String> {
    let wrap = |items: &[String]| format!("{{\"data\":[{}],\"timestamp\":{now}}}", items.join(","));
    let mut bodies = Vec::new();
    let mut batch: Vec<String> = Vec::new();
    let mut size = wrap(&[]).len();
    for event in events {
        let item = event.to_pnda().to_string();
        if !batch.is_empty() && size + item.len() + 1 > MAX_POST_BYTES {
            bodies.push(wrap(&batch));
            batch.clear();
            size = wrap(&[]).len();
        }
        size += item.len() + 1;
        batch.push(item);
    }
    if !batch.is_empty() {
        bodies.push(wrap(&batch));
    }
    bodies
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_follow_pndas_format_and_stay_under_the_limit() {
        let events: Vec<Event> = (0..2000)
            .map(|i| {
                Event::health(
                    "flink",
                    &format!("m{i}.health"),
                    Level::Warn,
                    vec![format!("cause {i}")],
                    7,
                )
            })
            .collect();
        let bodies = pnda_bodies(&events, 9);
        assert!(bodies.len() > 1, "split");
        let mut seen = 0;
        for body in &bodies {
            assert!(body.len() <= MAX_POST_BYTES, "{}", body.len());
            let parsed: Value = serde_json::from_str(body).unwrap();
            assert_eq!(parsed["timestamp"], 9);
            for item in parsed["data"].as_array().unwrap() {
                assert_eq!(item["value"], "WARN");
                assert_eq!(item["timestamp"], 7);
                // Causes travel as a JSON-encoded list, as PNDA's runner sent them.
                let causes: Vec<String> =
                    serde_json::from_str(item["causes"].as_str().unwrap()).unwrap();
                assert_eq!(causes, vec![format!("cause {seen}")]);
                seen += 1;
            }
        }
        assert_eq!(seen, 2000, "every event once");
        assert_eq!(pnda_bodies(&events[..1], 9).len(), 1);
    }

    #[test]
    fn intervals_that_would_let_tiles_go_stale_are_refused() {
        let config = HealthConfig {
            interval_secs: 200.0,
            ..HealthConfig::default()
        };
        assert_eq!(config.problems().len(), 1);
        assert!(HealthConfig::default().problems().is_empty());
    }
}
