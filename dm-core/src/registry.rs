//! The registry: everything dmd knows, in one SQLite database (WAL). Packages, applications
//! (with their overrides, defaults and create data), the operation journal ([`crate::journal`])
//! and the callbacks' outbox ([`crate::callbacks`]) live together so a state change, its journal
//! entry and its callback event commit atomically.
//!
//! Transient states (`DEPLOYING`, `CREATING`, …) are stored too: they are only ever written
//! together with an open journal operation, which start-up recovery resolves.

use crate::error::DmError;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageState {
    NotDeployed,
    Deploying,
    Deployed,
    Undeploying,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppState {
    NotCreated,
    Creating,
    Created,
    Starting,
    Started,
    Stopping,
    Destroying,
    /// An upgrade is under way (its steps are in the `upgrades` table).
    Upgrading,
    /// Runs its previous version again: an upgrade did not come up and was rolled back.
    RolledBack,
}

impl AppState {
    /// Whether the application's components are meant to run.
    pub fn runs(self) -> bool {
        matches!(self, AppState::Started | AppState::RolledBack)
    }
}

macro_rules! state_names {
    ($ty:ident { $($variant:ident = $name:literal),* $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }
            pub fn parse(s: &str) -> Option<$ty> {
                match s { $($name => Some($ty::$variant),)* _ => None }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

state_names!(PackageState { NotDeployed = "NOTDEPLOYED", Deploying = "DEPLOYING", Deployed = "DEPLOYED", Undeploying = "UNDEPLOYING" });
state_names!(AppState {
    NotCreated = "NOTCREATED", Creating = "CREATING", Created = "CREATED", Starting = "STARTING",
    Started = "STARTED", Stopping = "STOPPING", Destroying = "DESTROYING", Upgrading = "UPGRADING",
    RolledBack = "ROLLED_BACK",
});

#[derive(Debug, Clone)]
pub struct PackageRow {
    pub id: String,
    pub state: PackageState,
    /// Who deployed it: the package's owner for authorization.
    pub user: Option<String>,
    /// The package metadata (PNDA's shape), present once deployed.
    pub metadata: Option<Value>,
    pub information: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AppRow {
    pub name: String,
    pub package: String,
    pub state: AppState,
    /// The owner (`overrides.user`).
    pub user: String,
    /// The create request body, with `user` added, as PNDA stored it.
    pub overrides: Value,
    /// The package's defaults when the application was created.
    pub defaults: Value,
    /// What each component's runtime returned at creation: `{type: [component data…]}`.
    pub create_data: Option<Value>,
    pub information: Option<String>,
}

pub struct Registry {
    // SQLite serialises writers anyway; one writing connection keeps transactions simple. It is
    // never held across anything but registry statements.
    writer: Mutex<Connection>,
    // WAL lets readers run beside the writer (and its fsync); a few connections, so reads do
    // not queue behind one another either.
    readers: Vec<Mutex<Connection>>,
    next_reader: std::sync::atomic::AtomicUsize,
    // Status polling is the hot path (PNDA's console and clients poll after every 202): what it
    // needs of each application is kept in memory, refreshed after every commit that touched
    // the applications table (found by SQLite's update hook, whatever the statement; the hook
    // misses only a DELETE without WHERE, which dmd never runs on that table).
    briefs: RwLock<Briefs>,
    touched: Arc<Mutex<Vec<i64>>>,
}

/// What status polling and authorization need of an application.
#[derive(Debug, Clone, PartialEq)]
pub struct AppBrief {
    pub state: AppState,
    pub information: Option<String>,
    pub owner: String,
}

#[derive(Default)]
struct Briefs {
    by_name: HashMap<String, Arc<AppBrief>>,
    /// rowid → name, to forget deleted rows.
    names: HashMap<i64, String>,
}

const READERS: usize = 4;

/// Page cache per connection, in KiB (SQLite's `cache_size` is in KiB when negative). SQLite's
/// default, 2 MiB, filled up on each of the five connections with 10,000 applications: 10 MiB
/// of dmd's heap (BENCHMARKS.md). Hot reads are served from memory (the briefs, the status
/// board), so the readers' cache only shortens the observer's scans; what misses it is read from
/// the OS's page cache.
const WRITER_CACHE_KIB: i64 = -1024;
const READER_CACHE_KIB: i64 = -256;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS packages (
    id          TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    user        TEXT,
    metadata    TEXT,
    information TEXT,
    updated_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS applications (
    name        TEXT PRIMARY KEY,
    package     TEXT NOT NULL,
    state       TEXT NOT NULL,
    user        TEXT NOT NULL,
    overrides   TEXT NOT NULL,
    defaults    TEXT NOT NULL,
    create_data TEXT,
    information TEXT,
    updated_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS applications_by_package ON applications(package);
CREATE TABLE IF NOT EXISTS operations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    user        TEXT NOT NULL,
    from_state  TEXT NOT NULL,
    outcome     TEXT,
    information TEXT,
    started_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS operations_open ON operations(outcome) WHERE outcome IS NULL;
CREATE TABLE IF NOT EXISTS outbox (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    body   TEXT NOT NULL
);
";

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl Registry {
    pub fn open(path: &Path) -> Result<Registry, DmError> {
        let conn = Connection::open(path).map_err(|e| {
            DmError::Internal(format!("cannot open the registry {}: {e}", path.display()))
        })?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a committed state change survives power loss, not just a crash of dmd.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(crate::savepoints::catalog::SCHEMA)?;
        conn.execute_batch(crate::upgrades::SCHEMA)?;
        let touched = Arc::new(Mutex::new(Vec::new()));
        let hook = Arc::clone(&touched);
        conn.update_hook(Some(
            move |_: rusqlite::hooks::Action, _: &str, table: &str, rowid: i64| {
                if table == "applications" {
                    hook.lock().unwrap_or_else(|p| p.into_inner()).push(rowid);
                }
            },
        ));
        let mut briefs = Briefs::default();
        {
            let mut stmt =
                conn.prepare("SELECT rowid, name, state, information, user FROM applications")?;
            let rows = stmt.query_map([], brief_row)?;
            for row in rows {
                let (rowid, name, brief) = row?;
                briefs.names.insert(rowid, name.clone());
                briefs.by_name.insert(name, Arc::new(brief));
            }
        }
        let readers = (0..READERS)
            .map(|_| {
                let reader = Connection::open(path)?;
                reader.busy_timeout(std::time::Duration::from_secs(10))?;
                reader.pragma_update(None, "query_only", true)?;
                reader.pragma_update(None, "cache_size", READER_CACHE_KIB)?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<Vec<_>, DmError>>()?;
        Ok(Registry {
            writer: Mutex::new(conn),
            readers,
            next_reader: Default::default(),
            briefs: RwLock::new(briefs),
            touched,
        })
    }

    /// An application's state, information and owner, from memory.
    pub fn app_brief(&self, name: &str) -> Option<Arc<AppBrief>> {
        self.briefs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_name
            .get(name)
            .cloned()
    }

    /// Runs `f` on a read-only connection; it sees every committed transaction.
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, DmError>) -> Result<T, DmError> {
        let start = self
            .next_reader
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let free = (0..READERS).find_map(|i| self.readers[(start + i) % READERS].try_lock().ok());
        let conn = match free {
            Some(conn) => conn,
            None => self.readers[start % READERS]
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        };
        f(&conn)
    }

    /// Runs `f` in one immediate transaction, committed when `f` succeeds.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&Transaction) -> Result<T, DmError>,
    ) -> Result<T, DmError> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        // Left over from a transaction that was rolled back.
        self.touched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        self.refresh_briefs(&conn);
        Ok(value)
    }

    /// Brings the briefs of the rows the last commit touched up to date; called with the
    /// writer held, so before any caller can act on the commit.
    fn refresh_briefs(&self, conn: &Connection) {
        let touched = std::mem::take(&mut *self.touched.lock().unwrap_or_else(|p| p.into_inner()));
        if touched.is_empty() {
            return;
        }
        let mut briefs = self.briefs.write().unwrap_or_else(|p| p.into_inner());
        for rowid in touched {
            let row = conn
                .prepare_cached("SELECT rowid, name, state, information, user FROM applications WHERE rowid = ?1")
                .and_then(|mut stmt| stmt.query_row([rowid], brief_row).optional());
            match row {
                Ok(Some((rowid, name, brief))) => {
                    briefs.names.insert(rowid, name.clone());
                    briefs.by_name.insert(name, Arc::new(brief));
                }
                Ok(None) => {
                    if let Some(name) = briefs.names.remove(&rowid) {
                        briefs.by_name.remove(&name);
                    }
                }
                // Cannot happen short of a broken database; the registry stays the truth.
                Err(e) => log::error!("cannot refresh application row {rowid} in memory: {e}"),
            }
        }
    }
}

fn json_column(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

pub fn get_package(conn: &Connection, id: &str) -> Result<Option<PackageRow>, DmError> {
    let row = conn
        .query_row(
            "SELECT id, state, user, metadata, information FROM packages WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            },
        )
        .optional()?;
    row.map(|(id, state, user, metadata, information)| {
        Ok(PackageRow {
            state: PackageState::parse(&state).ok_or_else(|| {
                DmError::Internal(format!(
                    "registry holds unknown state {state} for package {id}"
                ))
            })?,
            id,
            user,
            metadata: json_column(metadata),
            information,
        })
    })
    .transpose()
}

pub fn put_package(conn: &Connection, row: &PackageRow) -> Result<(), DmError> {
    conn.execute(
        "INSERT INTO packages (id, state, user, metadata, information, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(id) DO UPDATE SET state = ?2, user = ?3, metadata = ?4, information = ?5, updated_at = ?6",
        params![row.id, row.state.as_str(), row.user, row.metadata.as_ref().map(Value::to_string), row.information, now()],
    )?;
    Ok(())
}

pub fn delete_package(conn: &Connection, id: &str) -> Result<(), DmError> {
    conn.execute("DELETE FROM packages WHERE id = ?1", [id])?;
    Ok(())
}

/// Ids of deployed packages, in key order; as in PNDA, one being undeployed is still listed
/// (its files are there until the undeploy ends), one being deployed is not yet.
pub fn deployed_packages(conn: &Connection) -> Result<Vec<String>, DmError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM packages WHERE state IN ('DEPLOYED', 'UNDEPLOYING') ORDER BY id",
    )?;
    let ids = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

pub fn get_app(conn: &Connection, name: &str) -> Result<Option<AppRow>, DmError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, package, state, user, overrides, defaults, create_data, information FROM applications WHERE name = ?1",
    )?;
    let row = stmt
        .query_row([name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<String>>(7)?,
            ))
        })
        .optional()?;
    row.map(
        |(name, package, state, user, overrides, defaults, create_data, information)| {
            Ok(AppRow {
                state: AppState::parse(&state).ok_or_else(|| {
                    DmError::Internal(format!(
                        "registry holds unknown state {state} for application {name}"
                    ))
                })?,
                name,
                package,
                user,
                overrides: json_column(Some(overrides)).unwrap_or(Value::Null),
                defaults: json_column(Some(defaults)).unwrap_or(Value::Null),
                create_data: json_column(create_data),
                information,
            })
        },
    )
    .transpose()
}

fn brief_row(r: &rusqlite::Row) -> rusqlite::Result<(i64, String, AppBrief)> {
    let state: String = r.get(2)?;
    let state = AppState::parse(&state).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Text,
            format!("unknown application state {state}").into(),
        )
    })?;
    Ok((
        r.get(0)?,
        r.get(1)?,
        AppBrief {
            state,
            information: r.get(3)?,
            owner: r.get(4)?,
        },
    ))
}

