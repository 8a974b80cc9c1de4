//! What Flink's and Spark's REST APIs say about a running job, reached through the YARN
//! tracking URL (the RM proxy), in PNDA's summary shapes.

use dm_plugin_api::observe::Status;
// The views are observations handed to the plugins.
use crate::cluster::{join, Http};
pub use dm_plugin_api::observe::{FlinkView, SparkView};
use serde_json::{json, Map, Value};

/// Vertex statuses of a healthy job (PNDA's list).
const GOOD_VERTEX: [&str; 6] = [
    "CREATED",
    "SCHEDULED",
    "DEPLOYING",
    "RUNNING",
    "FINISHED",
    "RECONCILING",
];

/// Asks the JobManager behind `tracking` (the app's tracking URL) about its running job.
pub fn flink(http: &Http, tracking: &str) -> Result<FlinkView, String> {
    let (overview, _) = http
        .get_json(&join(tracking, "jobs/overview"))
        .map_err(|e| e.to_string())?;
    let Some(jid) = running_jid(&overview) else {
        return Ok(FlinkView {
            status: Status::Running,
            jid: None,
            information: json!({"state": "OK", "flinkJid": ""}),
            kpis: Map::new(),
        });
    };
    let (job, _) = http
        .get_json(&join(tracking, &format!("jobs/{jid}")))
        .map_err(|e| e.to_string())?;
    // Figures are extras: a JobManager that lists the job but not its checkpoints or metrics
    // still gives a status.
    let checkpoints = http
        .get_json(&join(tracking, &format!("jobs/{jid}/checkpoints")))
        .map(|(v, _)| v)
        .unwrap_or(Value::Null);
    let restarts = http
        .get_json(&join(
            tracking,
            &format!("jobs/{jid}/metrics?get=numRestarts"),
        ))
        .map(|(v, _)| v)
        .unwrap_or(Value::Null);
    Ok(flink_view(&jid, &job, &checkpoints, &restarts))
}

/// The first RUNNING job of a `/jobs/overview` answer.
fn running_jid(overview: &Value) -> Option<String> {
    overview["jobs"]
        .as_array()?
        .iter()
        .find(|j| j["state"] == "RUNNING")?["jid"]
        .as_str()
        .map(str::to_string)
}

pub fn flink_view(jid: &str, job: &Value, checkpoints: &Value, restarts: &Value) -> FlinkView {
    let vertices: Vec<&Value> = job["vertices"].as_array().into_iter().flatten().collect();
    let listed: Vec<Value> = vertices
        .iter()
        .map(|v| {
            let name = v["name"].as_str().unwrap_or_default();
            // PNDA kept the name up to its first space or colon.
            let short = name.split([' ', ':']).next().unwrap_or_default();
            json!({"name": short, "status": v["status"]})
        })
        .collect();
    let healthy = vertices
        .iter()
        .all(|v| GOOD_VERTEX.contains(&v["status"].as_str().unwrap_or_default()));
    let mut kpis = Map::new();
    let sum = |key: &str| -> u64 {
        vertices
            .iter()
            .filter_map(|v| v["metrics"][key].as_u64())
            .sum()
    };
    // Records entering the job are those its sources emit; what leaves is what its sinks read.
    let sources = vertices.iter().filter(|v| is_source(job, v));
    let records_in: u64 = sources
        .filter_map(|v| v["metrics"]["write-records"].as_u64())
        .sum();
    kpis.insert("records_in".into(), json!(records_in));
    kpis.insert("records_read".into(), json!(sum("read-records")));
    kpis.insert("records_written".into(), json!(sum("write-records")));
    if let Some(counts) = checkpoints["counts"].as_object() {
        for (key, name) in [
            ("completed", "checkpoints_completed"),
            ("failed", "checkpoints_failed"),
            ("in_progress", "checkpoints_in_progress"),
        ] {
            if let Some(n) = counts.get(key).and_then(Value::as_u64) {
                kpis.insert(name.into(), json!(n));
            }
        }
    }
    let restart_count = restarts
        .as_array()
        .and_then(|list| list.iter().find(|m| m["id"] == "numRestarts"))
        .and_then(|m| m["value"].as_str()?.parse::<u64>().ok());
    if let Some(n) = restart_count {
        kpis.insert("restarts".into(), json!(n));
    }
    if let Some(ms) = job["duration"].as_u64() {
        kpis.insert("uptime_ms".into(), json!(ms));
    }
    FlinkView {
        status: if healthy {
            Status::Running
        } else {
            Status::RunningWithErrors
        },
        jid: Some(jid.to_string()),
        information: json!({"state": if healthy {"OK"} else {"ERROR"}, "flinkJid": jid, "vertices": listed}),
        kpis,
    }
}

