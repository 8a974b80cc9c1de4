//! Oozie's REST API (its WebServicesAPI document, v1/v2), as far as dmd needs it to run an
//! `oozie` component's plan: submit, act on a job (suspend, resume, start, kill, rerun), read a
//! job's status, and find every job of an application path.

pub mod runner;
pub mod summary;

use serde_json::Value;
use std::time::Duration;

/// How to reach Oozie (`[oozie]` in dmd's configuration).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OozieConfig {
    /// Oozie's base URL, e.g. `http://oozie:11000/oozie`. Oozie components cannot be created
    /// when unset.
    pub url: Option<String>,
}

pub struct Oozie {
    base: String,
    agent: ureq::Agent,
}

/// Workflow or coordinator, as the plan says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobType {
    Workflow,
    Coordinator,
}

impl JobType {
    fn list_param(self) -> &'static str {
        match self {
            JobType::Workflow => "wf",
            JobType::Coordinator => "coordinator",
        }
    }
}

impl Oozie {
    pub fn from_config(config: &OozieConfig) -> Option<Oozie> {
        let url = config.url.as_ref()?;
        Some(Oozie::with_timeouts(
            url,
            Duration::from_secs(5),
            Duration::from_secs(60),
        ))
    }

    /// A client whose calls give up after `connect` to connect and `total` in all.
    pub fn with_timeouts(url: &str, connect: Duration, total: Duration) -> Oozie {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(connect)
            .timeout(total)
            .build();
        Oozie {
            base: url.trim_end_matches('/').to_string(),
            agent,
        }
    }

    /// Submits a job configuration without starting it (a workflow waits in PREP, a
    /// coordinator in PREP until its start time). Returns the job id.
    pub fn submit(&self, configuration_xml: &str) -> Result<String, String> {
        let url = format!("{}/v1/jobs", self.base);
        let response = self
            .agent
            .post(&url)
            .set("Content-Type", "application/xml;charset=UTF-8")
            .send_string(configuration_xml)
            .map_err(|e| refusal("POST", &url, e))?;
        let body: Value = response
            .into_json()
            .map_err(|e| format!("POST {url}: unreadable answer: {e}"))?;
        body["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("POST {url}: the answer has no job id: {body}"))
    }

    /// `suspend`, `resume`, `start` or `kill`, as `user`.
    pub fn act(&self, id: &str, action: &str, user: &str) -> Result<(), String> {
        let url = format!("{}/v1/job/{id}", self.base);
        self.agent
            .put(&url)
            .query("action", action)
            .query("user.name", user)
            .set("Content-Type", "application/xml;charset=UTF-8")
            .send_string("")
            .map(drop)
            .map_err(|e| refusal("PUT", &format!("{url}?action={action}"), e))
    }

    /// Runs every action of an ended workflow again, under the same id.
    pub fn rerun(&self, id: &str, configuration_xml: &str) -> Result<(), String> {
        let url = format!("{}/v1/job/{id}", self.base);
        self.agent
            .put(&url)
            .query("action", "rerun")
            .set("Content-Type", "application/xml;charset=UTF-8")
            .send_string(configuration_xml)
            .map(drop)
            .map_err(|e| refusal("PUT", &format!("{url}?action=rerun"), e))
    }

    /// A job's `show=info` document (status, actions, …).
    pub fn info(&self, id: &str) -> Result<Value, String> {
        let url = format!("{}/v1/job/{id}", self.base);
        self.agent
            .get(&url)
            .query("show", "info")
            .call()
            .map_err(|e| refusal("GET", &url, e))?
            .into_json()
            .map_err(|e| format!("GET {url}: unreadable answer: {e}"))
    }

    /// The job's log as Oozie keeps it (`show=log`).
    pub fn log(&self, id: &str) -> Result<String, String> {
        let url = format!("{}/v1/job/{id}", self.base);
        self.agent
            .get(&url)
            .query("show", "log")
            .call()
            .map_err(|e| refusal("GET", &url, e))?
            .into_string()
            .map_err(|e| format!("GET {url}: unreadable answer: {e}"))
    }

    /// The status of a job (`PREP`, `RUNNING`, `SUSPENDED`, …).
    pub fn status(&self, id: &str) -> Result<String, String> {
        let info = self.info(id)?;
        info["status"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("Oozie's answer for {id} has no status"))
    }

    /// The live (not final) jobs of `user` whose application path is `app_path`: how destroy
    /// finds a job even when a crash lost its id between submission and record.
    pub fn live_jobs_at(
        &self,
        kind: JobType,
        user: &str,
        app_path: &str,
    ) -> Result<Vec<String>, String> {
        let url = format!("{}/v2/jobs", self.base);
        // Oozie refuses a status its job type does not have.
        let live = match kind {
            JobType::Workflow => "status=PREP;status=RUNNING;status=SUSPENDED",
            JobType::Coordinator => "status=PREP;status=RUNNING;status=SUSPENDED;status=PREPSUSPENDED;status=PREPPAUSED;status=PAUSED;status=RUNNINGWITHERROR;status=SUSPENDEDWITHERROR;status=PAUSEDWITHERROR",
        };
        let body: Value = self
            .agent
            .get(&url)
            .query("jobtype", kind.list_param())
            .query("filter", &format!("user={user};{live}"))
            .query("len", "1000")
            .call()
            .map_err(|e| refusal("GET", &url, e))?
            .into_json()
            .map_err(|e| format!("GET {url}: unreadable answer: {e}"))?;
        let (list, id_key) = match kind {
            JobType::Workflow => ("workflows", "id"),
            JobType::Coordinator => ("coordinatorjobs", "coordJobId"),
        };
        let wanted = app_path.trim_end_matches('/');
        let mut found = Vec::new();
        for job in body[list].as_array().into_iter().flatten() {
            let Some(id) = job[id_key].as_str() else {
                continue;
            };
            // Coordinators are listed with their path; workflows only say it in their info.
            let path = match job["coordJobPath"].as_str().or(job["appPath"].as_str()) {
                Some(path) => path.to_string(),
                None => self.info(id)?["appPath"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            };
            if path.trim_end_matches('/') == wanted {
                found.push(id.to_string());
            }
        }
        Ok(found)
    }
}

/// Oozie says why it refuses in the `oozie-error-code` and `oozie-error-message` headers.
fn refusal(method: &str, url: &str, error: ureq::Error) -> String {
    match error {
        ureq::Error::Status(code, response) => {
            let why = response
                .header("oozie-error-message")
                .map(str::to_string)
                .unwrap_or_else(|| response.into_string().unwrap_or_default());
            format!("{method} {url}: Oozie answered {code}: {why}")
        }
        other => format!("{method} {url}: {other}"),
    }
}
