//! The validation interface between the package reader and component types.
//!
//! The reader knows the package layout; what a component of a given type must contain is the
//! business of that type's plugin. Each plugin supplies a [`ComponentRules`]; the reader looks the
//! rules up by type folder name in a [`RuleSet`]. The four PNDA types ship built in
//! ([`RuleSet::builtin`]) until the runtime plugins provide their own.

use crate::entry_path::EntryPath;
use crate::metadata::Component;
use crate::problem::code;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One thing a rule set found wrong with a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub code: String,
    /// The file inside the component the finding is about, relative to the component folder.
    pub file: Option<String>,
    pub message: String,
}

impl Finding {
    pub fn new(code: &str, file: Option<&str>, message: impl Into<String>) -> Self {
        Finding {
            code: code.to_string(),
            file: file.map(str::to_string),
            message: message.into(),
        }
    }
}

/// What a component type requires of a component's files.
pub trait ComponentRules: Send + Sync {
    /// The type folder name handled, e.g. `sparkStreaming` (case-sensitive, as in PNDA).
    fn component_type(&self) -> &str;

    /// Everything wrong with `component`; empty when it is acceptable.
    fn check(&self, component: &Component) -> Vec<Finding>;

    /// Whether [`ComponentRules::check`] needs the content of this file (relative to the
    /// component folder), e.g. to check that `workflow.xml` is well-formed. Such files are kept
    /// in memory while the package is read, up to [`crate::Limits::max_descriptor_bytes`].
    fn reads(&self, _relative_path: &str) -> bool {
        false
    }
}

/// The rule sets known to a reader, by component type.
#[derive(Clone, Default)]
pub struct RuleSet {
    by_type: BTreeMap<String, Arc<dyn ComponentRules>>,
}

impl RuleSet {
    pub fn empty() -> Self {
        RuleSet::default()
    }

    /// PNDA's four component types with PNDA's checks and messages ([`file_rules`]).
    pub fn builtin() -> Self {
        let mut set = RuleSet::empty();
        for component_type in BUILTIN_TYPES {
            set.register(Arc::new(Builtin { component_type }));
        }
        set
    }

    /// Adds (or replaces) the rules for one component type.
    pub fn register(&mut self, rules: Arc<dyn ComponentRules>) {
        self.by_type
            .insert(rules.component_type().to_string(), rules);
    }

    pub fn get(&self, component_type: &str) -> Option<&dyn ComponentRules> {
        self.by_type.get(component_type).map(|r| r.as_ref())
    }

    pub fn known_types(&self) -> impl Iterator<Item = &str> {
        self.by_type.keys().map(String::as_str)
    }

    /// Whether the rules of the entry's component type need its content.
    pub(crate) fn wants_content(&self, path: &EntryPath) -> bool {
        let segments: Vec<&str> = path.segments().collect();
        segments.len() >= 4
            && self
                .get(segments[1])
                .is_some_and(|rules| rules.reads(&segments[3..].join("/")))
    }
}

/// The component types whose file rules are [`file_rules`].
pub const BUILTIN_TYPES: [&str; 4] = ["flink", "sparkStreaming", "oozie", "jupyter"];

const UPSTART_DEPRECATED: &str = "Support for user supplied upstart.conf files has been deprecated, the deployment manager will \
     supply one automatically. Please see PNDA example-applications for usage.";

/// PNDA's rules on the files of a component of `component_type`, given the names of its files
/// (relative to the component folder), with PNDA's messages. The one home of these rules: the
/// offline validation ([`RuleSet::builtin`]) and the runtime plugins both call it. An unknown
/// type has no rules here.
pub fn file_rules<'a>(
    component_type: &str,
    files: impl IntoIterator<Item = &'a str>,
) -> Vec<Finding> {
    let files: Vec<&str> = files.into_iter().collect();
    let has = |name: &str| files.contains(&name);
    let required: &[&str] = match component_type {
        "flink" => &["application.properties"],
        "sparkStreaming" => &["application.properties", "log4j.properties"],
        "oozie" => &["workflow.xml"],
        _ => &[],
    };
    let mut findings: Vec<Finding> = required
        .iter()
        .filter(|file| !has(file))
        .map(|file| {
            Finding::new(
                code::MISSING_FILE,
                Some(file),
                format!("missing file {file}"),
            )
        })
        .collect();
    if component_type == "sparkStreaming" && has("upstart.conf") {
        findings.push(Finding::new(
            code::FORBIDDEN_FILE,
            Some("upstart.conf"),
            UPSTART_DEPRECATED,
        ));
    }
    // A notebook at any depth.
    if component_type == "jupyter" && !files.iter().any(|f| f.ends_with(".ipynb")) {
        findings.push(Finding::new(code::MISSING_FILE, None, "missing ipynb file"));
    }
    findings
}

/// The built-in rules of one of [`BUILTIN_TYPES`].
struct Builtin {
    component_type: &'static str,
}

impl ComponentRules for Builtin {
    fn component_type(&self) -> &str {
        self.component_type
    }

    fn check(&self, component: &Component) -> Vec<Finding> {
        file_rules(self.component_type, component.files())
    }
}
