//! Prometheus metrics served at `/metrics`: HTTP requests by route and code, operations by kind
//! and outcome (count and duration), and applications by state (read from the registry at
//! scrape time, so it can never drift from the truth).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, TextEncoder,
};

pub struct Metrics {
    registry: prometheus::Registry,
    requests: IntCounterVec,
    operations: IntCounterVec,
    durations: HistogramVec,
    applications: IntGaugeVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let requests = IntCounterVec::new(
            Opts::new(
                "dm_http_requests_total",
                "HTTP requests by route pattern, method and status code",
            ),
            &["route", "method", "code"],
        )
        .expect("valid metric");
        let operations = IntCounterVec::new(
            Opts::new(
                "dm_operations_total",
                "Lifecycle operations by kind and outcome",
            ),
            &["kind", "outcome"],
        )
        .expect("valid metric");
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "dm_operation_duration_seconds",
                "Duration of lifecycle operations by kind and outcome",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0]),
            &["kind", "outcome"],
        )
        .expect("valid metric");
        let applications = IntGaugeVec::new(
            Opts::new("dm_applications", "Applications by state"),
            &["state"],
        )
        .expect("valid metric");
        let registry = prometheus::Registry::new();
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(operations.clone()),
            Box::new(durations.clone()),
            Box::new(applications.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Metrics {
            registry,
            requests,
            operations,
            durations,
            applications,
        }
    }

    pub fn request(&self, route: &str, method: &str, code: u16) {
        self.requests
            .with_label_values(&[route, method, &code.to_string()])
            .inc();
    }

    pub fn operation(&self, kind: &str, outcome: &str, seconds: f64) {
        self.operations.with_label_values(&[kind, outcome]).inc();
        self.durations
            .with_label_values(&[kind, outcome])
            .observe(seconds);
    }

    /// The text exposition, with the application gauge set from `apps_by_state`.
    pub fn render(&self, apps_by_state: &[(String, i64)]) -> String {
        self.applications.reset();
        for (state, count) in apps_by_state {
            self.applications
                .with_label_values(&[state.as_str()])
                .set(*count);
        }
        render(&self.registry)
    }
}

/// A registry's metrics in Prometheus' text format (dmd's, the observer's and the health checks'
/// registries are rendered alike).
pub fn render(registry: &prometheus::Registry) -> String {
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .expect("text encoding of metrics");
    String::from_utf8(out).expect("metrics text is UTF-8")
}
