//! What a dmd started with no configuration finds on its own, so a first run needs none: a
//! data folder, the runtime plugins installed beside its binary, and the engines of the
//! user's environment (`FLINK_HOME` or `flink` on the `PATH`, with the version read from the
//! distribution; `SPARK_HOME` or `spark-submit`). Only what the configuration leaves unset is
//! filled in; `[discovery] enabled = false` turns it off. What was found, and what is
//! missing, is reported by `GET /plugins` and `dmd --check-config`.

use crate::config::Config;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoveryConfig {
    pub enabled: bool,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig { enabled: true }
    }
}

/// One thing found, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    pub what: String,
    pub value: String,
    pub source: String,
}

/// What discovery did: what it filled in, and what a user still lacks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub found: Vec<Found>,
    pub missing: Vec<String>,
}

/// Where discovery looks: the process's environment and the folder of dmd's binary.
pub struct Surroundings<'a> {
    pub var: &'a dyn Fn(&str) -> Option<String>,
    pub exe_dir: Option<PathBuf>,
    pub is_root: bool,
}

impl Surroundings<'_> {
    pub fn of_this_process() -> Surroundings<'static> {
        Surroundings {
            var: &|name| std::env::var(name).ok().filter(|v| !v.is_empty()),
            exe_dir: std::env::current_exe()
                .ok()
                .and_then(|exe| exe.canonicalize().ok())
                .and_then(|exe| exe.parent().map(Path::to_path_buf)),
            is_root: nix::unistd::geteuid().is_root(),
        }
    }
}

/// Fills what `config` leaves unset from `around`.
pub fn discover(config: &mut Config, around: &Surroundings) -> Report {
    let mut report = Report::default();
    if !config.discovery.enabled {
        return report;
    }
    if config.storage.data_dir.is_none() {
        if let Some(dir) = default_data_dir(around) {
            report.found.push(Found {
                what: "data folder".into(),
                value: dir.display().to_string(),
                source: if around.is_root {
                    "the default for root".into()
                } else {
                    "the user's data folder (XDG_DATA_HOME or ~/.local/share)".into()
                },
            });
            config.storage.data_dir = Some(dir);
        }
    }
    if config.plugins.dir.is_none() {
        match around.exe_dir.as_deref().and_then(plugins_beside) {
            Some(dir) => {
                report.found.push(Found {
                    what: "plugins folder".into(),
                    value: dir.display().to_string(),
                    source: "beside dmd's binary".into(),
                });
                config.plugins.dir = Some(dir);
            }
            None => report.missing.push(
                "no runtime plugins: none beside dmd's binary (in plugins/ or as libdm_plugin_*.so) and [plugins] dir is not set; applications cannot be created".into(),
            ),
        }
    }
    let engines = &mut config.jobs.engines;
    if engines.flink_homes.is_empty() {
        match flink_home(around) {
            Ok((home, source)) => match flink_version(&home) {
                Some(version) => {
                    report.found.push(Found {
                        what: format!("Flink {version}"),
                        value: home.display().to_string(),
                        source,
                    });
                    engines
                        .flink_homes
                        .insert(version, home.display().to_string());
                }
                None => report.missing.push(format!(
                    "no Flink: {} (from {source}) has no lib/flink-dist-<version>.jar",
                    home.display()
                )),
            },
            Err(why) => report.missing.push(format!(
                "no Flink: {why}; set FLINK_HOME or [jobs.engines] flink_homes"
            )),
        }
    }
    if engines.spark_home.is_none() {
        match spark_home(around) {
            Ok((home, source)) => {
                report.found.push(Found {
                    what: "Spark".into(),
                    value: home.display().to_string(),
                    source,
                });
                engines.spark_home = Some(home.display().to_string());
            }
            Err(why) => report.missing.push(format!(
                "no Spark: {why}; set SPARK_HOME or [jobs.engines] spark_home"
            )),
        }
    }
    report
}

