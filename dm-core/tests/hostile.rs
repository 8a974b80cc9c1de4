//! Hostile clients against the real dmd: oversized bodies, slow-loris heads and uploads, and a
//! thousand connections at once. Each bound is dmd's own (`[server]`, `[repository]`), set small
//! here so the tests are quick; the figures (printed; run with `--nocapture`) are in
//! SECURITY.md.

mod common;

use common::{two_components, Dmd, Options};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const HEADER_TIMEOUT_MS: u64 = 1000;
const BODY_IDLE_SECS: u64 = 1;

fn start(root: &std::path::Path) -> Dmd {
    Dmd::start_with(
        root,
        &Options {
            env: vec![
                ("DMD__SERVER__MAX_JSON_BYTES".into(), "4096".into()),
                ("DMD__REPOSITORY__MAX_UPLOAD_BYTES".into(), "100000".into()),
                (
                    "DMD__SERVER__HEADER_TIMEOUT_MS".into(),
                    HEADER_TIMEOUT_MS.to_string(),
                ),
                (
                    "DMD__SERVER__BODY_IDLE_TIMEOUT_SECS".into(),
                    BODY_IDLE_SECS.to_string(),
                ),
            ],
            ..Options::default()
        },
    )
}

fn connect(dmd: &Dmd) -> TcpStream {
    TcpStream::connect(("127.0.0.1", dmd.port)).unwrap()
}

