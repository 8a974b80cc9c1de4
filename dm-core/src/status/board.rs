//! The published board: each application's `/summary` bytes and YARN applications, swapped in
//! whole at the end of a cycle and read by the API; the observer's counters for `/metrics`.

use super::derive::{ComponentSummary, Status};
use super::metrics::AppStatuses;
use crate::cluster::now_ms;
use actix_web::web::Bytes;
use dm_clients::yarn::YarnApp;
use prometheus::{Gauge, IntCounter, Opts};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// One application's latest observation. The JSON is assembled when it is read (one
/// application's worth), so a cycle only builds each component's summary once and shares it.
pub(super) struct AppView {
    pub(super) aggregate: Status,
    pub(super) at: i64,
    /// `(<type>-<n>, summary)`, in create order.
    pub(super) components: Vec<(String, Arc<ComponentSummary>)>,
    /// `(<type>, <component>, its latest YARN application)`.
    pub(super) yarn: Vec<(String, String, Arc<YarnApp>)>,
}

impl AppView {
    /// What the API reads of `name` until the next cycle.
    pub(super) fn publish(self, name: &str) -> Entry {
        let summary = serde_json::to_vec(&SummaryBody(name, &self)).expect("a summary serializes");
        Entry {
            aggregate: self.aggregate,
            summary: Bytes::from(summary),
            yarn: self.yarn,
        }
    }
}

/// `{"<app>": {"aggregate_status", "observed_at", "<type>-<n>": {...}}}`, written straight from
/// the summaries (no `Value` tree in between).
struct SummaryBody<'a>(&'a str, &'a AppView);

impl Serialize for SummaryBody<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Fields<'a>(&'a AppView);
        impl Serialize for Fields<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let view = self.0;
                let mut body = s.serialize_map(Some(2 + view.components.len()))?;
                body.serialize_entry("aggregate_status", &view.aggregate)?;
                body.serialize_entry("observed_at", &view.at)?;
                for (key, summary) in &view.components {
                    body.serialize_entry(key, &**summary)?;
                }
                body.end()
            }
        }
        let mut outer = s.serialize_map(Some(1))?;
        outer.serialize_entry(self.0, &Fields(self.1))?;
        outer.end()
    }
}

/// One application as the API reads it. The component summaries themselves are not kept here
/// (the observer keeps the last good one of each): a snapshot costs the bytes of its answers,
/// not a second copy of every summary while the next cycle builds its own.
pub(super) struct Entry {
    pub(super) aggregate: Status,
    /// `/summary`'s body, serialized once per cycle and shared by every read.
    summary: Bytes,
    /// `(<type>, <component>, its latest YARN application)`.
    yarn: Vec<(String, String, Arc<YarnApp>)>,
}

impl Entry {
    /// `{"<type>-<component>": {type, component, yarn-id, yarn-start-time, yarn-state, …}}`.
    fn yarn_applications(&self) -> Map<String, Value> {
        self.yarn
            .iter()
            .map(|(ty, component, app)| {
                let value = json!({"type": ty, "component": component, "yarn-id": app.id,
                    "yarn-start-time": app.started_time, "yarn-state": app.state,
                    "yarn-final-status": app.final_status, "tracking-url": app.tracking_url});
                (format!("{ty}-{component}"), value)
            })
            .collect()
    }
}

/// A Flink job's figure, for the KPI metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Kpi {
    pub application: String,
    pub component: String,
    pub metric: String,
    pub value: f64,
}

#[derive(Default)]
pub(super) struct Snapshot {
    pub(super) apps: HashMap<String, Entry>,
    pub(super) kpis: Vec<Kpi>,
}

/// The published snapshot, shared by the board and its metrics collector.
pub(super) type Shared = Arc<RwLock<Arc<Snapshot>>>;

pub(super) fn current(published: &Shared) -> Arc<Snapshot> {
    Arc::clone(&published.read().unwrap_or_else(|p| p.into_inner()))
}

/// The observer's results, read by the API.
pub struct StatusBoard {
    snapshot: Shared,
    /// When the last cycle ended (ms), 0 before the first.
    last_cycle_ms: std::sync::atomic::AtomicI64,
    interval: Duration,
    prometheus: prometheus::Registry,
    cycles: IntCounter,
    pub(super) rm_calls: IntCounter,
    cycle_seconds: Gauge,
    kpi_gauges: prometheus::GaugeVec,
}

