//! Flink 1.x's `flink run -m yarn-cluster` options (`-yn 1 -yjm 1024 -ytm 1024`, as PNDA's
//! packages set them in `flink_config_args`), translated into the configuration keys that
//! `flink run -t yarn-application` reads on Flink 1.20 and 2.x: one home for the `flink` plugin
//! and the Flink jobs the `oozie` plugin runs. Passed through as they are,
//! Flink takes `-yn` for the jar. What has no configuration key is refused, naming the option.

/// `flink_config_args` with the legacy options replaced, and what was changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Translated {
    pub args: Vec<String>,
    /// The YARN application name from `-ynm`, which replaces dm's default name.
    pub yarn_name: Option<String>,
    /// One line per option translated or dropped, for the plan and the logs.
    pub warnings: Vec<String>,
}

/// What a legacy option becomes.
enum Rule {
    /// `-D<key>=<value>`, the value checked and normalised by the function.
    Key(&'static str, fn(&str) -> Result<String, String>),
    /// `-yD k=v` → `-Dk=v`.
    Dynamic,
    /// The YARN application name.
    Name,
    /// Dropped with a warning saying why; `true` when it takes a value.
    Drop(bool, &'static str),
    /// Refused at create, saying why.
    Refuse(&'static str),
}

/// Short and long names of Flink 1.x's YARN options (`FlinkYarnSessionCli`).
fn rule(option: &str) -> Option<(&'static str, Rule)> {
    use Rule::*;
    let found = match option {
        "-yn" | "--yarncontainer" => (
            "-yn",
            Drop(
                true,
                "YARN allocates TaskManagers on demand since Flink 1.10",
            ),
        ),
        "-yjm" | "--yarnjobManagerMemory" => ("-yjm", Key("jobmanager.memory.process.size", memory)),
        "-ytm" | "--yarntaskManagerMemory" => {
            ("-ytm", Key("taskmanager.memory.process.size", memory))
        }
        "-ys" | "--yarnslots" => ("-ys", Key("taskmanager.numberOfTaskSlots", positive)),
        "-yqu" | "--yarnqueue" => ("-yqu", Key("yarn.application.queue", non_empty)),
        "-ynl" | "--yarnnodeLabel" => ("-ynl", Key("yarn.application.node-label", non_empty)),
        "-yt" | "--yarnship" => ("-yt", Key("yarn.ship-files", non_empty)),
        "-yj" | "--yarnjar" => ("-yj", Key("yarn.flink-dist-jar", non_empty)),
        "-yz" | "--yarnzookeeperNamespace" => {
            ("-yz", Key("high-availability.cluster-id", non_empty))
        }
        "-ynm" | "--yarnname" => ("-ynm", Name),
        "-yD" => ("-yD", Dynamic),
        "-yd" | "--yarndetached" => (
            "-yd",
            Drop(false, "dm submits every job detached"),
        ),
        "-yst" | "--yarnstreaming" => (
            "-yst",
            Drop(false, "Flink chooses streaming or batch from the job itself"),
        ),
        "-yid" | "--yarnapplicationId" => (
            "-yid",
            Refuse("dm starts an application of its own for each job and cannot attach to a running YARN session"),
        ),
        "-yat" | "--yarnapplicationType" => (
            "-yat",
            Refuse("dm recognises its jobs on YARN by their application type"),
        ),
        "-yh" | "--yarnhelp" => ("-yh", Refuse("it prints help instead of running the job")),
        _ => return None,
    };
    Some(found)
}

/// Translates the legacy options of `args`; others pass through unchanged and in order.
pub fn translate(args: &[String]) -> Result<Translated, String> {
    let mut out = Translated::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        // `-m yarn-cluster` chose Flink 1.x's YARN client; dm chooses the target itself.
        if arg == "-m" || arg == "--jobmanager" {
            match args.get(i).map(String::as_str) {
                Some("yarn-cluster") => {
                    i += 1;
                    out.warnings.push(format!(
                        "flink_config_args: {arg} yarn-cluster dropped: dm chooses the execution target"
                    ));
                    continue;
                }
                _ => {
                    return Err(format!(
                        "flink_config_args: {arg} cannot be used: dm chooses where the job runs"
                    ))
                }
            }
        }
        // `-yDk=v` is the attached form of `-yD k=v`; `--long=value` of `--long value`.
        let (name, attached) = if let Some(rest) = arg.strip_prefix("-yD").filter(|r| !r.is_empty())
        {
            ("-yD", Some(rest.to_string()))
        } else if let Some((long, value)) = arg.split_once('=').filter(|(l, _)| l.starts_with("--"))
        {
            (long, Some(value.to_string()))
        } else {
            (arg.as_str(), None)
        };
        let Some((short, rule)) = rule(name) else {
            if is_legacy_yarn_option(name) {
                return Err(format!(
                    "flink_config_args: {name} is a Flink 1.x YARN option that dm cannot translate; \
                     set the matching Flink configuration key with -D<key>=<value> instead"
                ));
            }
            out.args.push(arg.clone());
            continue;
        };
        let takes_value = !matches!(rule, Rule::Drop(false, _) | Rule::Refuse(_));
        let value = if !takes_value {
            None
        } else if let Some(value) = attached {
            Some(value)
        } else {
            let value = args
                .get(i)
                .ok_or_else(|| format!("flink_config_args: {name} needs a value"))?;
            i += 1;
            Some(value.clone())
        };
        let value = value.unwrap_or_default();
        match rule {
            Rule::Key(key, check) => {
                let value = check(&value)
                    .map_err(|why| format!("flink_config_args: {name} {value}: {why}"))?;
                let new = format!("-D{key}={value}");
                out.warnings
                    .push(format!("flink_config_args: {short} translated to {new}"));
                out.args.push(new);
            }
            Rule::Dynamic => {
                let Some((key, _)) = value.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                    return Err(format!(
                        "flink_config_args: -yD {value}: expected key=value"
                    ));
                };
                let new = format!("-D{value}");
                out.warnings.push(format!(
                    "flink_config_args: -yD {key} translated to -D{key}"
                ));
                out.args.push(new);
            }
            Rule::Name => {
                non_empty(&value).map_err(|why| format!("flink_config_args: {name}: {why}"))?;
                out.warnings.push(format!(
                    "flink_config_args: {short} {value} translated to -Dyarn.application.name={value}"
                ));
                out.yarn_name = Some(value);
            }
            Rule::Drop(_, why) => out
                .warnings
                .push(format!("flink_config_args: {short} dropped: {why}")),
            Rule::Refuse(why) => {
                return Err(format!(
                    "flink_config_args: {name} cannot be translated: {why}"
                ))
            }
        }
    }
    Ok(out)
}

/// `-y…` short options and `--yarn…` long ones were the YARN client's; no other Flink CLI
/// option starts so.
fn is_legacy_yarn_option(arg: &str) -> bool {
    (arg.starts_with("-y") && arg.len() > 2 && !arg.starts_with("--")) || arg.starts_with("--yarn")
}

/// A memory size: Flink 1.x read a bare number as megabytes; with a unit it is kept as is.
fn memory(value: &str) -> Result<String, String> {
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &value[digits.len()..];
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err("expected a memory size such as 1024 (megabytes) or 2g".into());
    }
    const UNITS: [&str; 15] = [
        "b",
        "bytes",
        "k",
        "kb",
        "kibibytes",
        "m",
        "mb",
        "mebibytes",
        "g",
        "gb",
        "gibibytes",
        "t",
        "tb",
        "tebibytes",
        "",
    ];
    let unit = unit.to_ascii_lowercase();
    if !UNITS.contains(&unit.as_str()) {
        return Err(format!("unknown memory unit {unit}"));
    }
    Ok(if unit.is_empty() {
        format!("{digits}m")
    } else {
        format!("{digits}{unit}")
    })
}

