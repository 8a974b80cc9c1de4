//! The YARN ResourceManager's REST API (`/ws/v1/cluster/…`): list applications by tag in one
//! call, read one application's report, kill one. States are typed; a state a newer YARN adds
//! parses as `Other` instead of failing the whole listing.

use crate::http::{join, ClientError, HttpClient};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A closed set of the RM's words, with `Other` for any it adds later.
macro_rules! rm_words {
    ($(#[$doc:meta])* $ty:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $ty {
            $($(#[$vdoc])* $variant,)*
            /// A word this dm does not know (a newer YARN's), kept as written.
            Other(String),
        }

        impl $ty {
            pub fn parse(text: &str) -> $ty {
                match text {
                    $($text => $ty::$variant,)*
                    other => $ty::Other(other.to_string()),
                }
            }

            /// The RM's own word.
            pub fn as_str(&self) -> &str {
                match self {
                    $($ty::$variant => $text,)*
                    $ty::Other(text) => text,
                }
            }
        }

        impl From<&str> for $ty {
            fn from(text: &str) -> $ty {
                $ty::parse(text)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Ok($ty::parse(&text))
            }
        }
    };
}

rm_words! {
    /// An application's `state`.
    YarnState {
        New = "NEW",
        NewSaving = "NEW_SAVING",
        Submitted = "SUBMITTED",
        Accepted = "ACCEPTED",
        Running = "RUNNING",
        Finished = "FINISHED",
        Failed = "FAILED",
        Killed = "KILLED",
    }
}

rm_words! {
    /// An application's `finalStatus`: what the ApplicationMaster said of its end.
    FinalStatus {
        Undefined = "UNDEFINED",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
        Killed = "KILLED",
        Ended = "ENDED",
    }
}

impl YarnState {
    /// FINISHED, FAILED and KILLED are final.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            YarnState::Finished | YarnState::Failed | YarnState::Killed
        )
    }

    /// Not yet given its ApplicationMaster container.
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            YarnState::New | YarnState::NewSaving | YarnState::Submitted | YarnState::Accepted
        )
    }
}

/// One YARN application, as the RM reports it (the fields dm reads; others are skipped).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct YarnApp {
    pub id: String,
    pub name: String,
    pub state: YarnState,
    pub final_status: FinalStatus,
    #[serde(default)]
    pub tracking_url: Option<String>,
    #[serde(default)]
    pub application_tags: Option<String>,
    #[serde(default)]
    pub started_time: i64,
    #[serde(default)]
    pub diagnostics: Option<String>,
    /// The NodeManager page of the ApplicationMaster container's logs
    /// (`http://nm:8042/node/containerlogs/<container>/<user>`).
    #[serde(default)]
    pub am_container_logs: Option<String>,
    /// The ApplicationMaster's RPC `host:port`; a Flink JobManager registers its REST address
    /// here, which is where Flink's writes must go (the RM proxy forwards only GET and PUT).
    #[serde(default, rename = "amRPCAddress")]
    pub am_rpc_address: Option<String>,
}

impl YarnApp {
    pub fn is_final(&self) -> bool {
        self.state.is_final()
    }

    pub fn is_pending(&self) -> bool {
        self.state.is_pending()
    }

    /// Whether the application carries every one of `tags`.
    pub fn has_tags(&self, tags: &[String]) -> bool {
        let own = self.application_tags.as_deref().unwrap_or("");
        tags.iter().all(|t| own.split(',').any(|o| o == t))
    }

    /// The ApplicationMaster's own web address (`http://` + `amRPCAddress`), when it has one:
    /// for a Flink application, its JobManager's REST API.
    pub fn am_url(&self) -> Option<String> {
        let address = self.am_rpc_address.as_deref()?.trim();
        // Before the AM registers, the RM reports "N/A" or nothing.
        (address.contains(':') && !address.starts_with("N/A")).then(|| format!("http://{address}"))
    }

