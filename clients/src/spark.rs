//! A running Spark application's REST API (`/api/v1/applications/:id/…`), reached through its
//! YARN tracking URL: its jobs and stages, newest first, as Spark lists them.

use crate::http::{join, ClientError, HttpClient};
use serde::Deserialize;

/// One job of `…/jobs`. `status`: RUNNING, SUCCEEDED, FAILED, UNKNOWN.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SparkJob {
    pub job_id: u64,
    pub status: String,
}

/// One stage of `…/stages`. `status`: ACTIVE, COMPLETE, PENDING, FAILED, SKIPPED.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SparkStage {
    pub stage_id: u64,
    pub status: String,
}

#[derive(Clone)]
pub struct Spark {
    http: HttpClient,
}

impl Spark {
    pub fn new(http: HttpClient) -> Spark {
        Spark { http }
    }

    /// The application's jobs, newest first.
    pub fn jobs(&self, tracking: &str, app_id: &str) -> Result<Vec<SparkJob>, ClientError> {
        self.http.get_json(&join(
            tracking,
            &format!("api/v1/applications/{app_id}/jobs"),
        ))
    }

    /// The application's stages, newest first.
    pub fn stages(&self, tracking: &str, app_id: &str) -> Result<Vec<SparkStage>, ClientError> {
        self.http.get_json(&join(
            tracking,
            &format!("api/v1/applications/{app_id}/stages"),
        ))
    }
}
