//! # dm-plugin-flink
//!
//! The runtime plugin for `flink` components, loaded by `dmd` as a shared library.
//!
//! Validation: a component needs `application.properties` (as in PNDA).
//!
//! Plan: a Flink job from `main_jar` + `main_class` or `main_py`, with PNDA's property names —
//! `flink_version` (picks the Flink home among those configured; the configured default when
//! absent, not PNDA's obsolete `1.4`), `flink_job_type` (`streaming`, respawn `always` after 2 s;
//! `batch`, respawn `no`), `flink_config_args` and `application_args` (argument lists, split
//! as PNDA's systemd units did, never run through a shell), `respawn_type`, `respawn_timeout_sec`.
//! Flink 1.x's YARN options in `flink_config_args` (`-yn 1 -yjm 1024 -ytm 1024`, PNDA's
//! examples) are translated into configuration keys (`dm_plugin_api::flink_legacy`), with a
//! warning each.
//! - target `yarn`: YARN application mode (`flink run -t yarn-application`, or
//!   `flink run-application` on Flink 1.x), named after the job and tagged so the supervisor
//!   finds every attempt; restarts resume from the last savepoint. Stop: stop with a savepoint,
//!   else cancel, else kill the YARN application. `flink_deploy_mode = per-job` chooses per-job
//!   mode (`flink run -t yarn-per-job --detached`) on Flink 1.x; Flink 2 removed it, and asking
//!   for it there is refused. The local target ignores the mode.
//! - target `local`: `flink run -t local` on the edge node; stop by signal.

use dm_plugin_api::props::{in_workdir, job_name, program, respawn, yarn_tags, Program, Props};
use dm_plugin_api::{
    file_rules, Arg, Command, ComponentFiles, ComponentPlugin, Finding, Job, JobKind, Plan,
    PlanRequest, RespawnPolicy, Slot, StopStep, Target, YarnApp,
};

pub struct FlinkPlugin;

dm_plugin_api::export_plugin!(FlinkPlugin, FlinkPlugin);

/// Seconds a `flink stop`/`flink cancel` may take before the next way of stopping is tried.
const STOP_TIMEOUT_SEC: u64 = 120;

impl ComponentPlugin for FlinkPlugin {
    const COMPONENT_TYPE: &'static str = "flink";

    fn validate(&self, component: &ComponentFiles) -> Vec<Finding> {
        file_rules(
            Self::COMPONENT_TYPE,
            component.files.iter().map(String::as_str),
        )
    }

    fn plan(&self, request: &PlanRequest) -> Result<Plan, String> {
        let props = Props(&request.properties);
        let kind = match props.component("flink_job_type").as_deref() {
            None | Some("streaming") => JobKind::Streaming,
            Some("batch") => JobKind::Batch,
            Some(other) => {
                return Err(format!(
                    "flink_job_type must be streaming or batch but is {other}"
                ))
            }
        };
        let respawn = match kind {
            JobKind::Streaming => respawn(request, RespawnPolicy::Always, 2)?,
            JobKind::Batch => respawn(request, RespawnPolicy::No, 0)?,
        };
        let (version, home) = flink_home(request)?;
        let flink = format!("{}/bin/flink", home.trim_end_matches('/'));
        // Every command of this job reads this version's configuration.
        let env: std::collections::BTreeMap<String, String> = request
            .engines
            .flink_conf_dirs
            .get(&version)
            .map(|dir| ("FLINK_CONF_DIR".to_string(), dir.clone()))
            .into_iter()
            .collect();
        let program = program(request, "flink")?;
        let legacy =
            dm_plugin_api::flink_legacy::translate(&props.component_args("flink_config_args")?)?;
        let application_args = props.component_args("application_args")?;
        let name = job_name(request);

        let mode = deploy_mode(&props, &version)?;
        let mut argv = vec![Arg::lit(&flink)];
        match (request.target, mode) {
            (Target::Yarn, DeployMode::PerJob) => {
                // Detached: the client returns once the job is submitted, as in application mode.
                argv.extend(["run", "-t", "yarn-per-job", "--detached"].map(Arg::lit))
            }
            (Target::Yarn, DeployMode::Application) if major_version(&version) < 2 => {
                argv.extend(["run-application", "-t", "yarn-application"].map(Arg::lit))
            }
            (Target::Yarn, DeployMode::Application) => {
                argv.extend(["run", "-t", "yarn-application"].map(Arg::lit))
            }
            (Target::Local, _) => argv.extend(["run", "-t", "local"].map(Arg::lit)),
        }
        if request.target == Target::Yarn {
            let yarn_name = legacy.yarn_name.as_deref().unwrap_or(&name);
            argv.push(Arg::lit(format!("-Dyarn.application.name={yarn_name}")));
            argv.push(Arg::Slot {
                prefix: "-Dyarn.tags=".into(),
                slot: Slot::YarnTags,
            });
        }
        argv.push(Arg::IfSet {
            flag: "-s".into(),
            if_set: Slot::RestoreFrom,
        });
        // Flink's --allowNonRestoredState, as a key every version reads (always given, so the
        // flink-conf value never decides for the user).
        argv.push(Arg::Slot {
            prefix: "-Dexecution.savepoint.ignore-unclaimed-state=".into(),
            slot: Slot::AllowNonRestoredState,
        });
        argv.extend(legacy.args.into_iter().map(Arg::Literal));
        match program {
            Program::Jar { jar, main_class } => {
                argv.extend([
                    Arg::lit("-c"),
                    Arg::lit(main_class),
                    Arg::lit(in_workdir(request, &jar)),
                ]);
            }
            Program::Python { file } => {
                argv.extend([
                    Arg::lit("-py"),
                    Arg::lit(in_workdir(request, &file)),
                    Arg::lit("-pyfs"),
                    Arg::lit(&request.workdir),
                ]);
                if let Some(python) = &request.engines.python {
                    argv.extend([Arg::lit("-pyexec"), Arg::lit(python)]);
                }
            }
        }
        argv.extend(application_args.into_iter().map(Arg::Literal));

        let (yarn, stop) = match request.target {
            Target::Yarn => (
                Some(YarnApp {
                    application_type: "Apache Flink".into(),
                    tags: yarn_tags(request),
                }),
                yarn_stop_steps(&flink, mode.target(), kind, &env),
            ),
            Target::Local => (None, vec![StopStep::Signal { grace_sec: 30 }]),
        };
        Ok(Plan {
            render: vec!["application.properties".into()],
            write: Default::default(),
            job: Some(Job {
                name,
                kind,
                submit: Command { argv, env },
                respawn,
                yarn,
                stop,
                savepoints: kind == JobKind::Streaming && request.target == Target::Yarn,
            }),
            oozie: None,
            notebooks: None,
            warnings: legacy.warnings,
        })
    }
}

