//! The one HTTP client every outside call goes through: a connect and a total timeout on every
//! call, bounded retries for idempotent GETs whose failure may pass, and one error type that
//! names the endpoint, says what kind of failure it was and whether trying again may help.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// What went wrong with a call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URL is not one ureq can call.
    BadUrl(String),
    /// Nothing accepted the connection (refused, unknown host, reset before an answer).
    Connect(String),
    /// The connect or total timeout ran out.
    Timeout,
    /// The service answered with this status; `body` is the first line of its answer.
    Status { code: u16, body: String },
    /// The answer was not what the caller expected (not JSON, missing fields).
    Decode(String),
    /// Reading or writing the connection failed mid-way.
    Io(String),
}

/// A failed call: which call, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE`.
    pub method: &'static str,
    /// The URL called, without user info or query values (they may carry secrets).
    pub endpoint: String,
    pub kind: ErrorKind,
}

impl ClientError {
    pub fn new(method: &'static str, url: &str, kind: ErrorKind) -> ClientError {
        ClientError {
            method,
            endpoint: redact(url),
            kind,
        }
    }

    /// Whether the same call may succeed later: no answer, a timeout, or a gateway or service
    /// that says it is busy or unavailable. A refusal (4xx) or an unreadable answer is not.
    pub fn retriable(&self) -> bool {
        match &self.kind {
            ErrorKind::Connect(_) | ErrorKind::Timeout | ErrorKind::Io(_) => true,
            ErrorKind::Status { code, .. } => matches!(code, 429 | 502 | 503 | 504),
            ErrorKind::BadUrl(_) | ErrorKind::Decode(_) => false,
        }
    }

    /// The status code the service answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            ErrorKind::Status { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (method, endpoint) = (self.method, &self.endpoint);
        match &self.kind {
            ErrorKind::BadUrl(why) => write!(f, "{method} {endpoint}: not a usable URL: {why}"),
            ErrorKind::Connect(why) => write!(f, "{method} {endpoint}: could not connect: {why}"),
            ErrorKind::Timeout => write!(f, "{method} {endpoint}: timed out"),
            ErrorKind::Status { code, body } if body.is_empty() => {
                write!(f, "{method} {endpoint}: HTTP {code}")
            }
            ErrorKind::Status { code, body } => {
                write!(f, "{method} {endpoint}: HTTP {code} {body}")
            }
            ErrorKind::Decode(why) => write!(f, "{method} {endpoint}: unreadable answer: {why}"),
            ErrorKind::Io(why) => write!(f, "{method} {endpoint}: {why}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// `url` without user info and with every query value replaced by `…`: enough to say which
/// endpoint failed, nothing a log should not hold.
pub fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('/') {
            Some((authority, path)) => format!("{scheme}://{}/{path}", host_of(authority)),
            None => format!("{scheme}://{}", host_of(rest)),
        },
        None => base.to_string(),
    };
    match query {
        Some(query) => {
            let keys: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) => format!("{key}=…"),
                    None => pair.to_string(),
                })
                .collect();
            format!("{base}?{}", keys.join("&"))
        }
        None => base,
    }
}

/// `url` with `pairs` appended as its query, each value percent-encoded.
pub fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = url.to_string();
    for (i, (key, value)) in pairs.iter().enumerate() {
        out.push(if i == 0 && !url.contains('?') {
            '?'
        } else {
            '&'
        });
        out.push_str(key);
        out.push('=');
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

fn host_of(authority: &str) -> &str {
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

/// `base` + `path` with exactly one `/` between them.
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// How an [`HttpClient`] behaves; [`HttpClient::builder`] starts from the defaults.
#[derive(Debug, Clone)]
pub struct HttpBuilder {
    connect: Duration,
    total: Duration,
    retries: u32,
    retry_pause: Duration,
    redirects: u32,
    reason_header: Option<&'static str>,
}

impl HttpBuilder {
    /// The longest a connection may take to open.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect = d;
        self
    }
    /// The longest one call may take in all, answer included.
    pub fn total_timeout(mut self, d: Duration) -> Self {
        self.total = d;
        self
    }
    /// How many times a GET is tried again after a retriable failure (0: never).
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }
    /// The pause before the first retry; it doubles for each next one.
    pub fn retry_pause(mut self, d: Duration) -> Self {
        self.retry_pause = d;
        self
    }
    /// How many redirects are followed (0: none).
    pub fn redirects(mut self, n: u32) -> Self {
        self.redirects = n;
        self
    }

    /// A response header in which the service says why it refused (Oozie's
    /// `oozie-error-message`): used as the error's text instead of the body's first line.
    pub fn reason_header(mut self, name: &'static str) -> Self {
        self.reason_header = Some(name);
        self
    }

    pub fn build(self) -> HttpClient {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(self.connect))
            .timeout_global(Some(self.total))
            .max_redirects(self.redirects)
            // Statuses come back as answers so their body can name the problem.
            .http_status_as_error(false)
            .build();
        HttpClient {
            agent: config.into(),
            retries: self.retries,
            retry_pause: self.retry_pause,
            reason_header: self.reason_header,
        }
    }
}