fn default_data_dir(around: &Surroundings) -> Option<PathBuf> {
    if around.is_root {
        return Some(PathBuf::from("/var/lib/dm"));
    }
    let base = (around.var)("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| (around.var)("HOME").map(|home| Path::new(&home).join(".local/share")))?;
    Some(base.join("dm"))
}

/// `<bin>/plugins/` when it holds plugins, else `<bin>` itself when plugins were built there
/// (cargo puts `libdm_plugin_*.so` beside `dmd`).
fn plugins_beside(exe_dir: &Path) -> Option<PathBuf> {
    let has_plugins = |dir: &Path| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.filter_map(Result::ok).any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with("libdm_plugin_")
                    && (name.ends_with(".so") || name.ends_with(".dylib"))
            })
        })
    };
    let sub = exe_dir.join("plugins");
    if has_plugins(&sub) {
        Some(sub)
    } else if has_plugins(exe_dir) {
        Some(exe_dir.to_path_buf())
    } else {
        None
    }
}

/// `FLINK_HOME`, else the distribution of the `flink` found on the `PATH`.
fn flink_home(around: &Surroundings) -> Result<(PathBuf, String), String> {
    if let Some(home) = (around.var)("FLINK_HOME") {
        let home = PathBuf::from(home);
        return if home.join("bin/flink").is_file() {
            Ok((home, "FLINK_HOME".into()))
        } else {
            Err(format!("FLINK_HOME {} has no bin/flink", home.display()))
        };
    }
    let bin = on_path(around, "flink").ok_or("no flink on the PATH and FLINK_HOME is not set")?;
    let home = bin
        .parent()
        .and_then(Path::parent)
        .filter(|home| home.join("lib").is_dir())
        .ok_or_else(|| format!("{} is not in a Flink distribution's bin/", bin.display()))?;
    Ok((
        home.to_path_buf(),
        format!("flink on the PATH ({})", bin.display()),
    ))
}

/// The version in the name of `lib/flink-dist-<version>.jar` (`flink-dist_2.12-…` in old ones).
pub fn flink_version(home: &Path) -> Option<String> {
    std::fs::read_dir(home.join("lib"))
        .ok()?
        .filter_map(Result::ok)
        .find_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rest = name.strip_prefix("flink-dist")?.strip_suffix(".jar")?;
            let version = rest.rsplit('-').next()?;
            version
                .starts_with(|c: char| c.is_ascii_digit())
                .then(|| version.to_string())
        })
}

/// `SPARK_HOME`, else the home of the `spark-submit` on the `PATH` (a distribution's `bin/`,
/// or a Python environment with pyspark).
fn spark_home(around: &Surroundings) -> Result<(PathBuf, String), String> {
    if let Some(home) = (around.var)("SPARK_HOME") {
        let home = PathBuf::from(home);
        return if home.join("bin/spark-submit").is_file() {
            Ok((home, "SPARK_HOME".into()))
        } else {
            Err(format!(
                "SPARK_HOME {} has no bin/spark-submit",
                home.display()
            ))
        };
    }
    let bin = on_path(around, "spark-submit")
        .ok_or("no spark-submit on the PATH and SPARK_HOME is not set")?;
    let source = format!("spark-submit on the PATH ({})", bin.display());
    let prefix = bin
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("{} is not in a bin/ folder", bin.display()))?;
    if prefix.join("jars").is_dir() {
        return Ok((prefix.to_path_buf(), source));
    }
    // A virtual environment: <venv>/bin/spark-submit, <venv>/lib/python3.X/site-packages/pyspark.
    let pyspark = std::fs::read_dir(prefix.join("lib"))
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages/pyspark"))
        .find(|p| p.join("jars").is_dir());
    pyspark
        .map(|home| (home, source))
        .ok_or_else(|| format!("{} is not in a Spark distribution", bin.display()))
}