/// A vertex no other vertex feeds (from the job's plan), i.e. a source.
fn is_source(job: &Value, vertex: &Value) -> bool {
    let Some(id) = vertex["id"].as_str() else {
        return false;
    };
    let nodes = job["plan"]["nodes"].as_array();
    match nodes.and_then(|n| n.iter().find(|n| n["id"] == id)) {
        Some(node) => node["inputs"].as_array().is_none_or(Vec::is_empty),
        // Without a plan, the first vertex is the best guess at the source.
        None => job["vertices"][0]["id"] == id,
    }
}

pub fn spark(http: &Http, tracking: &str, app_id: &str) -> Result<SparkView, String> {
    let base = join(tracking, &format!("api/v1/applications/{app_id}"));
    let (jobs, _) = http
        .get_json(&format!("{base}/jobs"))
        .map_err(|e| e.to_string())?;
    let (stages, _) = http
        .get_json(&format!("{base}/stages"))
        .map_err(|e| e.to_string())?;
    Ok(spark_view(&jobs, &stages))
}

pub fn spark_view(jobs: &Value, stages: &Value) -> SparkView {
    let jobs: &[Value] = jobs.as_array().map(Vec::as_slice).unwrap_or_default();
    if jobs.is_empty() {
        return SparkView {
            status: Status::Running,
            information: json!("No Jobs available"),
        };
    }
    let stages: &[Value] = stages.as_array().map(Vec::as_slice).unwrap_or_default();
    let count =
        |list: &[Value], key: &str, value: &str| list.iter().filter(|x| x[key] == value).count();
    let failed_jobs = count(jobs, "status", "FAILED");
    // Spark lists newest first: the first id + 1 is how many there were (PNDA's count).
    let job_summary = json!({
        "number_of_jobs": jobs[0]["jobId"].as_u64().map_or(jobs.len() as u64, |id| id + 1),
        "running": count(jobs, "status", "RUNNING"),
        "succeeded": count(jobs, "status", "SUCCEEDED"),
        "unknown": count(jobs, "status", "UNKNOWN"),
        "failed": failed_jobs,
    });
    let stage_summary = json!({
        "number_of_stages": stages.first().and_then(|s| s["stageId"].as_u64()).map_or(stages.len() as u64, |id| id + 1),
        "active": count(stages, "status", "ACTIVE"),
        "complete": count(stages, "status", "COMPLETE"),
        "pending": count(stages, "status", "PENDING"),
        "failed": count(stages, "status", "FAILED"),
    });
    SparkView {
        status: if failed_jobs > 0 {
            Status::RunningWithErrors
        } else {
            Status::Running
        },
        information: json!({"jobSummary": job_summary, "stageSummary": stage_summary}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flink_job_with_a_failing_vertex_runs_with_errors() {
        let job = json!({"duration": 5000, "vertices": [
            {"id": "a", "name": "Source: numbers -> Map", "status": "RUNNING", "metrics": {"write-records": 40, "read-records": 0}},
            {"id": "b", "name": "Sink: print", "status": "FAILED", "metrics": {"write-records": 0, "read-records": 38}}],
            "plan": {"nodes": [{"id": "a"}, {"id": "b", "inputs": [{"id": "a"}]}]}});
        let checkpoints = json!({"counts": {"completed": 3, "failed": 1, "in_progress": 0}});
        let restarts = json!([{"id": "numRestarts", "value": "2"}]);
        let view = flink_view("j1", &job, &checkpoints, &restarts);
        assert_eq!(view.status, Status::RunningWithErrors);
        assert_eq!(
            view.information,
            json!({"state": "ERROR", "flinkJid": "j1", "vertices": [
                {"name": "Source", "status": "RUNNING"}, {"name": "Sink", "status": "FAILED"}]})
        );
        assert_eq!(view.kpis["records_in"], 40);
        assert_eq!(view.kpis["records_read"], 38);
        assert_eq!(view.kpis["checkpoints_completed"], 3);
        assert_eq!(view.kpis["checkpoints_failed"], 1);
        assert_eq!(view.kpis["restarts"], 2);
        assert_eq!(view.kpis["uptime_ms"], 5000);
    }

    #[test]
    fn spark_counts_follow_pnda() {
        let jobs = json!([{"jobId": 4, "status": "RUNNING"}, {"jobId": 3, "status": "SUCCEEDED"}, {"jobId": 2, "status": "FAILED"}]);
        let stages =
            json!([{"stageId": 7, "status": "ACTIVE"}, {"stageId": 6, "status": "COMPLETE"}]);
        let view = spark_view(&jobs, &stages);
        assert_eq!(view.status, Status::RunningWithErrors);
        assert_eq!(view.information["jobSummary"]["number_of_jobs"], 5);
        assert_eq!(view.information["jobSummary"]["failed"], 1);
        assert_eq!(view.information["stageSummary"]["number_of_stages"], 8);
        assert_eq!(view.information["stageSummary"]["active"], 1);
        let idle = spark_view(&json!([]), &json!([]));
        assert_eq!(
            (idle.status, idle.information),
            (Status::Running, json!("No Jobs available"))
        );
    }
}
