//! Whether a failed attempt on YARN is worth another. A job that fails before it has run — bad
//! arguments, a missing main class, a jar Flink cannot open — fails the same way every time,
//! so respawning it only loops; a job that had been running, or a failure of YARN or the
//! network, is worth another attempt. When unsure, the answer is "respawn".

/// An attempt that ran at least this long had been running (it also resets the back-off).
pub const HEALTHY_RUN_MS: u64 = 60_000;

/// How an attempt on YARN failed.
#[derive(Debug, Clone, Copy)]
pub enum YarnFailure<'a> {
    /// The submit command could not run, failed, or left no application on YARN.
    Submission { log_tail: &'a str },
    /// The application ended with final status FAILED, `ran_ms` after the attempt started.
    Application { ran_ms: u64, diagnostics: &'a str },
}

/// `true` when the failure will repeat on every attempt: the job is not respawned.
pub fn is_deterministic(failure: YarnFailure) -> bool {
    match failure {
        YarnFailure::Submission { log_tail } => !is_infrastructure(log_tail),
        YarnFailure::Application {
            ran_ms,
            diagnostics,
        } => ran_ms < HEALTHY_RUN_MS && !is_infrastructure(diagnostics),
    }
}

/// Signs that YARN, HDFS or the network failed rather than the job.
fn is_infrastructure(text: &str) -> bool {
    const MARKERS: [&str; 16] = [
        "ConnectException",
        "Connection refused",
        "NoRouteToHostException",
        "UnknownHostException",
        "SocketTimeoutException",
        "Retrying connect to server",
        "RetriableException",
        "SafeModeException",
        "StandbyException",
        "preempted",
        "lost node",
        "Lost node",
        "exitCode: -100",
        "Exit status: -100",
        "timed out",
        "TimeoutException",
    ];
    MARKERS.iter().any(|marker| text.contains(marker))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flink 1.20's client given PNDA's `-yn 1` untranslated (seen on the loopback cluster).
    const YN_AS_JAR: &str = "\
org.apache.flink.client.program.ProgramInvocationException: JAR file does not exist: -yn
\tat org.apache.flink.client.cli.CliFrontend.getJarFile(CliFrontend.java:1012)
Caused by: java.io.FileNotFoundException: JAR file does not exist: -yn";

    /// A submission while the ResourceManager is down.
    const RM_DOWN: &str = "\
INFO  org.apache.hadoop.ipc.Client - Retrying connect to server: 127.0.0.1/127.0.0.1:8032. Already tried 9 time(s)
java.net.ConnectException: Call From host to 127.0.0.1:8032 failed on connection exception: java.net.ConnectException: Connection refused";

    #[test]
    fn a_client_that_cannot_open_its_jar_is_not_retried() {
        assert!(is_deterministic(YarnFailure::Submission {
            log_tail: YN_AS_JAR
        }));
        assert!(is_deterministic(YarnFailure::Submission {
            log_tail: "org.apache.flink.client.program.ProgramInvocationException: The program's entry point class 'dm.Nope' was not found in the jar file."
        }));
    }

    #[test]
    fn a_submission_yarn_did_not_answer_is_retried() {
        assert!(!is_deterministic(YarnFailure::Submission {
            log_tail: RM_DOWN
        }));
    }

    #[test]
    fn an_application_failing_at_once_is_not_retried_one_that_ran_is() {
        let diagnostics = "Application application_1_0002 failed 1 times (global limit =2; local limit is =1) due to AM Container for appattempt_1_0002_000001 exited with  exitCode: 1";
        assert!(is_deterministic(YarnFailure::Application {
            ran_ms: 25_000,
            diagnostics
        }));
        assert!(!is_deterministic(YarnFailure::Application {
            ran_ms: HEALTHY_RUN_MS,
            diagnostics
        }));
    }

    #[test]
    fn an_application_lost_with_its_node_is_retried() {
        assert!(!is_deterministic(YarnFailure::Application {
            ran_ms: 5_000,
            diagnostics: "Container released on a *lost* node; exitCode: -100"
        }));
    }
}
