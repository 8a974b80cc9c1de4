//! A mirror built from local files and a real jar from Maven Central, served on 127.0.0.1 and
//! downloaded with Range and ETag; a tampered artifact refused by `build` and by `verify`; a
//! failing build leaving the mirror as it was.

use dm_mirror::build::{BuildError, Builder, Outcome};
use dm_mirror::{hash, manifest, serve, verify};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

fn sha512(bytes: &[u8]) -> String {
    hash::sha512_of(&mut &bytes[..]).unwrap().1
}

/// Every file below `dir` with its bytes: what "unchanged" is compared on.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                pending.push(e.path());
            } else {
                files.insert(e.path().strip_prefix(dir).unwrap().display().to_string(), fs::read(e.path()).unwrap());
            }
        }
    }
    files
}

fn local(section: &str, name: &str, path: &Path, digest: &str) -> String {
    format!(
        "[[artifact]]\nsection = \"{section}\"\nname = \"{name}\"\nversion = \"1.0\"\nsource = \"file://{}\"\nsha512 = \"{digest}\"\n\n",
        path.display()
    )
}

const MAVEN_JAR: &str = "[[artifact]]\nsection = \"jars\"\nname = \"flink-annotations\"\nmaven = \"org.apache.flink:flink-annotations:1.20.0\"\n\n";