/// An HTTP/1.1 client (connections pooled, cheap to clone).
#[derive(Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
    retries: u32,
    retry_pause: Duration,
    reason_header: Option<&'static str>,
}

/// An answer's size cap: an RM listing 10,000 applications is about 20 MB.
const BODY_LIMIT: u64 = 512 * 1024 * 1024;

impl HttpClient {
    /// 5 s to connect, 15 s in all, no retries, 2 redirects.
    pub fn builder() -> HttpBuilder {
        HttpBuilder {
            connect: Duration::from_secs(5),
            total: Duration::from_secs(15),
            retries: 0,
            retry_pause: Duration::from_millis(200),
            redirects: 2,
            reason_header: None,
        }
    }

    /// GETs `url`'s whole body (asking for JSON), retrying retriable failures as configured.
    pub fn get_bytes(&self, url: &str) -> Result<Vec<u8>, ClientError> {
        self.get(url, "application/json")
    }

    /// GETs `url` with `accept`, retrying retriable failures as configured.
    fn get(&self, url: &str, accept: &str) -> Result<Vec<u8>, ClientError> {
        let mut pause = self.retry_pause;
        let mut tries_left = self.retries;
        loop {
            let result = self.answer(
                "GET",
                url,
                self.agent.get(url).header("Accept", accept).call(),
            );
            match result {
                Err(e) if e.retriable() && tries_left > 0 => {
                    tries_left -= 1;
                    std::thread::sleep(pause);
                    pause *= 2;
                }
                other => return other,
            }
        }
    }

