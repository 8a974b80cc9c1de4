//! Pause points for crash tests. When `DM_TEST_PAUSE_AT=<point>` is set, the operation that
//! reaches `<point>` writes `<data_dir>/paused-at` (holding the point's name) and waits there
//! for ever, so a test can SIGKILL dmd at exactly that moment. Unset, every point is a no-op.
//!
//! Points: `deploy.intent`, `deploy.unpacked`, `undeploy.intent`, `undeploy.removed`,
//! `create.intent`, `create.staged`, `create.component`, `start.intent`, `start.component`,
//! `stop.intent`, `stop.component`, `destroy.intent`, `destroy.component`, `upload.received`.

use std::path::PathBuf;

pub const PAUSE_ENV: &str = "DM_TEST_PAUSE_AT";
pub const PAUSED_FILE: &str = "paused-at";

#[derive(Clone, Default)]
pub struct PauseHook {
    armed: Option<(String, PathBuf)>,
}

impl PauseHook {
    pub fn from_env(data_dir: &std::path::Path) -> PauseHook {
        let armed = std::env::var(PAUSE_ENV)
            .ok()
            .filter(|p| !p.is_empty())
            .map(|p| (p, data_dir.join(PAUSED_FILE)));
        if let Some((point, _)) = &armed {
            log::warn!("test hook armed: operations will pause for ever at {point} ({PAUSE_ENV})");
        }
        PauseHook { armed }
    }

    /// Blocks the calling thread for ever if `point` is the armed one.
    pub fn pause(&self, point: &str) {
        if let Some((armed, marker)) = &self.armed {
            if armed == point {
                log::warn!("paused at {point} for a crash test");
                if let Err(e) = std::fs::write(marker, point) {
                    log::error!("cannot write {}: {e}", marker.display());
                }
                loop {
                    std::thread::park();
                }
            }
        }
    }
}