pub fn put_app(conn: &Connection, row: &AppRow) -> Result<(), DmError> {
    conn.execute(
        "INSERT INTO applications (name, package, state, user, overrides, defaults, create_data, information, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT(name) DO UPDATE SET package = ?2, state = ?3, user = ?4, overrides = ?5, defaults = ?6,
             create_data = ?7, information = ?8, updated_at = ?9",
        params![
            row.name,
            row.package,
            row.state.as_str(),
            row.user,
            row.overrides.to_string(),
            row.defaults.to_string(),
            row.create_data.as_ref().map(Value::to_string),
            row.information,
            now()
        ],
    )?;
    Ok(())
}

pub fn delete_app(conn: &Connection, name: &str) -> Result<(), DmError> {
    conn.execute("DELETE FROM applications WHERE name = ?1", [name])?;
    Ok(())
}

/// Names of applications that exist (any state but NOTCREATED), optionally of one package.
pub fn list_apps(conn: &Connection, package: Option<&str>) -> Result<Vec<String>, DmError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name FROM applications WHERE state != 'NOTCREATED' AND (?1 IS NULL OR package = ?1) ORDER BY name",
    )?;
    let names = stmt
        .query_map([package], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(names)
}

/// Applications by state, for metrics.
pub fn count_apps_by_state(conn: &Connection) -> Result<Vec<(String, i64)>, DmError> {
    let mut stmt =
        conn.prepare_cached("SELECT state, COUNT(*) FROM applications GROUP BY state")?;
    let counts = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(counts)
}

