//! # dm-plugin-spark-streaming
//!
//! The runtime plugin for `sparkStreaming` components, loaded by `dmd` as a shared library.
//!
//! Validation (as in PNDA): a component needs `application.properties` and `log4j.properties`;
//! a user-supplied `upstart.conf` is refused.
//!
//! Plan: a Spark job from `main_jar` + `main_class` or `main_py` (plus `py_files`, a
//! comma-separated list of component files), with PNDA's `spark_submit_args`, and
//! `application_args` (both argument lists, split as PNDA's systemd units did, never run
//! through a shell), `respawn_type` (default `always`) and `respawn_timeout_sec` (default 2).
//! - target `yarn`: `spark-submit --master yarn --deploy-mode cluster`, named after the job and
//!   tagged so the supervisor finds every attempt; the submit client returns once YARN accepted
//!   the application (`spark.yarn.submit.waitAppCompletion=false`), since what is supervised is
//!   the YARN application. `log4j.properties` is shipped with `--files` and used by driver and
//!   executors, so nothing needs copying to NodeManagers (PNDA copied it over SSH). Stop: kill
//!   the YARN application.
//! - target `local`: `spark-submit --master local[*]` on the edge node; stop by signal.

use dm_plugin_api::props::{
    component_file, in_workdir, job_name, program, respawn, yarn_tags, Program, Props,
};
use dm_plugin_api::{
    file_rules, Arg, Command, ComponentFiles, ComponentPlugin, Finding, Job, JobKind, Plan,
    PlanRequest, RespawnPolicy, Slot, StopStep, Target, YarnApp,
};

pub struct SparkStreamingPlugin;

dm_plugin_api::export_plugin!(SparkStreamingPlugin, SparkStreamingPlugin);

impl ComponentPlugin for SparkStreamingPlugin {
    const COMPONENT_TYPE: &'static str = "sparkStreaming";

    fn validate(&self, component: &ComponentFiles) -> Vec<Finding> {
        file_rules(
            Self::COMPONENT_TYPE,
            component.files.iter().map(String::as_str),
        )
    }

    fn plan(&self, request: &PlanRequest) -> Result<Plan, String> {
        let props = Props(&request.properties);
        let spark_home = request
            .engines
            .spark_home
            .as_deref()
            .ok_or("no Spark installation is configured (engines: spark_home)")?;
        let program = program(request, "sparkStreaming")?;
        let submit_args = props.component_args("spark_submit_args")?;
        let application_args = props.component_args("application_args")?;
        let name = job_name(request);
        let log4j = match request.target {
            // Shipped with --files into each container's working directory.
            Target::Yarn => "-Dlog4j.configuration=log4j.properties".to_string(),
            Target::Local => format!(
                "-Dlog4j.configuration=file:{}",
                in_workdir(request, "log4j.properties")
            ),
        };

        let mut argv = vec![Arg::lit(format!(
            "{}/bin/spark-submit",
            spark_home.trim_end_matches('/')
        ))];
        match request.target {
            Target::Yarn => {
                argv.extend(["--master", "yarn", "--deploy-mode", "cluster"].map(Arg::lit));
                argv.extend([
                    Arg::lit("--conf"),
                    Arg::Slot {
                        prefix: "spark.yarn.tags=".into(),
                        slot: Slot::YarnTags,
                    },
                ]);
                argv.extend(["--conf", "spark.yarn.submit.waitAppCompletion=false"].map(Arg::lit));
                argv.extend([
                    Arg::lit("--files"),
                    Arg::lit(in_workdir(request, "log4j.properties")),
                ]);
            }
            Target::Local => argv.extend(["--master", "local[*]"].map(Arg::lit)),
        }
        argv.extend([Arg::lit("--name"), Arg::lit(&name)]);
        for side in ["driver", "executor"] {
            argv.extend([
                Arg::lit("--conf"),
                Arg::lit(format!("spark.{side}.extraJavaOptions={log4j}")),
            ]);
        }
        argv.extend(submit_args.into_iter().map(Arg::Literal));
        match program {
            Program::Jar { jar, main_class } => {
                argv.extend([
                    Arg::lit("--class"),
                    Arg::lit(main_class),
                    Arg::lit(in_workdir(request, &jar)),
                ]);
            }
            Program::Python { file } => {
                // application.properties travels with the job, as in PNDA.
                let mut py_files = vec![in_workdir(request, "application.properties")];
                for extra in props
                    .component("py_files")
                    .iter()
                    .flat_map(|list| list.split(','))
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                {
                    py_files.push(in_workdir(
                        request,
                        &component_file(&request.component.files, "py_files", extra)?,
                    ));
                }
                argv.extend([
                    Arg::lit("--py-files"),
                    Arg::lit(py_files.join(",")),
                    Arg::lit(in_workdir(request, &file)),
                ]);
            }
        }
        argv.extend(application_args.into_iter().map(Arg::Literal));

        let (yarn, stop) = match request.target {
            Target::Yarn => (
                Some(YarnApp {
                    application_type: "SPARK".into(),
                    tags: yarn_tags(request),
                }),
                vec![StopStep::YarnKill],
            ),
            Target::Local => (None, vec![StopStep::Signal { grace_sec: 30 }]),
        };
        Ok(Plan {
            render: vec!["application.properties".into(), "log4j.properties".into()],
            write: Default::default(),
            job: Some(Job {
                name,
                kind: JobKind::Streaming,
                submit: Command {
                    argv,
                    env: Default::default(),
                },
                respawn: respawn(request, RespawnPolicy::Always, 2)?,
                yarn,
                stop,
                savepoints: false,
            }),
            oozie: None,
            notebooks: None,
            warnings: Vec::new(),
        })
    }
}