/// The first executable `name` on the `PATH`, symbolic links resolved.
fn on_path(around: &Surroundings, name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = (around.var)("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|file| {
            file.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .and_then(|file| file.canonicalize().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;

    fn executable(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn file(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "").unwrap();
    }

    fn run(config: &mut Config, vars: &[(&str, String)], exe_dir: &Path) -> Report {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let var = move |name: &str| vars.get(name).cloned();
        discover(
            config,
            &Surroundings {
                var: &var,
                exe_dir: Some(exe_dir.to_path_buf()),
                is_root: false,
            },
        )
    }

    #[test]
    fn a_bare_dmd_finds_its_plugins_a_data_folder_and_the_users_engines() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        // cargo's layout: the plugins beside dmd.
        file(&r.join("bin/libdm_plugin_flink.so"));
        // A Flink distribution linked from a bin folder on the PATH.
        executable(&r.join("opt/flink-1.20.5/bin/flink"));
        file(&r.join("opt/flink-1.20.5/lib/flink-dist-1.20.5.jar"));
        std::fs::create_dir_all(r.join("usr/bin")).unwrap();
        std::os::unix::fs::symlink(
            r.join("opt/flink-1.20.5/bin/flink"),
            r.join("usr/bin/flink"),
        )
        .unwrap();
        // pyspark in a virtual environment.
        executable(&r.join("venv/bin/spark-submit"));
        std::fs::create_dir_all(r.join("venv/lib/python3.11/site-packages/pyspark/jars")).unwrap();
        let path = std::env::join_paths([r.join("usr/bin"), r.join("venv/bin")]).unwrap();

        let mut config = Config::default();
        let report = run(
            &mut config,
            &[
                ("PATH", path.to_string_lossy().into_owned()),
                ("HOME", r.join("home").display().to_string()),
            ],
            &r.join("bin"),
        );
        assert_eq!(report.missing, Vec::<String>::new());
        let root_canon = r.canonicalize().unwrap();
        assert_eq!(config.plugins.dir, Some(r.join("bin")));
        assert_eq!(
            config.storage.data_dir,
            Some(r.join("home/.local/share/dm"))
        );
        assert_eq!(
            config
                .jobs
                .engines
                .flink_homes
                .get("1.20.5")
                .map(PathBuf::from),
            Some(root_canon.join("opt/flink-1.20.5"))
        );
        assert_eq!(
            config.jobs.engines.spark_home.as_deref().map(PathBuf::from),
            Some(root_canon.join("venv/lib/python3.11/site-packages/pyspark"))
        );
        assert_eq!(report.found.len(), 4, "{report:?}");
    }

    #[test]
    fn flink_home_wins_over_the_path_and_the_configuration_over_both() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        executable(&r.join("flink-2.3.0/bin/flink"));
        file(&r.join("flink-2.3.0/lib/flink-dist-2.3.0.jar"));
        let mut config = Config::default();
        run(
            &mut config,
            &[("FLINK_HOME", r.join("flink-2.3.0").display().to_string())],
            r,
        );
        assert_eq!(
            config.jobs.engines.flink_homes.keys().collect::<Vec<_>>(),
            ["2.3.0"]
        );

        let mut configured = Config::default();
        configured
            .jobs
            .engines
            .flink_homes
            .insert("1.20".into(), "/opt/flink".into());
        configured.plugins.dir = Some("/opt/dm/plugins".into());
        let report = run(
            &mut configured,
            &[("FLINK_HOME", r.join("flink-2.3.0").display().to_string())],
            r,
        );
        assert_eq!(
            configured
                .jobs
                .engines
                .flink_homes
                .keys()
                .collect::<Vec<_>>(),
            ["1.20"]
        );
        assert_eq!(configured.plugins.dir, Some("/opt/dm/plugins".into()));
        assert!(report.found.iter().all(|f| f.what != "plugins folder"));
    }

    #[test]
    fn what_is_missing_is_said_and_nothing_is_guessed() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        executable(&r.join("broken/bin/flink"));
        let mut config = Config::default();
        let report = run(
            &mut config,
            &[
                ("FLINK_HOME", r.join("broken").display().to_string()),
                ("PATH", String::new()),
            ],
            r,
        );
        assert!(config.jobs.engines.flink_homes.is_empty());
        assert!(config.plugins.dir.is_none());
        let missing = report.missing.join("\n");
        assert!(missing.contains("no runtime plugins"), "{missing}");
        assert!(
            missing.contains("has no lib/flink-dist-<version>.jar"),
            "{missing}"
        );
        assert!(
            missing.contains("no Spark: no spark-submit on the PATH"),
            "{missing}"
        );

        let mut off = Config::default();
        off.discovery.enabled = false;
        assert_eq!(run(&mut off, &[], r), Report::default());
        assert!(off.storage.data_dir.is_none());
    }

    #[test]
    fn versions_from_old_and_new_dist_jar_names() {
        let root = tempfile::tempdir().unwrap();
        for (name, version) in [
            ("flink-dist-2.3.0.jar", "2.3.0"),
            ("flink-dist_2.12-1.14.6.jar", "1.14.6"),
        ] {
            let home = root.path().join(version);
            file(&home.join("lib").join(name));
            assert_eq!(flink_version(&home).as_deref(), Some(version));
        }
    }
}
