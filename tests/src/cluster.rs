//! Helpers for the slow suites that need more than endpoints from the loopback cluster
//! (`tests/env/up`). Built with the `real-cluster` feature only.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The loopback cluster's endpoints (`target/testenv/env.json`, written by `tests/env/up`).
pub fn env_json() -> Value {
    let path = repo_root().join("target/testenv/env.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the test env is not up ({}: {e}); run tests/env/up first",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

/// A string of env.json.
pub fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("env.json has no {key}"))
        .to_string()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// A Flink distribution of `version` on the cluster's HDFS, as dm's mirror would put it there
/// for jobs that run on NodeManagers; its HDFS path (without the NameNode). Made once from the
/// env's pyflink home as a tarball with Apache's layout (one `flink-V/` top folder; uncompressed,
/// so making it is quick), cached in `target/testenv/oozie-flink/`, uploaded when HDFS lacks it.
pub fn flink_dist_on_hdfs(env: &Value, version: &str) -> String {
    let user = {
        let out = std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let local = flink_dist_tarball(env, version);
    let remote = format!("/user/{user}/dm-testenv/flink-{version}-dist.tar");
    let namenode = env["namenode_url"].as_str().expect("env.json namenode_url");
    let client = hdfs_native::ClientBuilder::new()
        .with_url(namenode)
        .with_config([("dfs.client.failover.max.attempts", "1")])
        .build()
        .expect("hdfs-native client");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let local_len = std::fs::metadata(&local).unwrap().len();
        let staged = client
            .get_file_info(&remote)
            .await
            .map(|s| s.length as u64)
            .ok();
        if staged != Some(local_len) {
            hdfs_put(&client, &local, &remote).await;
        }
    });
    remote
}

fn flink_dist_tarball(env: &Value, version: &str) -> PathBuf {
    // `-dist`: since opt/ is in it; an older cached `flink-V.tar` lacks it and is not reused.
    let dest = repo_root().join(format!(
        "target/testenv/oozie-flink/flink-{version}-dist.tar"
    ));
    if dest.is_file() {
        return dest;
    }
    let home = PathBuf::from(
        env["flink"][version]["home"]
            .as_str()
            .unwrap_or_else(|| panic!("env.json has no flink.{version}.home")),
    );
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let tmp = dest.with_extension("tar.tmp");
    let mut tar = tar::Builder::new(std::fs::File::create(&tmp).expect("create tarball"));
    // opt/ holds flink-python, which `flink run -py/-pym` needs; pyflink's Python files are
    // not needed (Python jobs run with the nodes' own PyFlink, `-pyexec`).
    for dir in ["bin", "lib", "conf", "plugins", "opt"] {
        tar.append_dir_all(format!("flink-{version}/{dir}"), home.join(dir))
            .unwrap_or_else(|e| panic!("tar {}/{dir}: {e}", home.display()));
    }
    tar.into_inner().expect("finish tarball");
    std::fs::rename(&tmp, &dest).unwrap();
    dest
}

/// Copies a local file to HDFS (overwriting), in chunks: a Flink distribution is ~300 MB.
pub async fn hdfs_put(client: &hdfs_native::Client, local: &Path, dest: &str) {
    use std::io::Read;
    let mut file = std::fs::File::open(local)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", local.display()));
    let mut w = client
        .create(dest, hdfs_native::WriteOptions::default().overwrite(true))
        .await
        .unwrap_or_else(|e| panic!("create {dest} on HDFS: {e}"));
    let mut buf = vec![0u8; 8 << 20];
    loop {
        let n = file.read(&mut buf).expect("read local file");
        if n == 0 {
            break;
        }
        w.write_bytes(bytes::Bytes::copy_from_slice(&buf[..n]))
            .await
            .unwrap_or_else(|e| panic!("write {dest}: {e}"));
    }
    w.close()
        .await
        .unwrap_or_else(|e| panic!("close {dest}: {e}"));
}
