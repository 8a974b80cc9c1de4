//! PNDA's application roll-up (`summary_aggregator.py`, pnda-dm.md §5.6): each component's
//! `aggregate_status` maps to a priority, the highest wins and names the application's status.
//! One addition: a component whose state could not be observed (`UNKNOWN`) makes the whole
//! application `UNKNOWN`, since any roll-up would then be a guess.

use super::derive::Status;

/// The priority and application label of a component status; anything PNDA did not know
/// (`NOT_FOUND`, `FAILED_TO_SUBMIT_TO_YARN`, `FINISHED_UNDEFINED`, …) is `NOT_FOUND`, priority 12.
pub fn priority(component_status: Status) -> (u8, Status) {
    use Status::*;
    match component_status {
        Created => (1, Created),
        Starting | Submitted | Accepted => (2, Starting),
        Running => (3, Running),
        RunningWithErrors => (4, RunningWithErrors),
        Suspended => (5, Stopped),
        SuspendedWithFailures => (6, StoppedWithFailures),
        Killed | FinishedKilled => (7, Killed),
        KilledWithFailures => (8, KilledWithFailures),
        Failed => (9, Failed),
        Completed | FinishedSucceeded | Succeeded => (10, Completed),
        CompletedWithFailures | FinishedFailed => (11, CompletedWithFailures),
        _ => (12, NotFound),
    }
}

/// The application's status from its components'.
/// `None` when there are no components: PNDA wrote no summary then.
pub fn aggregate(components: impl IntoIterator<Item = Status>) -> Option<Status> {
    let mut best: Option<(u8, Status)> = None;
    for status in components {
        if status == Status::Unknown {
            return Some(Status::Unknown);
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
    use Status::*;

    /// Every row of §5.6's table: each listed component status alone gives its label; and
    /// every status dm can write is in exactly one row.
    #[test]
    fn every_row_of_the_table() {
        let rows: [(&[Status], u8, Status); 12] = [
            (&[Created], 1, Created),
            (&[Starting, Submitted, Accepted], 2, Starting),
            (&[Running], 3, Running),
            (&[RunningWithErrors], 4, RunningWithErrors),
            (&[Suspended], 5, Stopped),
            (&[SuspendedWithFailures], 6, StoppedWithFailures),
            (&[Killed, FinishedKilled], 7, Killed),
            (&[KilledWithFailures], 8, KilledWithFailures),
            (&[Failed], 9, Failed),
            (&[Completed, FinishedSucceeded, Succeeded], 10, Completed),
            (
                &[CompletedWithFailures, FinishedFailed],
                11,
                CompletedWithFailures,
            ),
            (
                // Application labels are not component statuses PNDA ranked.
                &[
                    NotFound,
                    FailedToSubmitToYarn,
                    FinishedUndefined,
                    Stopped,
                    StoppedWithFailures,
                ],
                12,
                NotFound,
            ),
        ];
        for (statuses, rank, label) in rows {
            for status in statuses {
                assert_eq!(priority(*status), (rank, label), "{status:?}");
                assert_eq!(aggregate([*status]), Some(label), "{status:?}");
            }
        }
        let listed: Vec<Status> = rows.iter().flat_map(|r| r.0.iter().copied()).collect();
        for status in Status::ALL {
            let times = listed.iter().filter(|s| *s == status).count();
            let expected = usize::from(*status != Unknown);
            assert_eq!(times, expected, "{status:?} in the table");
        }
    }

    #[test]
    fn the_highest_priority_wins() {
        assert_eq!(aggregate([Running, Created]), Some(Running));
        assert_eq!(aggregate([Running, FinishedKilled, Accepted]), Some(Killed));
        assert_eq!(aggregate([Failed, Completed]), Some(Completed));
        assert_eq!(aggregate([Running, NotFound]), Some(NotFound));
        assert_eq!(aggregate([]), None, "no components, no summary");
    }

    #[test]
    fn an_unobservable_component_makes_the_application_unknown() {
        assert_eq!(aggregate([Running, Unknown]), Some(Unknown));
        assert_eq!(aggregate([Unknown, Failed]), Some(Unknown));
    }
}
