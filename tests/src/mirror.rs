//! Test mirrors: a folder in a dm mirror's layout (`index.json`, `<section>/<file>` with its
//! `.sha512` beside it, see `dm_clients::mirror`), written by the test itself, and a static
//! file server (Python's `http.server`) serving it on 127.0.0.1, as any web server could.

use sha2::{Digest, Sha512};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One artifact of a test mirror.
pub struct Item<'a> {
    pub section: &'a str,
    pub name: &'a str,
    pub version: &'a str,
    pub file_name: &'a str,
    pub bytes: &'a [u8],
}

pub fn sha512_hex(bytes: &[u8]) -> String {
    Sha512::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `items` into `dir` as a mirror: each file, its `sha512sum` line, and the index.
pub fn write_mirror(dir: &Path, items: &[Item]) -> std::io::Result<()> {
    let mut artifacts = Vec::new();
    for item in items {
        let folder = dir.join(item.section);
        std::fs::create_dir_all(&folder)?;
        let digest = sha512_hex(item.bytes);
        std::fs::write(folder.join(item.file_name), item.bytes)?;
        std::fs::write(
            folder.join(format!("{}.sha512", item.file_name)),
            format!("{digest}  {}\n", item.file_name),
        )?;
        artifacts.push(serde_json::json!({
            "section": item.section, "name": item.name, "version": item.version,
            "file": format!("{}/{}", item.section, item.file_name),
            "bytes": item.bytes.len(), "sha512": digest, "source": "file:///test",
        }));
    }
    let index = serde_json::json!({"format": 1, "artifacts": artifacts});
    std::fs::write(dir.join("index.json"), serde_json::to_vec_pretty(&index)?)
}

/// How long Python's `http.server` may take to start listening on a loaded machine.
pub const SERVER_START: Duration = Duration::from_secs(20);

/// `python3 -m http.server` serving a folder on 127.0.0.1; stopped when dropped.
pub struct StaticServer {
    child: Child,
    pub url: String,
    pub dir: PathBuf,
}

impl StaticServer {
    pub fn serve(dir: &Path) -> StaticServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port on 127.0.0.1")
            .port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string()])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m http.server");
        let deadline = Instant::now() + SERVER_START;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "python3 -m http.server did not listen on 127.0.0.1:{port} within {SERVER_START:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        StaticServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
