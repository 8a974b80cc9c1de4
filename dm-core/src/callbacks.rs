//! PNDA's state-change callbacks (`package_callback`, `application_callback`): after a state is
//! committed, `POST <url>` with `{"data": [{id, state, timestamp, information?}], "timestamp"}`
//! (milliseconds). Delivery happens on a thread of its own with a timeout and bounded retries,
//! so a slow or dead receiver never blocks or fails an operation.

use crate::config::CallbackConfig;
use serde_json::{json, Value};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::time::Duration;

/// Events waiting beyond this are dropped (and logged) rather than piling up in memory.
const QUEUE: usize = 10_000;

struct Event {
    url: String,
    body: Value,
}

#[derive(Clone)]
pub struct Callbacks {
    package_url: String,
    application_url: String,
    queue: Option<SyncSender<Event>>,
}

impl Callbacks {
    pub fn start(config: &CallbackConfig) -> Callbacks {
        let enabled = !config.package.is_empty() || !config.application.is_empty();
        let queue = enabled.then(|| {
            let (tx, rx) = sync_channel::<Event>(QUEUE);
            let agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_millis(config.timeout_ms))
                .build();
            let retries = config.retries;
            std::thread::Builder::new()
                .name("dm-callbacks".into())
                .spawn(move || {
                    for event in rx {
                        deliver(&agent, &event, retries);
                    }
                })
                .expect("spawn the callback thread");
            tx
        });
        Callbacks {
            package_url: config.package.clone(),
            application_url: config.application.clone(),
            queue,
        }
    }

    pub fn disabled() -> Callbacks {
        Callbacks {
            package_url: String::new(),
            application_url: String::new(),
            queue: None,
        }
    }

    pub fn package(&self, id: &str, state: &str, information: Option<&str>) {
        self.send(&self.package_url, id, state, information);
    }

    pub fn application(&self, name: &str, state: &str, information: Option<&str>) {
        self.send(&self.application_url, name, state, information);
    }

    fn send(&self, url: &str, id: &str, state: &str, information: Option<&str>) {
        let Some(queue) = &self.queue else { return };
        if url.is_empty() {
            return;
        }
        let timestamp = chrono::Utc::now().timestamp_millis();
        let mut item = json!({"id": id, "state": state, "timestamp": timestamp});
        if let Some(info) = information.filter(|i| !i.is_empty()) {
            item["information"] = Value::String(info.to_string());
        }
        let event = Event {
            url: url.to_string(),
            body: json!({"data": [item], "timestamp": timestamp}),
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = queue.try_send(event) {
            log::error!("callback queue is full: dropped the {state} event of {id}");
        }
    }
}

fn deliver(agent: &ureq::Agent, event: &Event, retries: u32) {
    for attempt in 0..=retries {
        match agent.post(&event.url).send_json(&event.body) {
            Ok(_) => return,
            Err(e) => {
                log::warn!(
                    "callback to {} failed (attempt {} of {}): {e}",
                    event.url,
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
        "callback to {} dropped after {} attempts: {}",
        event.url,
        retries + 1,
        event.body
    );
}