/// Stop with a savepoint (streaming), else cancel, else kill the YARN application.
fn yarn_stop_steps(
    flink: &str,
    target: &str,
    kind: JobKind,
    env: &std::collections::BTreeMap<String, String>,
) -> Vec<StopStep> {
    let on_yarn = |action: &str, extra: Vec<Arg>| {
        let mut argv = vec![
            Arg::lit(flink),
            Arg::lit(action),
            Arg::lit("-t"),
            Arg::lit(target),
        ];
        argv.push(Arg::Slot {
            prefix: "-Dyarn.application.id=".into(),
            slot: Slot::YarnApplicationId,
        });
        argv.extend(extra);
        argv.push(Arg::Slot {
            prefix: String::new(),
            slot: Slot::FlinkJobId,
        });
        Command {
            argv,
            env: env.clone(),
        }
    };
    let mut steps = Vec::new();
    if kind == JobKind::Streaming {
        let savepoint = vec![
            Arg::lit("--savepointPath"),
            Arg::Slot {
                prefix: String::new(),
                slot: Slot::SavepointDir,
            },
        ];
        steps.push(StopStep::Run {
            command: on_yarn("stop", savepoint),
            timeout_sec: STOP_TIMEOUT_SEC,
            savepoint: true,
        });
    }
    steps.push(StopStep::Run {
        command: on_yarn("cancel", Vec::new()),
        timeout_sec: STOP_TIMEOUT_SEC,
        savepoint: false,
    });
    steps.push(StopStep::YarnKill);
    steps
}

/// How a job goes to YARN (`flink_deploy_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeployMode {
    /// The job's `main` runs in the cluster (the default; the only mode of Flink 2).
    Application,
    /// The client builds the job graph and starts a cluster for it (Flink 1.x only).
    PerJob,
}

impl DeployMode {
    /// Flink's execution target name.
    fn target(self) -> &'static str {
        match self {
            DeployMode::Application => "yarn-application",
            DeployMode::PerJob => "yarn-per-job",
        }
    }
}

fn deploy_mode(props: &Props, version: &str) -> Result<DeployMode, String> {
    match props.component("flink_deploy_mode").as_deref() {
        None | Some("application") => Ok(DeployMode::Application),
        Some("per-job") if major_version(version) >= 2 => Err(format!(
            "flink_deploy_mode per-job is not available on Flink {version} (removed in Flink 2); use application"
        )),
        Some("per-job") => Ok(DeployMode::PerJob),
        Some(other) => Err(format!(
            "flink_deploy_mode must be application or per-job but is {other}"
        )),
    }
}

/// The Flink home for the component's `flink_version`, or the configured default version.
fn flink_home(request: &PlanRequest) -> Result<(String, String), String> {
    let engines = &request.engines;
    let installed = || {
        engines
            .flink_homes
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    let version = Props(&request.properties)
        .component("flink_version")
        .or_else(|| engines.default_flink_version.clone())
        .or_else(|| (engines.flink_homes.len() == 1).then(|| engines.flink_homes.keys().next().cloned()).flatten())
        .ok_or_else(|| format!("flink_version is not set and no default Flink version is configured (installed: {})", installed()))?;
    let home = engines.flink_homes.get(&version).ok_or_else(|| {
        format!(
            "flink_version {version} is not installed here (installed: {})",
            installed()
        )
    })?;
    Ok((version, home.clone()))
}

fn major_version(version: &str) -> u32 {
    version
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .unwrap_or(0)
}
