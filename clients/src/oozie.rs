//! Oozie's web services API (v1/v2): submit a job, act on one (suspend, resume, start, kill,
//! rerun), read a job's info and log, and find the live jobs of an application path. Oozie says
//! why it refuses in its `oozie-error-message` header, which becomes the error's text.

use crate::http::{decode, with_query, ClientError, ErrorKind, HttpClient};
use serde_json::Value;
use std::time::Duration;

const XML: &str = "application/xml;charset=UTF-8";

/// Workflow or coordinator.
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

/// An Oozie server's client.
#[derive(Clone)]
pub struct Oozie {
    base: String,
    http: HttpClient,
}

impl Oozie {
    /// A client whose calls give up after `connect` to connect and `total` in all.
    pub fn with_timeouts(url: &str, connect: Duration, total: Duration) -> Oozie {
        let http = HttpClient::builder()
            .connect_timeout(connect)
            .total_timeout(total)
            .reason_header("oozie-error-message")
            .build();
        Oozie {
            base: url.trim_end_matches('/').to_string(),
            http,
        }
    }

    /// Submits a job configuration without starting it (a workflow waits in PREP, a
    /// coordinator in PREP until its start time). Returns the job id.
    pub fn submit(&self, configuration_xml: &str) -> Result<String, ClientError> {
        let url = format!("{}/v1/jobs", self.base);
        let answer = self.http.post(&url, XML, configuration_xml.as_bytes())?;
        let body: Value = decode("POST", &url, &answer)?;
        body["id"].as_str().map(str::to_string).ok_or_else(|| {
            ClientError::new(
                "POST",
                &url,
                ErrorKind::Decode(format!("the answer has no job id: {body}")),
            )
        })
    }

    /// `suspend`, `resume`, `start` or `kill`, as `user`.
    pub fn act(&self, id: &str, action: &str, user: &str) -> Result<(), ClientError> {
        let url = with_query(
            &format!("{}/v1/job/{id}", self.base),
            &[("action", action), ("user.name", user)],
        );
        self.http.put(&url, XML, b"").map(drop)
    }

    /// Runs every action of an ended workflow again, under the same id.
    pub fn rerun(&self, id: &str, configuration_xml: &str) -> Result<(), ClientError> {
        let url = with_query(
            &format!("{}/v1/job/{id}", self.base),
            &[("action", "rerun")],
        );
        self.http
            .put(&url, XML, configuration_xml.as_bytes())
            .map(drop)
    }

    /// A job's `show=info` document (status, actions, …).
    pub fn info(&self, id: &str) -> Result<Value, ClientError> {
        let url = with_query(&format!("{}/v1/job/{id}", self.base), &[("show", "info")]);
        self.http.get_json(&url)
    }

    /// The job's log as Oozie keeps it (`show=log`).
    pub fn log(&self, id: &str) -> Result<String, ClientError> {
        let url = with_query(&format!("{}/v1/job/{id}", self.base), &[("show", "log")]);
        self.http.get_text(&url)
    }

    /// The status of a job (`PREP`, `RUNNING`, `SUSPENDED`, …).
    pub fn status(&self, id: &str) -> Result<String, ClientError> {
        let info = self.info(id)?;
        info["status"].as_str().map(str::to_string).ok_or_else(|| {
            ClientError::new(
                "GET",
                &format!("{}/v1/job/{id}", self.base),
                ErrorKind::Decode("the answer has no status".into()),
            )
        })
    }

    /// The live (not final) jobs of `user` whose application path is `app_path`: how a job is
    /// found even when a crash lost its id between submission and record.
    pub fn live_jobs_at(
        &self,
        kind: JobType,
        user: &str,
        app_path: &str,
    ) -> Result<Vec<String>, ClientError> {
        // Oozie refuses a status its job type does not have.
        let live = match kind {
            JobType::Workflow => "status=PREP;status=RUNNING;status=SUSPENDED",
            JobType::Coordinator => "status=PREP;status=RUNNING;status=SUSPENDED;status=PREPSUSPENDED;status=PREPPAUSED;status=PAUSED;status=RUNNINGWITHERROR;status=SUSPENDEDWITHERROR;status=PAUSEDWITHERROR",
        };
        let filter = format!("user={user};{live}");
        let url = with_query(
            &format!("{}/v2/jobs", self.base),
            &[
                ("jobtype", kind.list_param()),
                ("filter", &filter),
                ("len", "1000"),
            ],
        );
        let body: Value = self.http.get_json(&url)?;
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
