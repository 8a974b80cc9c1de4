//! A `flink` component's summary: YARN's word on its application (the shared derivation),
//! completed while it runs with its JobManager's view (PNDA's `{state, flinkJid, vertices}` and
//! the job's KPIs), and once it ended with its page on the HistoryServer.

use dm_plugin_api::observe::{
    ComponentRef, ComponentSummary, EngineSeen, FlinkHistory, FlinkView, Observations, Observed,
    Source,
};
use dm_plugin_api::summarize::{ended_on_yarn, with_engine_error, yarn_job};

/// PNDA's `componentType` of a Flink component.
const LABEL: &str = "Flink";

pub fn summarize(c: &ComponentRef, obs: &Observations) -> ComponentSummary {
    let mut s = yarn_job(c, obs);
    if ended_on_yarn(obs) {
        s.tracking_url = Some(history_link(obs.flink_history.as_ref()));
    }
    match &obs.engine {
        Some(EngineSeen::Flink(Ok(view))) => with_flink(&mut s, view, obs.now),
        Some(EngineSeen::Flink(Err(e))) => with_engine_error(&mut s, e, obs.now),
        _ => {}
    }
    s.component_type = LABEL.to_string();
    s
}

/// Where a finished Flink job is shown: its page on the HistoryServer, else its list.
pub fn history_link(history: Option<&FlinkHistory>) -> String {
    let Some(url) = history.and_then(|h| h.url.as_deref()) else {
        return String::new();
    };
    let base = url.trim_end_matches('/');
    match history.and_then(|h| h.last_jid.as_deref()) {
        Some(jid) => format!("{base}/#/jobs/{jid}"),
        None => format!("{base}/#/completed-jobs"),
    }
}

/// A running Flink job's view; its tracking URL then points at the job.
fn with_flink(s: &mut ComponentSummary, view: &FlinkView, now: i64) {
    if let Some(jid) = &view.jid {
        let tracking = s.tracking_url.as_deref().unwrap_or_default();
        s.tracking_url = Some(format!("{tracking}#/jobs/{jid}"));
    }
    s.aggregate_status = view.status;
    s.information = Some(view.information.clone());
    s.observed = Observed::at(Source::Flink, now);
    s.kpis = Some(view.kpis.clone());
}

#[cfg(test)]
mod tests;
