//! The Unix-socket front of the supervisor: one JSON request per line, one JSON response line.

use crate::protocol::{Request, Response};
use crate::supervisor::Supervisor;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;

/// Serves `supervisor` on `socket` until the process ends. The socket is only for its owner.
pub fn serve(supervisor: Arc<Supervisor>, socket: &Path) -> anyhow::Result<()> {
    if socket.exists() {
        if UnixStream::connect(socket).is_ok() {
            anyhow::bail!("another supervisor already answers on {}", socket.display());
        }
        std::fs::remove_file(socket)?;
    }
    let listener = UnixListener::bind(socket)?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let supervisor = Arc::clone(&supervisor);
        std::thread::spawn(move || handle(&supervisor, stream));
    }
    Ok(())
}

fn handle(supervisor: &Arc<Supervisor>, stream: UnixStream) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        let response = match serde_json::from_str::<Request>(&line) {
            Ok(request) => answer(supervisor, request),
            Err(e) => Response::Error {
                message: format!("bad request: {e}"),
            },
        };
        let mut text = serde_json::to_string(&response)
            .unwrap_or_else(|e| format!("{{\"result\":\"error\",\"message\":\"{e}\"}}"));
        text.push('\n');
        if writer.write_all(text.as_bytes()).is_err() {
            return;
        }
    }
}

fn answer(supervisor: &Arc<Supervisor>, request: Request) -> Response {
    let missing = |id: &str| Response::Error {
        message: format!("no job {id}"),
    };
    match request {
        Request::Start { spec } => Response::Job {
            job: supervisor.start(*spec),
        },
        Request::Stop { id, cancel } => match supervisor.stop(&id, cancel) {
            Ok(job) => Response::Job { job },
            Err(message) => Response::Error { message },
        },
        Request::Remove { id } => match supervisor.remove(&id) {
            Ok(()) => Response::Ok,
            Err(message) => Response::Error { message },
        },
        Request::Status { id } => supervisor
            .status(&id)
            .map(|job| Response::Job { job })
            .unwrap_or_else(|| missing(&id)),
        Request::RecordSavepoint { id, path } => match supervisor.record_savepoint(&id, &path) {
            Ok(()) => Response::Ok,
            Err(message) => Response::Error { message },
        },
        Request::List => Response::Jobs {
            jobs: supervisor.list(),
        },
        Request::Logs {
            id,
            attempt,
            max_bytes,
        } => match supervisor.log(&id, attempt, max_bytes.unwrap_or(64 * 1024)) {
            Ok((attempt, text)) => Response::Log { attempt, text },
            Err(message) => Response::Error { message },
        },
    }
}
