//! A blocking HTTP client of dmd's API: it adds the caller's identity (PNDA's
//! `user.name`, or a bearer token) and turns dmd's `{"status", "information"}` errors into
//! messages that say which request failed and why.

use serde_json::Value;
use std::io::Read;
use std::time::Duration;

pub struct Client {
    base: String,
    user: Option<String>,
    token: Option<String>,
    agent: ureq::Agent,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// dmd answered with an error; `request` is `<METHOD> <url>`, `body` dmd's JSON.
    #[error("{request}: HTTP {code}: {status}{information}")]
    Refused {
        request: String,
        code: u16,
        status: String,
        information: String,
        body: Box<Value>,
    },
    #[error("cannot reach dmd at {url}: {reason}")]
    Unreachable { url: String, reason: String },
}

/// Transient states: `--wait` polls until the status is none of these. They are PNDA's API
/// contract (dmd's registry names the same), so a client keeps its own copy.
pub const TRANSIENT: [&str; 7] = [
    "DEPLOYING",
    "UNDEPLOYING",
    "CREATING",
    "STARTING",
    "STOPPING",
    "DESTROYING",
    "UPGRADING",
];

impl Client {
    pub fn new(base: &str, user: Option<String>, token: Option<String>) -> Client {
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(600)))
            // dmd's refusals carry a JSON body worth reading.
            .http_status_as_error(false)
            .build()
            .into();
        Client {
            base: base.trim_end_matches('/').to_string(),
            user,
            token,
            agent,
        }
    }

    fn url(&self, path: &str) -> String {
        let mut url = format!("{}{path}", self.base);
        if let Some(user) = &self.user {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("user.name=");
            url.push_str(&percent_encode(user));
        }
        url
    }

    /// Sends a request; the body is JSON (or null when empty or not JSON).
    pub fn send(&self, method: &str, path: &str, body: Option<Body>) -> Result<Value, ClientError> {
        let url = self.url(path);
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let unreachable = |reason: String| ClientError::Unreachable {
            url: url.clone(),
            reason,
        };
        let result = match body {
            None => self
                .agent
                .run(request.body(()).map_err(|e| unreachable(e.to_string()))?),
            Some(Body::Json(value)) => self.agent.run(
                request
                    .header("Content-Type", "application/json")
                    .body(value.to_string())
                    .map_err(|e| unreachable(e.to_string()))?,
            ),
            Some(Body::Stream { reader, length }) => self.agent.run(
                request
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Length", length.to_string())
                    .body(ureq::SendBody::from_owned_reader(reader))
                    .map_err(|e| unreachable(e.to_string()))?,
            ),
        };
        let mut response = result.map_err(|e| unreachable(e.to_string()))?;
        let code = response.status().as_u16();
        let ok = response.status().is_success();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .map_err(|e| unreachable(e.to_string()))?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if ok {
            Ok(body)
        } else {
            let status = body["status"].as_str().unwrap_or("ERROR").to_string();
            let information = body["information"]
                .as_str()
                .map(|i| format!(": {i}"))
                .unwrap_or_default();
            Err(ClientError::Refused {
                request: format!("{method} {url}"),
                code,
                status,
                information,
                body: Box::new(body),
            })
        }
    }

    /// Polls `status_path` until its status is not transient; returns the last status body.
    pub fn wait(&self, status_path: &str, timeout: Duration) -> Result<Value, ClientError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let body = self.send("GET", status_path, None)?;
            let status = body["status"].as_str().unwrap_or_default();
            if !TRANSIENT.contains(&status) || std::time::Instant::now() >= deadline {
                return Ok(body);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

pub enum Body {
    Json(Value),
    Stream {
        reader: Box<dyn Read + Send>,
        length: u64,
    },
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_goes_in_the_query() {
        let client = Client::new("http://127.0.0.1:1/", Some("a b".into()), None);
        assert_eq!(
            client.url("/packages"),
            "http://127.0.0.1:1/packages?user.name=a%20b"
        );
        assert_eq!(
            client.url("/repository/packages?recency=2"),
            "http://127.0.0.1:1/repository/packages?recency=2&user.name=a%20b"
        );
    }
}
