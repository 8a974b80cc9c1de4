//! Logging through log4rs: the file named by `[logging] config` (dm ships `log4rs.yaml`), or a
//! console logger at `[logging] level` (default `info`) when there is none.

use crate::config::Logging;
use log4rs::append::console::ConsoleAppender;
use log4rs::config::{Appender, Root};
use log4rs::encode::pattern::PatternEncoder;

pub fn init(config: &Logging) -> anyhow::Result<()> {
    if let Some(path) = &config.config {
        return log4rs::init_file(path, Default::default())
            .map_err(|e| anyhow::anyhow!("logging.config {}: {e}", path.display()));
    }
    let level = match config.level.as_deref() {
        None => log::LevelFilter::Info,
        Some(name) => name
            .parse()
            .map_err(|_| anyhow::anyhow!("logging.level {name:?} is not a log level"))?,
    };
    let console = ConsoleAppender::builder()
        .encoder(Box::new(PatternEncoder::new(
            "{d(%Y-%m-%dT%H:%M:%S%.3fZ)(utc)} {l:5} {t} - {m}{n}",
        )))
        .target(log4rs::append::console::Target::Stderr)
        .build();
    let config = log4rs::Config::builder()
        .appender(Appender::builder().build("console", Box::new(console)))
        .build(Root::builder().appender("console").build(level))?;
    log4rs::init_config(config)?;
    Ok(())
}