/// STARTED applications with a job that takes savepoints (the plan in their create data says
/// so), for the savepoint catalog's periodic triggers.
pub fn started_apps_with_savepoints(conn: &Connection) -> Result<Vec<String>, DmError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name FROM applications WHERE state IN ('STARTED', 'ROLLED_BACK') AND create_data LIKE '%\"savepoints\":true%'",
    )?;
    let names = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(names)
}

/// Packages and applications in a transient state: after recovery there must be none.
pub fn transient_rows(conn: &Connection) -> Result<Vec<(String, String)>, DmError> {
    let mut stmt = conn.prepare(
        "SELECT id, state FROM packages WHERE state IN ('DEPLOYING', 'UNDEPLOYING')
         UNION ALL SELECT name, state FROM applications WHERE state IN ('CREATING', 'STARTING', 'STOPPING', 'DESTROYING', 'UPGRADING')",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Moves a subject out of a transient state to the stable state it most likely left.
pub fn settle_transient(
    conn: &Connection,
    subject: &str,
    state: &str,
    information: &str,
) -> Result<(), DmError> {
    let (table, key, stable) = match state {
        "DEPLOYING" => ("packages", "id", "NOTDEPLOYED"),
        "UNDEPLOYING" => ("packages", "id", "DEPLOYED"),
        "CREATING" => ("applications", "name", "NOTCREATED"),
        "STARTING" => ("applications", "name", "CREATED"),
        "STOPPING" | "DESTROYING" | "UPGRADING" => ("applications", "name", "STARTED"),
        other => {
            return Err(DmError::Internal(format!(
                "{other} is not a transient state"
            )))
        }
    };
    conn.execute(
        &format!("UPDATE {table} SET state = ?2, information = ?3, updated_at = ?4 WHERE {key} = ?1 AND state = ?5"),
        params![subject, stable, information, now(), state],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_round_trip_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.db");
        {
            let registry = Registry::open(&path).unwrap();
            registry
                .write(|tx| {
                    put_package(
                        tx,
                        &PackageRow {
                            id: "p-1.0.0".into(),
                            state: PackageState::Deployed,
                            user: Some("u".into()),
                            metadata: Some(json!({"a": 1})),
                            information: Some("i".into()),
                        },
                    )?;
                    put_app(
                        tx,
                        &AppRow {
                            name: "a".into(),
                            package: "p-1.0.0".into(),
                            state: AppState::Created,
                            user: "u".into(),
                            overrides: json!({"package": "p-1.0.0"}),
                            defaults: json!({}),
                            create_data: None,
                            information: None,
                        },
                    )?;
                    put_app(
                        tx,
                        &AppRow {
                            name: "b".into(),
                            package: "p-1.0.0".into(),
                            state: AppState::NotCreated,
                            user: "u".into(),
                            overrides: json!({}),
                            defaults: json!({}),
                            create_data: None,
                            information: Some("Error creating b".into()),
                        },
                    )
                })
                .unwrap();
        }
        let registry = Registry::open(&path).unwrap();
        let package = registry
            .read(|c| get_package(c, "p-1.0.0"))
            .unwrap()
            .unwrap();
        assert_eq!(package.state, PackageState::Deployed);
        assert_eq!(package.metadata, Some(json!({"a": 1})));
        assert_eq!(registry.read(|c| list_apps(c, None)).unwrap(), vec!["a"]);
        assert_eq!(
            registry.read(|c| list_apps(c, Some("q-1.0.0"))).unwrap(),
            Vec::<String>::new()
        );
        assert!(registry.read(|c| get_app(c, "zz")).unwrap().is_none());
    }

    #[test]
    fn readers_are_read_only_and_see_commits() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::open(&dir.path().join("r.db")).unwrap();
        for n in 0..2 * READERS {
            let id = format!("p-1.0.{n}");
            registry
                .write(|tx| {
                    put_package(
                        tx,
                        &PackageRow {
                            id: id.clone(),
                            state: PackageState::Deployed,
                            user: None,
                            metadata: None,
                            information: None,
                        },
                    )
                })
                .unwrap();
            assert!(
                registry.read(|c| get_package(c, &id)).unwrap().is_some(),
                "every reader sees the commit"
            );
        }
        assert!(
            registry.read(|c| delete_package(c, "p-1.0.0")).is_err(),
            "readers cannot write"
        );
    }

    #[test]
    fn briefs_follow_every_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let registry = Registry::open(&path).unwrap();
        let app = |name: &str, state| AppRow {
            name: name.into(),
            package: "p-1.0.0".into(),
            state,
            user: "u".into(),
            overrides: json!({}),
            defaults: json!({}),
            create_data: None,
            information: None,
        };
        registry
            .write(|tx| put_app(tx, &app("a", AppState::Creating)))
            .unwrap();
        registry
            .write(|tx| put_app(tx, &app("b", AppState::Created)))
            .unwrap();
        assert_eq!(registry.app_brief("a").unwrap().state, AppState::Creating);
        // Any statement, not only the helpers, is seen.
        registry
            .write(|tx| {
                Ok(tx.execute(
                    "UPDATE applications SET state = 'STARTED', information = 'i' WHERE name = 'a'",
                    [],
                )?)
            })
            .unwrap();
        assert_eq!(
            *registry.app_brief("a").unwrap(),
            AppBrief {
                state: AppState::Started,
                information: Some("i".into()),
                owner: "u".into()
            }
        );
        registry.write(|tx| delete_app(tx, "a")).unwrap();
        assert!(registry.app_brief("a").is_none());
        // A rolled-back transaction leaves them as they were.
        let failed: Result<(), DmError> = registry.write(|tx| {
            tx.execute(
                "UPDATE applications SET state = 'STOPPING' WHERE name = 'b'",
                [],
            )?;
            Err(DmError::Internal("no".into()))
        });
        assert!(failed.is_err());
        registry
            .write(|tx| {
                Ok(tx
                    .execute("UPDATE packages SET state = 'DEPLOYED'", [])
                    .map(|_| ())?)
            })
            .unwrap();
        assert_eq!(registry.app_brief("b").unwrap().state, AppState::Created);
        // And they are loaded again on opening.
        drop(registry);
        let registry = Registry::open(&path).unwrap();
        assert_eq!(registry.app_brief("b").unwrap().state, AppState::Created);
        assert!(registry.app_brief("a").is_none());
    }

    #[test]
    fn failed_transaction_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::open(&dir.path().join("r.db")).unwrap();
        let result: Result<(), DmError> = registry.write(|tx| {
            put_package(
                tx,
                &PackageRow {
                    id: "p-1.0.0".into(),
                    state: PackageState::Deploying,
                    user: None,
                    metadata: None,
                    information: None,
                },
            )?;
            Err(DmError::Internal("boom".into()))
        });
        assert!(result.is_err());
        assert!(registry
            .read(|c| get_package(c, "p-1.0.0"))
            .unwrap()
            .is_none());
    }
}