/// Reads what dmd sends until it closes the connection, for at most `bound`; the text, and
/// how long it took.
fn read_until_closed(stream: &mut TcpStream, bound: Duration) -> (String, Duration) {
    let started = Instant::now();
    stream.set_read_timeout(Some(bound)).unwrap();
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "dmd neither answered nor closed within {bound:?} ({e}); received so far: {:?}",
                String::from_utf8_lossy(&text)
            ),
        }
    }
    (
        String::from_utf8_lossy(&text).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn oversized_bodies_get_413_naming_the_limit() {
    let root = tempfile::tempdir().unwrap();
    let dmd = start(root.path());
    // A JSON body over server.max_json_bytes.
    let big = format!(
        "{{\"package\": \"a-1.0.0\", \"pad\": \"{}\"}}",
        "x".repeat(10_000)
    );
    let reply = dmd.put("/applications/big?user.name=alice", Some(big.as_bytes()));
    assert_eq!(reply.code, 413, "{}", reply.body);
    assert_eq!(reply.body["status"], "TOO_LARGE");
    assert_eq!(
        reply.body["information"],
        "the request body is larger than the limit of 4096 bytes (server.max_json_bytes)"
    );
    // An upload that declares its size over repository.max_upload_bytes, refused at once.
    let reply = dmd.upload("big-1.0.0", &vec![0u8; 200_000]);
    assert_eq!(reply.code, 413, "{}", reply.body);
    assert_eq!(
        reply.body["information"],
        "big-1.0.0.tar.gz is larger than the limit of 100000 bytes (repository.max_upload_bytes)"
    );
    // One that does not say (chunked), refused once it passes the limit.
    let url = dmd.url("/repository/packages/chunked-1.0.0.tar.gz?user.name=alice");
    let mut body = std::io::Cursor::new(vec![0u8; 200_000]);
    let sent = ureq::put(&url)
        .config()
        .http_status_as_error(false)
        .build()
        .send(ureq::SendBody::from_reader(&mut body));
    let reply = match sent {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        other => panic!("a chunked upload over the limit: {other:?}"),
    };
    assert_eq!(reply.0, 413, "{}", reply.1);
    assert!(
        reply.1.contains("repository.max_upload_bytes"),
        "{}",
        reply.1
    );
    assert_eq!(
        std::fs::read_dir(dmd.data.join("repository/.incoming"))
            .unwrap()
            .count(),
        0,
        "nothing of refused uploads is kept"
    );
    assert_eq!(dmd.get("/repository/packages").body, serde_json::json!([]));
}

#[test]
fn a_slow_loris_head_is_cut_at_the_header_timeout() {
    let root = tempfile::tempdir().unwrap();
    let dmd = start(root.path());
    let mut stream = connect(&dmd);
    stream
        .write_all(b"GET /packages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .unwrap();
    let bound = Duration::from_millis(HEADER_TIMEOUT_MS * 5);
    let (text, took) = read_until_closed(&mut stream, bound);
    println!(
        "slow-loris head: answered {:?} after {took:?}",
        text.lines().next()
    );
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    assert!(
        took >= Duration::from_millis(HEADER_TIMEOUT_MS / 2),
        "cut after {took:?}, before the timeout"
    );
    assert_eq!(dmd.get("/packages").code, 200, "dmd still serves");
}

#[test]
fn a_stalled_upload_gets_408_and_leaves_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dmd = start(root.path());
    let package = two_components("slow-1.0.0");
    let mut stream = connect(&dmd);
    let head = format!(
        "PUT /repository/packages/slow-1.0.0.tar.gz?user.name=alice HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        package.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&package[..10]).unwrap();
    let bound = Duration::from_secs(BODY_IDLE_SECS * 5);
    let (text, took) = read_until_closed(&mut stream, bound);
    println!(
        "stalled upload: answered {:?} after {took:?}",
        text.lines().next()
    );
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    assert!(
        text.contains("upload of slow-1.0.0.tar.gz stalled: no data for 1 s after 10 bytes"),
        "{text:?}"
    );
    assert_eq!(
        std::fs::read_dir(dmd.data.join("repository/.incoming"))
            .unwrap()
            .count(),
        0,
        "the staging file is dropped"
    );
    assert_eq!(dmd.get("/repository/packages").body, serde_json::json!([]));
}

/// A thousand connections at once: first all idle mid-head (slow-loris), while ordinary
/// requests must still be answered; then a thousand complete requests sent together, each of
/// which must be answered.
#[test]
fn a_thousand_connections_do_not_stop_other_requests() {
    const N: usize = 1000;
    let root = tempfile::tempdir().unwrap();
    let dmd = start(root.path());
    dmd.deployed("p-1.0.0", &two_components("p-1.0.0"));

    let opened = Instant::now();
    let mut idle: Vec<TcpStream> = (0..N)
        .map(|_| {
            let mut s = connect(&dmd);
            s.write_all(b"GET /packages HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                .unwrap();
            s
        })
        .collect();
    let open_took = opened.elapsed();
    // While they hang: ordinary reads answer, each within a bound far under the header
    // timeout (they do not wait for the idle connections to be cut).
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let t = Instant::now();
        let reply = dmd.get("/packages/p-1.0.0/status");
        assert_eq!(reply.code, 200, "{}", reply.body);
        worst = worst.max(t.elapsed());
    }
    println!("{N} idle connections opened in {open_took:?}; 20 reads meanwhile, slowest {worst:?}");
    assert!(
        worst < Duration::from_millis(HEADER_TIMEOUT_MS / 2),
        "a read took {worst:?} while {N} connections hung"
    );
    // dmd cuts every one of them at its header timeout.
    let cut = Instant::now();
    let bound = Duration::from_millis(HEADER_TIMEOUT_MS * 10);
    let answered_408 = idle
        .iter_mut()
        .map(|s| read_until_closed(s, bound).0)
        .filter(|text| text.starts_with("HTTP/1.1 408"))
        .count();
    println!("all {N} cut within {:?} of the last read", cut.elapsed());
    assert_eq!(
        answered_408, N,
        "each idle connection is answered 408 and closed"
    );
    drop(idle);

    // A thousand complete requests at once.
    let sent = Instant::now();
    let mut busy: Vec<TcpStream> = (0..N)
        .map(|_| {
            let mut s = connect(&dmd);
            s.write_all(b"GET /packages/p-1.0.0/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    let ok = busy
        .iter_mut()
        .map(|s| read_until_closed(s, common::WAIT).0)
        .filter(|text| text.starts_with("HTTP/1.1 200"))
        .count();
    println!(
        "{N} concurrent requests: {ok} answered 200 in {:?}",
        sent.elapsed()
    );
    assert_eq!(ok, N);
}
