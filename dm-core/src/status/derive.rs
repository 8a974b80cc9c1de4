//! dmd's side of the status derivation (pnda-dm.md §5.6). Each component type's plugin says
//! what is to be observed of its components and derives their summaries from it
//! (`dm_plugin_api::observe`, `summarize`); here: what dmd hands over — its own observations
//! translated into the plugin API's types —, which calls a cycle must make for a declaration,
//! reuse of a summary whose observations did not change, and staleness across cycles.
//! No I/O: the observer (`mod.rs`) fetches.

use crate::registry::AppState;
use dm_clients::yarn::YarnApp;
use dm_plugin_api::host::{CallError, LoadedPlugin};
use dm_plugin_api::observe::{self as api, Engine, Observe, SupervisedJob, SupervisorSeen};
use dm_plugin_api::summarize;
use dm_supervisor::protocol::JobReport;
use std::sync::Arc;

pub use dm_plugin_api::observe::{ComponentRef, ComponentSummary, Observations, Source, Status};

/// Who derives a type's summaries: its plugin, through the ABI, or dmd itself.
pub trait Summarize: Send + Sync {
    fn observe(&self) -> Observe;
    fn summarize(
        &self,
        c: &ComponentRef,
        obs: &Observations,
    ) -> Result<ComponentSummary, CallError>;
}

impl Summarize for LoadedPlugin {
    fn observe(&self) -> Observe {
        LoadedPlugin::observe(self)
    }

    fn summarize(
        &self,
        c: &ComponentRef,
        obs: &Observations,
    ) -> Result<ComponentSummary, CallError> {
        LoadedPlugin::summarize(self, c, obs)
    }
}

/// Types no plugin handles (dm's own `test` type): jobs on YARN that dm did not start, the
/// shared derivation.
pub struct BuiltIn;

impl Summarize for BuiltIn {
    fn observe(&self) -> Observe {
        Observe::Yarn {
            engine: None,
            supervised: false,
        }
    }

    fn summarize(
        &self,
        c: &ComponentRef,
        obs: &Observations,
    ) -> Result<ComponentSummary, CallError> {
        Ok(summarize::yarn_job(c, obs))
    }
}

/// What a type's summarizer derives, or, when it failed, an UNKNOWN summary saying why.
pub fn summary_of(who: &dyn Summarize, c: &ComponentRef, obs: &Observations) -> ComponentSummary {
    who.summarize(c, obs)
        .unwrap_or_else(|e| summarize::unknown(c, Source::Dm, &e.to_string(), obs.now))
}

/// dm's state of an application, as plugins read it.
pub fn dm_state(state: AppState) -> api::DmState {
    match state {
        AppState::Created => api::DmState::Created,
        // An upgrade stops one version and brings up the next.
        AppState::Starting | AppState::Upgrading => api::DmState::Starting,
        // Rolled back: the previous version runs.
        AppState::Started | AppState::RolledBack => api::DmState::Started,
        _ => api::DmState::Leaving,
    }
}

/// A YARN application as plugins read it.
pub fn yarn_app(app: &YarnApp) -> api::YarnApp {
    api::YarnApp {
        id: app.id.clone(),
        state: api::YarnState::parse(app.state.as_str()),
        final_status: api::FinalStatus::parse(app.final_status.as_str()),
        tracking_url: app.tracking_url.clone(),
        diagnostics: app.diagnostics.clone(),
    }
}

/// A component's YARN applications (newest first) as plugins read them.
pub fn yarn_seen(apps: &[&Arc<YarnApp>]) -> api::YarnSeen {
    api::YarnSeen::Apps {
        latest: apps.first().map(|a| yarn_app(a)),
        previous: apps.get(1).map(|a| yarn_app(a)),
        count: apps.len(),
    }
}

/// The supervisor's answer (`Ok(None)`: no such job) as plugins read it.
pub fn supervisor_seen(report: Result<Option<JobReport>, String>) -> SupervisorSeen {
    match report {
        Ok(Some(report)) => {
            let last = report.attempts.last();
            SupervisorSeen::Job(SupervisedJob {
                state: report.state,
                reason: report.reason,
                last_outcome: last.and_then(|a| a.outcome),
                last_reason: last.and_then(|a| a.reason.clone()),
            })
        }
        Ok(None) => SupervisorSeen::NoJob,
        Err(e) => SupervisorSeen::Silent(e),
    }
}

/// The engine to ask about a component's newest YARN application: a declared one, while YARN
/// says it runs and gives a tracking URL to reach it through.
pub fn engine_to_ask(observe: Observe, latest: &api::YarnApp) -> Option<Engine> {
    let Observe::Yarn { engine, .. } = observe else {
        return None;
    };
    let reachable = latest
        .tracking_url
        .as_deref()
        .is_some_and(|t| !t.is_empty());
    engine.filter(|_| latest.state == Some(api::YarnState::Running) && reachable)
}

/// Whether the root cause of the newest application's failure is worth looking for.
pub fn failed(latest: &api::YarnApp) -> bool {
    summarize::failed_on_yarn(summarize::yarn_status(latest.state, latest.final_status))
}

/// Whether to ask the supervisor: a job dm started, with nothing on YARN, its app started.
pub fn ask_supervisor(observe: Observe, yarn: &api::YarnSeen, state: AppState) -> bool {
    let on_yarn = matches!(
        yarn,
        api::YarnSeen::Apps {
            latest: Some(_),
            ..
        }
    );
    let supervised = matches!(
        observe,
        Observe::Yarn {
            supervised: true,
            ..
        }
    );
    supervised && state.runs() && !on_yarn && !matches!(yarn, api::YarnSeen::Silent { .. })
}

/// A component's last observations and the summary derived from them: a cycle whose
/// observations are the same (times aside) reuses the summary instead of deriving it again
/// (through the ABI, a JSON round trip).
#[derive(Debug, Default)]
pub struct LastDerived {
    last: Option<(Observations, ComponentSummary)>,
}

impl LastDerived {
    /// `c`'s summary, from `who` unless the last observations were the same as `obs`.
    pub fn summary(
        &mut self,
        who: &dyn Summarize,
        c: &ComponentRef,
        obs: Observations,
    ) -> ComponentSummary {
        if let Some((then, summary)) = &mut self.last {
            if then.same_facts(&obs) {
                summary.restamp(then.now, obs.now);
                then.now = obs.now;
                return summary.clone();
            }
        }
        let s = summary_of(who, c, &obs);
        self.last = Some((obs, s.clone()));
        s
    }
}

/// What the observer remembers of a component between cycles to say how stale it is.
#[derive(Debug, Default)]
pub struct Staleness {
    pub last_good: Option<Arc<ComponentSummary>>,
    pub unknown_since: Option<i64>,
}

impl Staleness {
    /// The cycle's summary as published: an `UNKNOWN` one says since when (the first cycle
    /// that could not observe it, unless it already says) and carries the last good one; any
    /// other becomes the last good.
    pub fn settle(&mut self, mut s: ComponentSummary, now: i64) -> Arc<ComponentSummary> {
        if s.is_unknown() {
            if s.since.is_none() {
                s.since = Some(*self.unknown_since.get_or_insert(now));
            }
            s.last_good = self.last_good.as_deref().cloned().map(Box::new);
            return Arc::new(s);
        }
        self.unknown_since = None;
        let s = Arc::new(s);
        self.last_good = Some(Arc::clone(&s));
        s
    }
}

#[cfg(test)]
mod tests;