    /// GETs `url` and hands its body to `sink` piece by piece as it arrives (large files,
    /// never held in memory); not retried, since part of the body may have been consumed.
    /// Returns the bytes read.
    pub fn get_streamed(
        &self,
        url: &str,
        sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64, ClientError> {
        use std::io::Read;
        let io = |e: std::io::Error| ClientError::new("GET", url, ErrorKind::Io(e.to_string()));
        let mut response = self
            .agent
            .get(url)
            .call()
            .map_err(|e| ClientError::new("GET", url, kind_of(e)))?;
        let code = response.status().as_u16();
        if !(200..300).contains(&code) {
            let body = response.body_mut().read_to_string().unwrap_or_default();
            let body = first_line(&body);
            return Err(ClientError::new("GET", url, ErrorKind::Status { code, body }));
        }
        let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
        let mut buffer = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buffer) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ClientError::new("GET", url, kind_of(ureq::Error::Io(e)))),
            };
            sink(&buffer[..n]).map_err(io)?;
            total += n as u64;
        }
    }

    /// GETs `url` and parses it as JSON into `T`. The body is read whole, then parsed:
    /// serde_json reading from a stream goes byte by byte, several times slower on an RM's
    /// list of a thousand applications.
    pub fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, ClientError> {
        let body = self.get_bytes(url)?;
        decode("GET", url, &body)
    }

    /// GETs `url` as text (logs, HTML pages): a NodeManager asked for JSON answers its logs
    /// as JSON, not as the text they are.
    pub fn get_text(&self, url: &str) -> Result<String, ClientError> {
        let body = self.get(url, "text/plain, */*")?;
        String::from_utf8(body)
            .map_err(|e| ClientError::new("GET", url, ErrorKind::Decode(e.to_string())))
    }

    /// POSTs `body` as JSON; never retried (a POST may not be idempotent). Returns the answer's body.
    pub fn post_json<B: Serialize + ?Sized>(
        &self,
        url: &str,
        body: &B,
    ) -> Result<Vec<u8>, ClientError> {
        self.answer("POST", url, self.agent.post(url).send_json(body))
    }

    /// PUTs `body` as JSON. Returns the answer's body.
    pub fn put_json<B: Serialize + ?Sized>(
        &self,
        url: &str,
        body: &B,
    ) -> Result<Vec<u8>, ClientError> {
        self.answer("PUT", url, self.agent.put(url).send_json(body))
    }

    /// POSTs `body` of type `content_type` (never retried). Returns the answer's body.
    pub fn post(&self, url: &str, content_type: &str, body: &[u8]) -> Result<Vec<u8>, ClientError> {
        let request = self.agent.post(url).header("Content-Type", content_type);
        self.answer("POST", url, request.send(body))
    }

    /// PUTs `body` of type `content_type`. Returns the answer's body.
    pub fn put(&self, url: &str, content_type: &str, body: &[u8]) -> Result<Vec<u8>, ClientError> {
        let request = self.agent.put(url).header("Content-Type", content_type);
        self.answer("PUT", url, request.send(body))
    }

    /// DELETEs `url`. Returns the answer's body.
    pub fn delete(&self, url: &str) -> Result<Vec<u8>, ClientError> {
        self.answer("DELETE", url, self.agent.delete(url).call())
    }

    /// PATCHes `url` with no body. Returns the answer's body.
    pub fn patch(&self, url: &str) -> Result<Vec<u8>, ClientError> {
        self.answer("PATCH", url, self.agent.patch(url).send_empty())
    }

    /// A 2xx answer's body, or the error it amounts to.
    fn answer(
        &self,
        method: &'static str,
        url: &str,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Vec<u8>, ClientError> {
        let mut response = result.map_err(|e| ClientError::new(method, url, kind_of(e)))?;
        let code = response.status().as_u16();
        let reason = self
            .reason_header
            .and_then(|name| response.headers().get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_vec()
            .map_err(|e| ClientError::new(method, url, kind_of(e)));
        if !(200..300).contains(&code) {
            let text = reason.unwrap_or_else(|| {
                body.map(|b| first_line(&String::from_utf8_lossy(&b)))
                    .unwrap_or_default()
            });
            return Err(ClientError::new(
                method,
                url,
                ErrorKind::Status { code, body: text },
            ));
        }
        body
    }
}

/// Parses a JSON answer of `url` into `T`, as a [`ErrorKind::Decode`] error when it does not fit.
pub fn decode<T: DeserializeOwned>(
    method: &'static str,
    url: &str,
    body: &[u8],
) -> Result<T, ClientError> {
    serde_json::from_slice(body)
        .map_err(|e| ClientError::new(method, url, ErrorKind::Decode(e.to_string())))
}

fn kind_of(e: ureq::Error) -> ErrorKind {
    use std::io::ErrorKind as Io;
    match e {
        ureq::Error::Timeout(_) => ErrorKind::Timeout,
        ureq::Error::BadUri(why) => ErrorKind::BadUrl(why),
        ureq::Error::Http(why) => ErrorKind::BadUrl(why.to_string()),
        ureq::Error::HostNotFound => ErrorKind::Connect("host not found".into()),
        ureq::Error::ConnectionFailed => ErrorKind::Connect("connection failed".into()),
        ureq::Error::Io(io) => match io.kind() {
            Io::ConnectionRefused
            | Io::ConnectionReset
            | Io::ConnectionAborted
            | Io::NotConnected
            | Io::AddrNotAvailable => ErrorKind::Connect(io.to_string()),
            Io::TimedOut | Io::WouldBlock => ErrorKind::Timeout,
            _ => ErrorKind::Io(io.to_string()),
        },
        ureq::Error::Json(why) => ErrorKind::Decode(why.to_string()),
        other => ErrorKind::Io(other.to_string()),
    }
}

/// The first non-blank line of an error body, shortened: enough to name the problem.
fn first_line(body: &str) -> String {
    let line = body.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    line.trim().chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_the_endpoint_and_drops_secrets() {
        assert_eq!(
            redact("http://alice:pw@rm:8088/ws/v1/cluster/apps?applicationTags=dm&user.name=x"),
            "http://rm:8088/ws/v1/cluster/apps?applicationTags=…&user.name=…"
        );
        assert_eq!(redact("http://rm:8088"), "http://rm:8088");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            with_query(
                "http://o/v2/jobs",
                &[("filter", "user=a b;status=PREP"), ("len", "1")]
            ),
            "http://o/v2/jobs?filter=user%3Da%20b%3Bstatus%3DPREP&len=1"
        );
    }

    #[test]
    fn only_passing_failures_are_retriable() {
        let e = |kind| ClientError::new("GET", "http://x/", kind);
        assert!(e(ErrorKind::Timeout).retriable());
        assert!(e(ErrorKind::Connect("refused".into())).retriable());
        assert!(e(ErrorKind::Status {
            code: 503,
            body: String::new()
        })
        .retriable());
        assert!(!e(ErrorKind::Status {
            code: 404,
            body: String::new()
        })
        .retriable());
        assert!(!e(ErrorKind::Decode("eof".into())).retriable());
    }

    #[test]
    fn the_message_names_the_endpoint() {
        let e = ClientError::new(
            "POST",
            "http://jm:8081/jobs/x/stop",
            ErrorKind::Status {
                code: 405,
                body: "no".into(),
            },
        );
        assert_eq!(
            e.to_string(),
            "POST http://jm:8081/jobs/x/stop: HTTP 405 no"
        );
        assert_eq!(e.status(), Some(405));
    }

    #[test]
    fn a_refused_connection_is_a_connect_error_after_the_retries() {
        // Port 1 on the loopback: nothing listens there.
        let client = HttpClient::builder()
            .retries(2)
            .retry_pause(Duration::from_millis(1))
            .build();
        let e = client.get_bytes("http://127.0.0.1:1/x").unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Connect(_)), "{e:?}");
        assert!(e.retriable());
    }
}
