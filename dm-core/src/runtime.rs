//! The one interface through which the lifecycle engine acts on components:
//! [`ComponentRuntime`] (create/start/stop/destroy), one per component type. The real runtimes
//! (Flink, Spark, Oozie, Jupyter) arrive as plugins; this module also holds the built-in no-op `test`
//! type, enabled only by `[lifecycle] test_components = true`, whose components keep their
//! state in a file so tests can see what was done to them.

use packaging::{Component, ComponentRules, Finding, RuleSet};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// What a runtime is told about one component of one application.
pub struct ComponentContext<'a> {
    pub application: &'a str,
    pub component_type: &'a str,
    pub component: &'a str,
    /// The application's private copy of the component's files.
    pub dir: &'a Path,
    /// The resolved properties (see [`crate::properties`]).
    pub properties: &'a Map<String, Value>,
}

/// What a start restores a component from (decided by the savepoint catalog).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartOptions {
    pub restore: dm_supervisor::protocol::Restore,
    pub allow_non_restored_state: bool,
}

/// What a runtime knows of a component whose job takes Flink savepoints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SavepointJob {
    /// The Flink version it runs (`flink_version`, else the configured default).
    pub flink_version: Option<String>,
    /// Where its savepoints go.
    pub savepoint_dir: Option<String>,
    /// The YARN application of its current attempt, while it runs.
    pub yarn_id: Option<String>,
    /// When its current attempt started (ms since the epoch), while it runs.
    pub running_since_ms: Option<i64>,
    /// The savepoint its supervisor resumes it from (a stop's, or the last one recorded).
    pub last_savepoint: Option<String>,
    /// Why its supervisor gave up on it (it will not be started again by itself).
    pub gave_up: Option<String>,
}

/// Every method must be idempotent: recovery after a crash may repeat any of them.
pub trait ComponentRuntime: Send + Sync {
    fn component_type(&self) -> &str;
    /// Whether the component could be created, judged before anything is made (the files are
    /// the deployed package's, read-only); the reason when not.
    fn check(&self, _ctx: &ComponentContext) -> Result<(), String> {
        Ok(())
    }
    /// Creates the component; the returned value is kept as its create data.
    fn create(&self, ctx: &ComponentContext) -> Result<Value, String>;
    fn start(
        &self,
        ctx: &ComponentContext,
        data: &Value,
        options: &StartOptions,
    ) -> Result<(), String>;
    fn stop(&self, ctx: &ComponentContext, data: &Value) -> Result<(), String>;
    /// Stops the component without taking a savepoint (an upgrade that does not keep its
    /// state from one); a plain stop where there is no difference.
    fn cancel(&self, ctx: &ComponentContext, data: &Value) -> Result<(), String> {
        self.stop(ctx, data)
    }
    /// Removes everything `create` made (stopping the component first if it runs).
    fn destroy(&self, ctx: &ComponentContext, data: &Value) -> Result<(), String>;
    /// What the component's runs printed, when the runtime keeps logs (`null` otherwise).
    fn logs(&self, _ctx: &ComponentContext, _data: &Value) -> Result<Value, String> {
        Ok(Value::Null)
    }
    /// For a component whose job takes savepoints: what its runtime knows of the job (`None`
    /// for every other component).
    fn savepoint_job(
        &self,
        _ctx: &ComponentContext,
        _data: &Value,
    ) -> Result<Option<SavepointJob>, String> {
        Ok(None)
    }
    /// Records a savepoint taken of the component's job, as what a respawn resumes from.
    fn record_savepoint(&self, _ctx: &ComponentContext, _path: &str) -> Result<(), String> {
        Ok(())
    }
}

/// The runtimes available, by component type.
#[derive(Clone, Default)]
pub struct Runtimes {
    by_type: BTreeMap<String, Arc<dyn ComponentRuntime>>,
}

impl Runtimes {
    pub fn register(&mut self, runtime: Arc<dyn ComponentRuntime>) {
        self.by_type
            .insert(runtime.component_type().to_string(), runtime);
    }

    pub fn get(&self, component_type: &str) -> Option<&Arc<dyn ComponentRuntime>> {
        self.by_type.get(component_type)
    }

    pub fn types(&self) -> Vec<&str> {
        self.by_type.keys().map(String::as_str).collect()
    }
}

pub const TEST_TYPE: &str = "test";
/// The file in a `test` component's folder holding its state: created, started or stopped.
pub const TEST_STATE_FILE: &str = ".dm-test-state";

/// Adds the `test` type to a reader's rules and to the runtimes.
pub fn enable_test_components(rules: &mut RuleSet, runtimes: &mut Runtimes) {
    rules.register(Arc::new(TestRules));
    runtimes.register(Arc::new(TestRuntime));
}

/// A `test` component may contain anything.
struct TestRules;

impl ComponentRules for TestRules {
    fn component_type(&self) -> &str {
        TEST_TYPE
    }

    fn check(&self, _component: &Component) -> Vec<Finding> {
        Vec::new()
    }
}

/// Does nothing but record its state. Properties steer it in tests: `fail_on` names an
/// operation (`create`, `start`, `stop`, `destroy`) that fails; `sleep_ms` slows each one down.
struct TestRuntime;

impl TestRuntime {
    fn act(&self, ctx: &ComponentContext, op: &str, new_state: Option<&str>) -> Result<(), String> {
        if let Some(ms) = ctx
            .properties
            .get("component_sleep_ms")
            .and_then(property_u64)
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        if ctx
            .properties
            .get("component_fail_on")
            .and_then(Value::as_str)
            == Some(op)
        {
            return Err(format!(
                "test component {} was told to fail on {op}",
                ctx.component
            ));
        }
        let file = ctx.dir.join(TEST_STATE_FILE);
        let written = match new_state {
            Some(state) => std::fs::write(&file, state),
            None => match std::fs::remove_file(&file) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
        };
        written.map_err(|e| format!("cannot record the state of {}: {e}", file.display()))
    }
}

fn property_u64(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

impl ComponentRuntime for TestRuntime {
    fn component_type(&self) -> &str {
        TEST_TYPE
    }

    fn create(&self, ctx: &ComponentContext) -> Result<Value, String> {
        self.act(ctx, "create", Some("created"))?;
        Ok(json!({"state_file": TEST_STATE_FILE}))
    }

    fn start(&self, ctx: &ComponentContext, _data: &Value, _: &StartOptions) -> Result<(), String> {
        self.act(ctx, "start", Some("started"))
    }

    fn stop(&self, ctx: &ComponentContext, _data: &Value) -> Result<(), String> {
        self.act(ctx, "stop", Some("stopped"))
    }

    fn destroy(&self, ctx: &ComponentContext, _data: &Value) -> Result<(), String> {
        self.act(ctx, "destroy", None)
    }
}
