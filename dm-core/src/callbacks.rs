//! PNDA's state-change callbacks (`package_callback`, `application_callback`): `POST <url>` with
//! `{"data": [{id, state, timestamp, information?}], "timestamp"}` (milliseconds).
//!
//! An event is written to the registry's outbox in the same transaction as the state change it
//! reports, so it exists exactly when the state was committed, and survives a restart of dmd.
//! One thread delivers the outbox in order, with a timeout and bounded retries, and removes
//! each event once delivered or given up on: a slow or dead receiver never blocks or fails an
//! operation.

use crate::config::CallbackConfig;
use crate::error::DmError;
use crate::registry::Registry;
use dm_clients::HttpClient;
use rusqlite::{params, Connection};
use serde_json::{json, Value};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Events read from the outbox per round.
const BATCH: usize = 100;

#[derive(Clone)]
pub struct Callbacks {
    package_url: String,
    application_url: String,
    /// Set when there is something new to deliver; `None` when callbacks are off.
    wake: Option<Arc<(Mutex<bool>, Condvar)>>,
}

impl Callbacks {
    /// Starts delivery (when a URL is configured), beginning with what a previous run left.
    pub fn start(config: &CallbackConfig, registry: Arc<Registry>) -> Callbacks {
        let enabled = !config.package.is_empty() || !config.application.is_empty();
        if !enabled {
            // Events left by a run that had callbacks have nowhere to go now.
            if let Err(e) = registry.write(|tx| Ok(tx.execute("DELETE FROM outbox", [])?)) {
                log::warn!("cannot empty the callback outbox: {e}");
            }
        }
        let wake = enabled.then(|| {
            let wake = Arc::new((Mutex::new(true), Condvar::new()));
            let timeout = Duration::from_millis(config.timeout_ms);
            let agent = HttpClient::builder()
                .connect_timeout(timeout)
                .total_timeout(timeout)
                .build();
            let (signal, config) = (Arc::clone(&wake), config.clone());
            std::thread::Builder::new()
                .name("dm-callbacks".into())
                .spawn(move || deliver_forever(&registry, &agent, &config, &signal))
                .expect("spawn the callback thread");
            wake
        });
        Callbacks {
            package_url: config.package.clone(),
            application_url: config.application.clone(),
            wake,
        }
    }

    /// Records a package event; call in the transaction that commits `state`.
    pub fn package(
        &self,
        tx: &Connection,
        id: &str,
        state: &str,
        information: Option<&str>,
    ) -> Result<(), DmError> {
        self.enqueue(tx, Target::Package, id, state, information)
    }

    /// Records an application event; call in the transaction that commits `state`.
    pub fn application(
        &self,
        tx: &Connection,
        name: &str,
        state: &str,
        information: Option<&str>,
    ) -> Result<(), DmError> {
        self.enqueue(tx, Target::Application, name, state, information)
    }

    /// Tells the delivery thread that events were committed.
    pub fn wake(&self) {
        if let Some(wake) = &self.wake {
            *wake.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
            wake.1.notify_one();
        }
    }

    fn enqueue(
        &self,
        tx: &Connection,
        target: Target,
        id: &str,
        state: &str,
        information: Option<&str>,
    ) -> Result<(), DmError> {
        if self.wake.is_none()
            || target
                .url(&self.package_url, &self.application_url)
                .is_empty()
        {
            return Ok(());
        }
        let timestamp = chrono::Utc::now().timestamp_millis();
        let mut item = json!({"id": id, "state": state, "timestamp": timestamp});
        if let Some(info) = information.filter(|i| !i.is_empty()) {
            item["information"] = Value::String(info.to_string());
        }
        let body = json!({"data": [item], "timestamp": timestamp});
        tx.execute(
            "INSERT INTO outbox (target, body) VALUES (?1, ?2)",
            params![target.as_str(), body.to_string()],
        )?;
        Ok(())
    }
}

/// Which callback an event goes to; the URL is the one configured when it is delivered.
#[derive(Clone, Copy)]
enum Target {
    Package,
    Application,
}

impl Target {
    fn as_str(self) -> &'static str {
        match self {
            Target::Package => "package",
            Target::Application => "application",
        }
    }

    fn url<'a>(self, package: &'a str, application: &'a str) -> &'a str {
        match self {
            Target::Package => package,
            Target::Application => application,
        }
    }
}

fn deliver_forever(
    registry: &Registry,
    agent: &HttpClient,
    config: &CallbackConfig,
    wake: &(Mutex<bool>, Condvar),
) {
    loop {
        {
            let pending = wake.0.lock().unwrap_or_else(|p| p.into_inner());
            // The timeout also retries a round whose registry access failed.
            let (mut pending, _) = wake
                .1
                .wait_timeout_while(pending, Duration::from_secs(5), |p| !*p)
                .unwrap_or_else(|p| p.into_inner());
            *pending = false;
        }
        loop {
            let batch = registry.read(|c| {
                let mut stmt =
                    c.prepare_cached("SELECT id, target, body FROM outbox ORDER BY id LIMIT ?1")?;
                let rows = stmt
                    .query_map([BATCH as i64], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            });
            let batch = match batch {
                Ok(batch) if !batch.is_empty() => batch,
                Ok(_) => break,
                Err(e) => {
                    log::error!("cannot read the callback outbox: {e}");
                    break;
                }
            };
            for (id, target, body) in batch {
                // Events of a callback no longer configured are dropped.
                let url = if target == Target::Package.as_str() {
                    &config.package
                } else {
                    &config.application
                };
                if !url.is_empty() {
                    deliver(agent, url, &body, config.retries);
                }
                if let Err(e) =
                    registry.write(|tx| Ok(tx.execute("DELETE FROM outbox WHERE id = ?1", [id])?))
                {
                    log::error!("cannot remove delivered callback {id} from the outbox: {e}");
                }
            }
        }
    }
}

fn deliver(agent: &HttpClient, url: &str, body: &str, retries: u32) {
    for attempt in 0..=retries {
        let sent = agent.post(url, "application/json", body.as_bytes());
        match sent {
            Ok(_) => return,
            Err(e) => {
                log::warn!(
                    "callback to {url} failed (attempt {} of {}): {e}",
                    attempt + 1,
                    retries + 1
                );
                if attempt < retries {
                    std::thread::sleep(Duration::from_millis(200 << attempt.min(5)));
                }
            }
        }
    }
    log::error!(
        "callback to {url} dropped after {} attempts: {body}",
        retries + 1
    );
}
