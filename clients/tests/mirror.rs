//! The mirror client against a mirror served by a static file server on 127.0.0.1.

use dm_clients::mirror::{FetchError, MirrorClient};
use dm_testkit::mirror::{write_mirror, Item, StaticServer};

fn mirror(dir: &std::path::Path, body: &[u8]) -> StaticServer {
    write_mirror(
        dir,
        &[Item {
            section: "flink",
            name: "flink",
            version: "1.20.5",
            file_name: "flink-1.20.5-bin-scala_2.12.tgz",
            bytes: body,
        }],
    )
    .unwrap();
    StaticServer::serve(dir)
}

#[test]
fn downloads_what_the_index_lists_verified() {
    let dir = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let server = mirror(dir.path(), &body);
    let client = MirrorClient::new(&server.url);
    let index = client.index().unwrap();
    let artifact = index.find("flink", "flink", "1.20.5").unwrap();
    let mut got = Vec::new();
    client.download(artifact, &mut got).unwrap();
    assert_eq!(got, body);
}

#[test]
fn a_changed_byte_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = mirror(dir.path(), b"the distribution");
    let client = MirrorClient::new(&server.url);
    let index = client.index().unwrap();
    let artifact = index.find("flink", "flink", "1.20.5").unwrap();
    let file = dir.path().join(&artifact.file);
    std::fs::write(&file, b"the distributioN").unwrap();
    let err = client.download(artifact, &mut Vec::new()).unwrap_err();
    assert!(matches!(err, FetchError::Mismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("flink/flink-1.20.5-bin-scala_2.12.tgz: checksum mismatch"), "{err}");
    assert!(!err.unreachable());

    // The .sha512 beside the file changed: the index and the file's checksum disagree.
    std::fs::write(dir.path().join(artifact.checksum_file()), format!("{}  x.tgz\n", "0".repeat(128))).unwrap();
    let err = client.download(artifact, &mut Vec::new()).unwrap_err();
    assert!(matches!(err, FetchError::BadChecksumFile { .. }), "{err:?}");
}

#[test]
fn a_mirror_that_does_not_answer_is_unreachable_and_a_missing_file_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = mirror(dir.path(), b"x");
    let client = MirrorClient::new(&server.url);
    let mut artifact = client.index().unwrap().artifacts[0].clone();
    artifact.file = "flink/gone.tgz".into();
    let err = client.download(&artifact, &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    assert!(!err.unreachable());
    let url = server.url.clone();
    drop(server);
    let err = MirrorClient::new(&url).index().unwrap_err();
    assert!(err.unreachable(), "{err:?}");
}