    /// The NodeManager REST URL of the last `bytes` of `file` (`jobmanager.log`, `stderr`, …)
    /// in the ApplicationMaster's container, from `amContainerLogs`
    /// (`http://nm:8042/node/containerlogs/<container>/<user>`). NodeManagers keep the logs for
    /// a while when log aggregation is off.
    pub fn am_log_url(&self, file: &str, bytes: u64) -> Option<String> {
        let page = self.am_container_logs.as_deref()?;
        let (node, rest) = page.split_once("/node/containerlogs/")?;
        let container = rest.split('/').next().filter(|c| !c.is_empty())?;
        Some(format!(
            "{node}/ws/v1/node/containerlogs/{container}/{file}?size=-{bytes}"
        ))
    }
}

#[derive(Deserialize)]
struct AppsEnvelope {
    apps: Option<AppsList>,
}

#[derive(Deserialize)]
struct AppsList {
    #[serde(default)]
    app: Vec<YarnApp>,
}

#[derive(Deserialize)]
struct AppEnvelope {
    app: YarnApp,
}

/// Parses a `/ws/v1/cluster/apps` answer (`{"apps": null}` when none match).
pub fn parse_apps(body: &[u8]) -> Result<Vec<YarnApp>, serde_json::Error> {
    let envelope: AppsEnvelope = serde_json::from_slice(body)?;
    Ok(envelope.apps.map(|a| a.app).unwrap_or_default())
}

/// The longest one call to the ResourceManager may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// A ResourceManager REST client.
#[derive(Clone)]
pub struct ResourceManager {
    base: String,
    http: HttpClient,
}

impl ResourceManager {
    /// 5 s to connect, [`CALL_TIMEOUT`] in all, one retry of a read.
    pub fn new(base: &str) -> Self {
        ResourceManager::with_timeouts(base, Duration::from_secs(5), CALL_TIMEOUT)
    }

    /// A client whose calls give up after `connect` to connect and `total` in all (no retries:
    /// the caller's own cycle is its retry).
    pub fn with_timeouts(base: &str, connect: Duration, total: Duration) -> Self {
        let http = HttpClient::builder()
            .connect_timeout(connect)
            .total_timeout(total)
            .build();
        ResourceManager::with_client(base, http)
    }

    pub fn with_client(base: &str, http: HttpClient) -> Self {
        ResourceManager {
            base: base.trim_end_matches('/').to_string(),
            http,
        }
    }

    /// The RM's web address this client calls.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Applications carrying `tag`, in one call (YARN matches tags case-insensitively).
    pub fn apps_tagged(&self, tag: &str) -> Result<Vec<YarnApp>, ClientError> {
        let url = join(
            &self.base,
            &format!("ws/v1/cluster/apps?applicationTags={tag}"),
        );
        let body = self.http.get_bytes(&url)?;
        parse_apps(&body).map_err(|e| {
            ClientError::new("GET", &url, crate::http::ErrorKind::Decode(e.to_string()))
        })
    }

    /// The report of application `id`, which the RM must know (a 404 is an error).
    pub fn app(&self, id: &str) -> Result<YarnApp, ClientError> {
        let url = join(&self.base, &format!("ws/v1/cluster/apps/{id}"));
        self.http.get_json::<AppEnvelope>(&url).map(|e| e.app)
    }

