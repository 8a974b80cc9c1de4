//! PNDA's application roll-up (`summary_aggregator.py`, pnda-dm.md §5.6): each component's
//! `aggregate_status` maps to a priority, the highest wins and names the application's status.
//! One addition: a component whose state could not be observed (`UNKNOWN`) makes the whole
//! application `UNKNOWN`, since any roll-up would then be a guess.

pub const UNKNOWN: &str = "UNKNOWN";

/// The priority and application label of a component status; anything PNDA did not know
/// (including `""`, `NOT_FOUND`, `FAILED_TO_SUBMIT_TO_YARN`) is `NOT_FOUND`, priority 12.
pub fn priority(component_status: &str) -> (u8, &'static str) {
    match component_status {
        "CREATED" => (1, "CREATED"),
        "STARTING" | "SUBMITTED" | "ACCEPTED" => (2, "STARTING"),
        "RUNNING" => (3, "RUNNING"),
        "RUNNING_WITH_ERRORS" => (4, "RUNNING_WITH_ERRORS"),
        "SUSPENDED" => (5, "STOPPED"),
        "SUSPENDED_WITH_FAILURES" => (6, "STOPPED_WITH_FAILURES"),
        "KILLED" | "FINISHED_KILLED" => (7, "KILLED"),
        "KILLED_WITH_FAILURES" => (8, "KILLED_WITH_FAILURES"),
        "FAILED" => (9, "FAILED"),
        "COMPLETED" | "FINISHED_SUCCEEDED" | "SUCCEEDED" => (10, "COMPLETED"),
        "COMPLETED_WITH_FAILURES" | "FINISHED_FAILED" => (11, "COMPLETED_WITH_FAILURES"),
        _ => (12, "NOT_FOUND"),
    }
}

/// The application's status from its components' (`None` for a component without one).
/// `None` when there are no components: PNDA wrote no summary then.
pub fn aggregate<'a>(
    components: impl IntoIterator<Item = Option<&'a str>>,
) -> Option<&'static str> {
    let mut best: Option<(u8, &'static str)> = None;
    for status in components {
        let status = status.unwrap_or("");
        if status == UNKNOWN {
            return Some(UNKNOWN);
        }
        let ranked = priority(status);
        if best.is_none_or(|b| ranked.0 > b.0) {
            best = Some(ranked);
        }
    }
    best.map(|(_, label)| label)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of §5.6's table: each listed component status alone gives its label.
    #[test]
    fn every_row_of_the_table() {
        let rows: [(&[&str], u8, &str); 12] = [
            (&["CREATED"], 1, "CREATED"),
            (&["STARTING", "SUBMITTED", "ACCEPTED"], 2, "STARTING"),
            (&["RUNNING"], 3, "RUNNING"),
            (&["RUNNING_WITH_ERRORS"], 4, "RUNNING_WITH_ERRORS"),
            (&["SUSPENDED"], 5, "STOPPED"),
            (&["SUSPENDED_WITH_FAILURES"], 6, "STOPPED_WITH_FAILURES"),
            (&["KILLED", "FINISHED_KILLED"], 7, "KILLED"),
            (&["KILLED_WITH_FAILURES"], 8, "KILLED_WITH_FAILURES"),
            (&["FAILED"], 9, "FAILED"),
            (
                &["COMPLETED", "FINISHED_SUCCEEDED", "SUCCEEDED"],
                10,
                "COMPLETED",
            ),
            (
                &["COMPLETED_WITH_FAILURES", "FINISHED_FAILED"],
                11,
                "COMPLETED_WITH_FAILURES",
            ),
            (
                &["", "NOT_FOUND", "FAILED_TO_SUBMIT_TO_YARN", "NEW"],
                12,
                "NOT_FOUND",
            ),
        ];
        for (statuses, rank, label) in rows {
            for status in statuses {
                assert_eq!(priority(status), (rank, label), "{status}");
                assert_eq!(aggregate([Some(*status)]), Some(label), "{status}");
            }
        }
        assert_eq!(
            aggregate([None]),
            Some("NOT_FOUND"),
            "a component without a status"
        );
    }

    #[test]
    fn the_highest_priority_wins() {
        assert_eq!(
            aggregate([Some("RUNNING"), Some("CREATED")]),
            Some("RUNNING")
        );
        assert_eq!(
            aggregate([Some("RUNNING"), Some("FINISHED_KILLED"), Some("ACCEPTED")]),
            Some("KILLED")
        );
        assert_eq!(
            aggregate([Some("FAILED"), Some("COMPLETED")]),
            Some("COMPLETED")
        );
        assert_eq!(aggregate([Some("RUNNING"), None]), Some("NOT_FOUND"));
        assert_eq!(aggregate([]), None, "no components, no summary");
    }

    #[test]
    fn an_unobservable_component_makes_the_application_unknown() {
        assert_eq!(aggregate([Some("RUNNING"), Some(UNKNOWN)]), Some(UNKNOWN));
        assert_eq!(aggregate([Some(UNKNOWN), Some("FAILED")]), Some(UNKNOWN));
    }
}