#[test]
fn build_serve_and_refuse_tampering() {
    let src = tempfile::tempdir().unwrap();
    let dist: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let dist_path = src.path().join("flink-1.20.5-bin-scala_2.12.tgz");
    fs::write(&dist_path, &dist).unwrap();
    let readme_path = src.path().join("README.txt");
    fs::write(&readme_path, b"hello mirror\n").unwrap();
    let manifest_text = format!(
        "{}{}{MAVEN_JAR}",
        local("flink", "flink", &dist_path, &sha512(&dist)),
        local("misc", "readme", &readme_path, &sha512(b"hello mirror\n")),
    );
    let entries = manifest::parse(&manifest_text).unwrap();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("mirror");
    let outcomes = Builder::new(false).build(&entries, &dir).unwrap();
    assert!(outcomes.iter().all(|(_, o)| *o == Outcome::Fetched), "{outcomes:?}");
    let index = dm_mirror::build::read_index(&dir).unwrap();
    let files: Vec<&str> = index.artifacts.iter().map(|a| a.file.as_str()).collect();
    assert_eq!(files, ["flink/flink-1.20.5-bin-scala_2.12.tgz", "jars/flink-annotations-1.20.0.jar", "misc/README.txt"]);
    let jar = fs::read(dir.join("jars/flink-annotations-1.20.0.jar")).unwrap();
    assert_eq!(&jar[..2], b"PK", "Maven Central's jar is a zip");
    assert_eq!(
        fs::read_to_string(dir.join("flink/flink-1.20.5-bin-scala_2.12.tgz.sha512")).unwrap(),
        format!("{}  flink-1.20.5-bin-scala_2.12.tgz\n", sha512(&dist))
    );
    assert_eq!(verify::verify(&dir).unwrap(), vec![]);

    // A re-run skips everything, and changes nothing.
    let before = snapshot(&dir);
    let outcomes = Builder::new(false).build(&entries, &dir).unwrap();
    assert!(outcomes.iter().all(|(_, o)| *o == Outcome::Skipped), "{outcomes:?}");
    assert_eq!(snapshot(&dir), before);

    // A tampered source (one byte changed): build refuses it naming the artifact, and the
    // mirror stays as it was even though another artifact of the run was good.
    let mut tampered = dist.clone();
    tampered[1_000_000] ^= 1;
    let new_src = src.path().join("flink-2.3.0-bin-scala_2.12.tgz");
    fs::write(&new_src, &tampered).unwrap();
    let other = src.path().join("other.txt");
    fs::write(&other, b"other").unwrap();
    let bad_manifest = format!(
        "{}{}",
        local("misc", "other", &other, &sha512(b"other")),
        local("flink", "flink-2.3", &new_src, &sha512(&dist)),
    );
    let e = Builder::new(false).build(&manifest::parse(&bad_manifest).unwrap(), &dir).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, BuildError::Artifact { .. }), "{text}");
    assert!(text.contains("flink-2.3") && text.contains("wrong checksum"), "{text}");
    assert_eq!(snapshot(&dir), before, "a failed build changed the mirror");

    // An unreachable source: same.
    let gone = format!(
        "{}[[artifact]]\nsection = \"misc\"\nname = \"gone\"\nversion = \"1\"\nsource = \"http://127.0.0.1:9/gone.bin\"\nsha512 = \"{}\"\n",
        local("misc", "other", &other, &sha512(b"other")),
        sha512(b"x")
    );
    let e = Builder::new(false).build(&manifest::parse(&gone).unwrap(), &dir).unwrap_err().to_string();
    assert!(e.contains("gone") && e.contains("cannot reach"), "{e}");
    assert_eq!(snapshot(&dir), before);
    // A failing first build leaves no folder behind.
    let fresh = out.path().join("fresh");
    assert!(Builder::new(false).build(&manifest::parse(&bad_manifest).unwrap(), &fresh).is_err());
    assert!(!fresh.exists());

    // Serve it on 127.0.0.1.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = dir.clone();
    std::thread::spawn(move || serve::serve(&served, listener));
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    // The listener is bound already: the first request is answered once a worker starts.
    let deadline = Instant::now() + Duration::from_secs(10);
    let index_json = loop {
        match agent.get(&format!("{base}/index.json")).call() {
            Ok(mut r) if r.status() == 200 => break r.body_mut().read_to_vec().unwrap(),
            other if Instant::now() > deadline => panic!("the server did not answer /index.json within 10 s: {other:?}"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    assert_eq!(index_json, fs::read(dir.join("index.json")).unwrap());

    let url = format!("{base}/flink/flink-1.20.5-bin-scala_2.12.tgz");
    let mut whole = agent.get(&url).call().unwrap();
    assert_eq!(whole.status(), 200);
    let etag = whole.headers().get("etag").unwrap().to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{}\"", sha512(&dist)));
    assert_eq!(whole.headers().get("content-length").unwrap(), "3000000");
    assert_eq!(whole.body_mut().with_config().limit(10_000_000).read_to_vec().unwrap(), dist);

    let head = agent.head(&url).call().unwrap();
    assert_eq!((head.status().as_u16(), head.headers().get("content-length").unwrap().to_str().unwrap()), (200, "3000000"));

    let mut part = agent.get(&url).header("Range", "bytes=1000-1999").call().unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers().get("content-range").unwrap(), "bytes 1000-1999/3000000");
    assert_eq!(part.body_mut().read_to_vec().unwrap(), &dist[1000..2000]);
    let mut tail = agent.get(&url).header("Range", "bytes=-10").call().unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.body_mut().read_to_vec().unwrap(), &dist[dist.len() - 10..]);
    let past = agent.get(&url).header("Range", "bytes=5000000-").call().unwrap();
    assert_eq!(past.status(), 416);

    let cached = agent.get(&url).header("If-None-Match", &etag).call().unwrap();
    assert_eq!(cached.status(), 304);
    let changed = agent.get(&url).header("If-None-Match", "\"other\"").call().unwrap();
    assert_eq!(changed.status(), 200);

    let mut sum = agent.get(&format!("{url}.sha512")).call().unwrap();
    assert_eq!(sum.body_mut().read_to_string().unwrap(), format!("{}  flink-1.20.5-bin-scala_2.12.tgz\n", sha512(&dist)));
    for refused in ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/flink/..%2f..%2fetc/passwd", "//etc/passwd", "/flink/"] {
        let r = agent.get(&format!("{base}{refused}")).call().unwrap();
        assert_eq!(r.status(), 404, "{refused}");
    }
    let post = agent.post(&url).send(&b""[..]).unwrap();
    assert_eq!(post.status(), 405);

    // One byte changed in the mirror: verify names the file, and the server's ETag still
    // names the indexed bytes (a client's checksum check fails, as it should).
    let mut bytes = fs::read(dir.join("jars/flink-annotations-1.20.0.jar")).unwrap();
    bytes[100] ^= 0x20;
    fs::write(dir.join("jars/flink-annotations-1.20.0.jar"), &bytes).unwrap();
    let problems = verify::verify(&dir).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].file, "jars/flink-annotations-1.20.0.jar");
    assert!(problems[0].problem.contains("SHA-512"), "{problems:?}");
    // The binary says so with exit status 1.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_dm-mirror")).arg("verify").arg(&dir).output().unwrap();
    assert_eq!(status.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&status.stdout).contains("BAD jars/flink-annotations-1.20.0.jar"));
    // And a re-run of build repairs it from Maven Central, leaving the rest alone.
    let outcomes = Builder::new(false).build(&entries, &dir).unwrap();
    assert_eq!(
        outcomes.iter().filter(|(_, o)| *o == Outcome::Fetched).map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
        ["jars/flink-annotations-1.20.0.jar"]
    );
    assert_eq!(verify::verify(&dir).unwrap(), vec![]);
}

#[test]
fn a_truncated_download_is_named_as_such() {
    // A server that announces 1000 bytes and sends 10.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming().take(1) {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
        }
    });
    let m = format!(
        "[[artifact]]\nsection = \"misc\"\nname = \"short\"\nversion = \"1\"\nsource = \"http://{addr}/short.bin\"\nsha512 = \"{}\"\n",
        sha512(b"x")
    );
    let dir = tempfile::tempdir().unwrap();
    let e = Builder::new(false).build(&manifest::parse(&m).unwrap(), dir.path()).unwrap_err().to_string();
    assert!(e.contains("short") && (e.contains("truncated") || e.contains("cannot reach")), "{e}");
    assert_eq!(snapshot(dir.path()), BTreeMap::new(), "the failed build left files");
}