    /// The report of application `id`; `None` when the RM answers that it does not know it
    /// (e.g. it restarted without a state store).
    pub fn find(&self, id: &str) -> Result<Option<YarnApp>, ClientError> {
        match self.app(id) {
            Ok(app) => Ok(Some(app)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Asks the RM to kill application `id`.
    pub fn kill(&self, id: &str) -> Result<(), ClientError> {
        let url = join(&self.base, &format!("ws/v1/cluster/apps/{id}/state"));
        self.http
            .put_json(&url, &serde_json::json!({"state": "KILLED"}))
            .map(|_| ())
    }

    /// GETs `path` under the RM's REST root (`/ws/v1/cluster/…`) as JSON: its info, nodes and
    /// metrics, for the health probes.
    pub fn get(&self, path: &str) -> Result<serde_json::Value, ClientError> {
        self.http.get_json(&join(&self.base, path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn every_state_yarn_writes_parses_and_an_unknown_one_is_kept() {
        for (text, state) in [
            ("NEW", YarnState::New),
            ("NEW_SAVING", YarnState::NewSaving),
            ("SUBMITTED", YarnState::Submitted),
            ("ACCEPTED", YarnState::Accepted),
            ("RUNNING", YarnState::Running),
            ("FINISHED", YarnState::Finished),
            ("FAILED", YarnState::Failed),
            ("KILLED", YarnState::Killed),
        ] {
            let parsed: YarnState = serde_json::from_str(&format!("\"{text}\"")).unwrap();
            assert_eq!(parsed, state);
            assert_eq!(
                serde_json::to_string(&parsed).unwrap(),
                format!("\"{text}\"")
            );
        }
        let unknown: YarnState = serde_json::from_str("\"PAUSED\"").unwrap();
        assert_eq!(unknown, YarnState::Other("PAUSED".into()));
        assert!(!unknown.is_final() && !unknown.is_pending());
        assert_eq!(FinalStatus::parse("SUCCEEDED"), FinalStatus::Succeeded);
        assert_eq!(
            FinalStatus::parse("LOST"),
            FinalStatus::Other("LOST".into())
        );
    }

    #[test]
    fn a_recorded_listing_parses_into_typed_apps() {
        let apps = parse_apps(&recorded("rm-apps.json")).unwrap();
        assert!(!apps.is_empty());
        for app in &apps {
            assert!(app.id.starts_with("application_"), "{app:?}");
            assert!(!matches!(app.state, YarnState::Other(_)), "{app:?}");
            assert!(
                !matches!(app.final_status, FinalStatus::Other(_)),
                "{app:?}"
            );
        }
        let tagged = apps
            .iter()
            .filter(|a| a.has_tags(&["dm".to_string()]))
            .count();
        assert_eq!(tagged, apps.len());
    }

    #[test]
    fn a_running_flink_report_names_its_jobmanager() {
        let report: AppEnvelope =
            serde_json::from_slice(&recorded("rm-app-flink-running.json")).unwrap();
        assert_eq!(report.app.state, YarnState::Running);
        let am = report.app.am_url().expect("amRPCAddress");
        assert!(
            am.starts_with("http://") && am.rsplit(':').next().unwrap().parse::<u16>().is_ok(),
            "{am}"
        );
    }

    #[test]
    fn the_am_logs_are_read_from_the_nodemanager_rest_api() {
        let apps = parse_apps(&recorded("rm-apps.json")).unwrap();
        assert_eq!(
            apps[0].am_log_url("jobmanager.log", 262144).as_deref(),
            Some("http://localhost:46099/ws/v1/node/containerlogs/container_1795434460817_0004_01_000001/jobmanager.log?size=-262144")
        );
        let mut app = apps[0].clone();
        app.am_container_logs = None;
        assert_eq!(app.am_log_url("stderr", 1), None);
    }

    #[test]
    fn no_application_is_an_empty_list() {
        assert_eq!(parse_apps(br#"{"apps":null}"#).unwrap(), vec![]);
    }

    #[test]
    fn an_unregistered_am_has_no_url() {
        let mut app: YarnApp = serde_json::from_str(
            r#"{"id":"application_1_0001","name":"x","state":"ACCEPTED","finalStatus":"UNDEFINED","amRPCAddress":"N/A"}"#,
        )
        .unwrap();
        assert_eq!(app.am_url(), None);
        app.am_rpc_address = Some("localhost:37011".into());
        assert_eq!(app.am_url().as_deref(), Some("http://localhost:37011"));
    }
}
