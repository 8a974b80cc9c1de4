//! The client side, used by dmd: requests over the socket, and starting a detached supervisor
//! when none answers, so that one command still runs everything.

use crate::protocol::{Request, Response};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Client {
    socket: PathBuf,
}

impl Client {
    pub fn new(socket: &Path) -> Client {
        Client {
            socket: socket.to_path_buf(),
        }
    }

    /// Sends one request and reads its response. Stopping a job may take minutes (savepoints),
    /// so reads wait up to `timeout`.
    pub fn call(&self, request: &Request, timeout: Duration) -> std::io::Result<Response> {
        let mut stream = UnixStream::connect(&self.socket)?;
        stream.set_read_timeout(Some(timeout))?;
        let mut line = serde_json::to_string(request).map_err(std::io::Error::other)?;
        line.push('\n');
        stream.write_all(line.as_bytes())?;
        let mut answer = String::new();
        BufReader::new(stream).read_line(&mut answer)?;
        serde_json::from_str(&answer)
            .map_err(|e| std::io::Error::other(format!("bad answer from the supervisor: {e}")))
    }

    pub fn answers(&self) -> bool {
        self.call(&Request::List, Duration::from_secs(5)).is_ok()
    }

    /// Starts `binary --dir dir [extra…]` in its own session (so it outlives the caller) unless
    /// a supervisor already answers, and waits until it does.
    pub fn ensure_running(
        &self,
        binary: &Path,
        dir: &Path,
        extra: &[String],
    ) -> std::io::Result<()> {
        if self.answers() {
            return Ok(());
        }
        std::fs::create_dir_all(dir)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("supervisor.log"))?;
        let supervisor = Command::new(binary)
            .arg("--dir")
            .arg(dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()?;
        // Reap it if it ever exits while we run, so it never lingers as a zombie.
        std::thread::spawn(move || {
            let mut supervisor = supervisor;
            let _ = supervisor.wait();
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.answers() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(std::io::Error::other(format!(
            "dm-supervisor did not answer on {} within 10 s",
            self.socket.display()
        )))
    }
}
