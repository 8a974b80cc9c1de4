//! Local processes: spawning a job in its own process group with its output in a log file,
//! recognising it again after a supervisor restart, and stopping the whole group.

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `argv` in `workdir` as the leader of a new process group, with stdout and stderr
/// appended to `log`. The log is a file, not a pipe, so the job outlives the supervisor.
pub fn spawn(
    argv: &[String],
    workdir: &Path,
    env: &[(String, String)],
    user: Option<&str>,
    log: &Path,
) -> std::io::Result<Child> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    if let Some(parent) = log.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let out = OpenOptions::new().create(true).append(true).open(log)?;
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(workdir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .process_group(0);
    if let Some(user) = user.filter(|_| nix::unistd::geteuid().is_root()) {
        // Jobs run as the application's user, never as root.
        let account = nix::unistd::User::from_name(user)
            .map_err(std::io::Error::other)?
            .ok_or_else(|| std::io::Error::other(format!("user {user} does not exist")))?;
        command.uid(account.uid.as_raw()).gid(account.gid.as_raw());
    }
    command.spawn()
}

/// Runs a command to its end (within `timeout`, killing its group after), output appended to
/// `log`; `on_spawn` learns its pid once it runs. `Ok(true)` on exit status 0.
pub fn run_to_end(
    argv: &[String],
    workdir: &Path,
    env: &[(String, String)],
    user: Option<&str>,
    log: &Path,
    timeout: Duration,
    on_spawn: &dyn Fn(u32),
) -> Result<bool, String> {
    let program = argv
        .first()
        .map(String::as_str)
        .unwrap_or("(empty command)");
    let mut child =
        spawn(argv, workdir, env, user, log).map_err(|e| format!("cannot run {program}: {e}"))?;
    on_spawn(child.id());
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status.success()),
            Ok(None) if Instant::now() > deadline => {
                stop_group(child.id(), Duration::from_secs(5), || {
                    matches!(child.try_wait(), Ok(Some(_)))
                });
                return Err(format!(
                    "{program} timed out: it did not finish within {} s",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("waiting for {program}: {e}")),
        }
    }
}

/// The start time of `pid` in clock ticks since boot (field 22 of `/proc/<pid>/stat`), which
/// tells a process apart from a later one that reuses its pid. `None` if it is gone or a zombie.
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: parse after its last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// True while the process that had `ticks` as start time still runs.
pub fn is_alive(pid: u32, ticks: u64) -> bool {
    start_ticks(pid) == Some(ticks)
}

/// SIGTERM to the group, then SIGKILL once `grace` has passed. `ended` reports whether the
/// leader has gone (reaping it when it is our child).
pub fn stop_group(pgid: u32, grace: Duration, mut ended: impl FnMut() -> bool) -> bool {
    let group = Pid::from_raw(pgid as i32);
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if ended() {
            // Stragglers of the group (children that ignored the TERM) go too.
            let _ = killpg(group, Signal::SIGKILL);
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = killpg(group, Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if ended() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The most telling line of a failed job's log: the last `Caused by:` (the root of a Java
/// exception chain), else the last line naming an exception or error.
pub fn root_cause(log_tail: &str) -> Option<String> {
    let lines: Vec<&str> = log_tail.lines().map(str::trim).collect();
    if let Some(caused) = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("Caused by: "))
    {
        return Some(caused.to_string());
    }
    lines
        .iter()
        .rev()
        .find(|l| {
            let head = l.split(':').next().unwrap_or("");
            !head.contains(' ') && (head.ends_with("Exception") || head.ends_with("Error"))
        })
        .map(|l| l.to_string())
}

/// The last `max` bytes of a file, lossily decoded.
pub fn tail(path: &Path, max: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Caps a log that a running process appends to: copies it aside (`.1`) and truncates it.
/// The writer opened it in append mode, so it goes on at the new end.
pub fn rotate_if_larger(path: &Path, cap: u64) {
    if std::fs::metadata(path)
        .map(|m| m.len() > cap)
        .unwrap_or(false)
    {
        let aside = path.with_extension("log.1");
        if std::fs::copy(path, &aside).is_ok() {
            let _ = OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|f| f.set_len(0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_cause_prefers_the_innermost_cause() {
        let log = "INFO starting\norg.apache.flink.client.program.ProgramInvocationException: The main method caused an error\n\
                   \tat org.apache.flink.Foo.bar(Foo.java:1)\nCaused by: java.lang.RuntimeException: wrapper\n\
                   Caused by: java.io.FileNotFoundException: /data/in.csv (No such file or directory)\n\tat x\n";
        assert_eq!(
            root_cause(log).unwrap(),
            "java.io.FileNotFoundException: /data/in.csv (No such file or directory)"
        );
        assert_eq!(
            root_cause("Traceback\nValueError: bad rate\n").unwrap(),
            "ValueError: bad rate"
        );
        assert_eq!(root_cause("all fine\n"), None);
    }

    #[test]
    fn start_ticks_tell_our_process_from_a_missing_one() {
        let me = std::process::id();
        let ticks = start_ticks(me).expect("this process exists");
        assert!(is_alive(me, ticks));
        assert!(
            !is_alive(me, ticks + 1),
            "another start time is another process"
        );
        assert_eq!(start_ticks(u32::MAX - 1), None);
    }
}