impl StatusBoard {
    pub(super) fn new(interval: Duration) -> StatusBoard {
        let cycles = IntCounter::new("dm_status_cycles_total", "Status observation cycles run")
            .expect("valid metric");
        let rm_calls = IntCounter::new(
            "dm_status_rm_calls_total",
            "ResourceManager calls made by the status observer",
        )
        .expect("valid metric");
        let cycle_seconds = Gauge::new(
            "dm_status_cycle_seconds",
            "Wall time of the last status observation cycle",
        )
        .expect("valid metric");
        let kpi_gauges = prometheus::GaugeVec::new(
            Opts::new(
                "dm_application_kpi",
                "Application KPIs read from the Flink REST API (application.kpi.<application>.<component>.<metric>)",
            ),
            &["application", "component", "metric"],
        )
        .expect("valid metric");
        let snapshot: Shared = Default::default();
        let prometheus = prometheus::Registry::new();
        for collector in [
            Box::new(cycles.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(rm_calls.clone()),
            Box::new(cycle_seconds.clone()),
            Box::new(kpi_gauges.clone()),
            Box::new(AppStatuses::new(Arc::clone(&snapshot))),
        ] {
            prometheus
                .register(collector)
                .expect("metric names are unique");
        }
        StatusBoard {
            snapshot,
            last_cycle_ms: Default::default(),
            interval,
            prometheus,
            cycles,
            rm_calls,
            cycle_seconds,
            kpi_gauges,
        }
    }

    fn current(&self) -> Arc<Snapshot> {
        current(&self.snapshot)
    }

    /// The observed summary of `name` (a JSON object), once a cycle has seen it with components.
    pub fn summary(&self, name: &str) -> Option<Bytes> {
        self.current().apps.get(name).map(|a| a.summary.clone())
    }

    /// The YARN applications of `name`'s components, as last observed.
    pub fn yarn_applications(&self, name: &str) -> Option<Map<String, Value>> {
        self.current().apps.get(name).map(Entry::yarn_applications)
    }

    pub fn kpis(&self) -> Vec<Kpi> {
        self.current().kpis.clone()
    }

    /// The end of the last cycle (ms since the epoch), 0 before the first.
    pub fn last_cycle_ms(&self) -> i64 {
        self.last_cycle_ms.load(Ordering::Relaxed)
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn render_prometheus(&self) -> String {
        crate::metrics::render(&self.prometheus)
    }

    pub(super) fn publish(&self, snapshot: Snapshot, took: Duration) {
        self.kpi_gauges.reset();
        for kpi in &snapshot.kpis {
            self.kpi_gauges
                .with_label_values(&[&kpi.application, &kpi.component, &kpi.metric])
                .set(kpi.value);
        }
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
        self.cycles.inc();
        self.cycle_seconds.set(took.as_secs_f64());
        self.last_cycle_ms.store(now_ms(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::derive::{self, ComponentRef};

    fn view(aggregate: Status, summaries: &[(&str, Status)]) -> AppView {
        let components = summaries
            .iter()
            .map(|(key, status)| {
                let id = ComponentRef {
                    job_name: "app1-c-job".into(),
                    name: "c".into(),
                    component_type: "test".into(),
                };
                let observed = dm_plugin_api::observe::Observed::at(derive::Source::Dm, 7);
                let summary = ComponentSummary::new(&id, *status, observed);
                (key.to_string(), Arc::new(summary))
            })
            .collect();
        AppView {
            aggregate,
            at: 7,
            components,
            yarn: Vec::new(),
        }
    }

    /// The bytes `/summary` answers are PNDA's shape, made of the summaries the cycle derived.
    #[test]
    fn published_summary_is_the_serialized_summaries() {
        let view = view(
            Status::Running,
            &[("test-1", Status::Created), ("test-2", Status::Running)],
        );
        let expected = json!({"app1": {
            "aggregate_status": "RUNNING",
            "observed_at": 7,
            "test-1": serde_json::to_value(&*view.components[0].1).unwrap(),
            "test-2": serde_json::to_value(&*view.components[1].1).unwrap(),
        }});
        assert_eq!(expected["app1"]["test-2"]["aggregate_status"], "RUNNING");
        let entry = view.publish("app1");
        assert_eq!(entry.aggregate, Status::Running);
        let published: Value = serde_json::from_slice(&entry.summary).unwrap();
        assert_eq!(published, expected);
    }

    /// `dm_application_status` follows the published snapshot: one line per application, its
    /// aggregate as label, gone once the application is.
    #[test]
    fn application_status_metric_is_made_from_the_snapshot() {
        let board = StatusBoard::new(Duration::from_secs(5));
        let snapshot = |apps: &[(&str, Status)]| Snapshot {
            apps: apps
                .iter()
                .map(|(name, status)| {
                    (
                        name.to_string(),
                        view(*status, &[("test-1", *status)]).publish(name),
                    )
                })
                .collect(),
            kpis: Vec::new(),
        };
        board.publish(
            snapshot(&[("b", Status::Running), ("a", Status::Created)]),
            Duration::ZERO,
        );
        let lines = |text: String| -> Vec<String> {
            text.lines()
                .filter(|l| l.starts_with("dm_application_status"))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(
            lines(board.render_prometheus()),
            [
                r#"dm_application_status{application="a",status="CREATED"} 1"#,
                r#"dm_application_status{application="b",status="RUNNING"} 1"#,
            ]
        );
        board.publish(snapshot(&[("b", Status::Failed)]), Duration::ZERO);
        assert_eq!(
            lines(board.render_prometheus()),
            [r#"dm_application_status{application="b",status="FAILED"} 1"#]
        );
    }
}
