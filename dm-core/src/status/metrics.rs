//! The `dm_application_status` metric (Prometheus), written from the published board when scraped.

use super::board::{current, Shared};
use super::derive::Status;
use std::collections::HashMap;

/// `dm_application_status`, made from the published snapshot when it is scraped: a gauge per
/// application kept in prometheus' own maps cost 430 bytes each, 4.3 MB with 10,000
/// applications, and was rebuilt every cycle.
pub(super) struct AppStatuses {
    published: Shared,
    desc: prometheus::core::Desc,
}

impl AppStatuses {
    pub(super) fn new(published: Shared) -> AppStatuses {
        let desc = prometheus::core::Desc::new(
            "dm_application_status".into(),
            "1 for each application's observed aggregate status".into(),
            vec!["application".into(), "status".into()],
            HashMap::new(),
        )
        .expect("valid metric");
        AppStatuses { published, desc }
    }
}

impl prometheus::core::Collector for AppStatuses {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        use prometheus::proto::{Gauge as GaugeValue, LabelPair, Metric, MetricFamily, MetricType};
        let snapshot = current(&self.published);
        let mut apps: Vec<(&String, Status)> = snapshot
            .apps
            .iter()
            .map(|(name, view)| (name, view.aggregate))
            .collect();
        apps.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let label = |name: &str, value: &str| {
            let mut pair = LabelPair::default();
            pair.set_name(name.into());
            pair.set_value(value.into());
            pair
        };
        let metrics = apps
            .into_iter()
            .map(|(name, status)| {
                let mut gauge = GaugeValue::default();
                gauge.set_value(1.0);
                let mut metric = Metric::from_gauge(gauge);
                metric.set_label(vec![
                    label("application", name),
                    label("status", status.as_str()),
                ]);
                metric
            })
            .collect();
        let mut family = MetricFamily::default();
        family.set_name(self.desc.fq_name.clone());
        family.set_help(self.desc.help.clone());
        family.set_field_type(MetricType::GAUGE);
        family.set_metric(metrics);
        vec![family]
    }
}