fn positive(value: &str) -> Result<String, String> {
    match value.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n.to_string()),
        _ => Err("expected a whole number greater than 0".into()),
    }
}

fn non_empty(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        Err("expected a value".into())
    } else {
        Ok(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn pndas_example_flags_become_memory_keys_and_yn_is_dropped() {
        // flink-streaming-word-count's properties.json in pndaproject/example-applications.
        let t = translate(&args("-yn 1 -yjm 1024 -ytm 1024")).unwrap();
        assert_eq!(
            t.args,
            [
                "-Djobmanager.memory.process.size=1024m",
                "-Dtaskmanager.memory.process.size=1024m"
            ]
        );
        assert_eq!(t.warnings.len(), 3, "{:?}", t.warnings);
        assert!(t.warnings[0].contains("-yn dropped"), "{:?}", t.warnings);
    }

    #[test]
    fn every_translatable_option_in_short_long_and_attached_forms() {
        let t = translate(&args(
            "-ys 4 --yarnqueue=streaming -yqu q2 -yDenv.java.opts=-Xss2m -yD a.b=c -ynm my-job \
             --yarntaskManagerMemory 2g -yd -m yarn-cluster -p 2",
        ))
        .unwrap();
        assert_eq!(
            t.args,
            [
                "-Dtaskmanager.numberOfTaskSlots=4",
                "-Dyarn.application.queue=streaming",
                "-Dyarn.application.queue=q2",
                "-Denv.java.opts=-Xss2m",
                "-Da.b=c",
                "-Dtaskmanager.memory.process.size=2g",
                "-p",
                "2"
            ]
        );
        assert_eq!(t.yarn_name.as_deref(), Some("my-job"));
    }

    #[test]
    fn options_that_are_not_legacy_pass_through_unchanged() {
        let plain = args("-p 4 -Dstate.backend.type=rocksdb --detached -sae");
        let t = translate(&plain).unwrap();
        assert_eq!(t.args, plain);
        assert!(t.warnings.is_empty());
    }

    #[test]
    fn what_cannot_be_translated_is_refused_naming_the_option() {
        for (text, named) in [
            ("-yid application_1_0001", "-yid"),
            ("-yat custom", "-yat"),
            ("-yxyz 3", "-yxyz"),
            ("--yarnfoo 1", "--yarnfoo"),
            ("-m localhost:8081", "-m"),
            ("-yjm lots", "-yjm lots"),
            ("-yjm 10zb", "-yjm 10zb"),
            ("-ys 0", "-ys 0"),
            ("-yD novalue", "-yD novalue"),
            ("-ytm", "-ytm needs a value"),
        ] {
            let err = translate(&args(text)).unwrap_err();
            assert!(err.contains(named), "{text}: {err}");
        }
    }

    #[test]
    fn sizes_with_a_unit_are_kept() {
        assert_eq!(memory("1024").unwrap(), "1024m");
        assert_eq!(memory("1536mb").unwrap(), "1536mb");
        assert_eq!(memory("2G").unwrap(), "2g");
    }
}
