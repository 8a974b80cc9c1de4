//! The package layout check and the metadata it produces, in PNDA's shape:
//! `{package_name, component_types: {type: {component: {component_name, component_path,
//! component_detail}}}}`.

use crate::entry_path::EntryPath;
use crate::problem::{code, Problem, Problems};
use crate::rules::RuleSet;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The descriptor every component may carry at its root; parsed, and defaulted to `{}`.
pub const PROPERTIES_JSON: &str = "properties.json";

/// What a package contains, as PNDA clients expect to see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageMetadata {
    pub package_name: String,
    pub component_types: BTreeMap<String, BTreeMap<String, Component>>,
}

impl PackageMetadata {
    /// PNDA's package "defaults": `{type: {component: properties.json}}`.
    pub fn defaults(&self) -> Value {
        let types = self.component_types.iter().map(|(ty, components)| {
            let components = components
                .iter()
                .map(|(name, c)| (name.clone(), Value::Object(c.properties().clone())));
            (ty.clone(), Value::Object(components.collect()))
        });
        Value::Object(types.collect())
    }

    pub fn components(&self) -> impl Iterator<Item = &Component> {
        self.component_types.values().flat_map(BTreeMap::values)
    }
}

/// One component: a folder `<package>/<type>/<name>/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    pub component_name: String,
    pub component_path: String,
    /// Every file and sub-folder, relative to the component folder, mapped to `{}`; except
    /// `properties.json`, mapped to its parsed content.
    pub component_detail: BTreeMap<String, Value>,
    /// Which keys of `component_detail` are files (PNDA did not tell files from folders).
    #[serde(skip)]
    files: BTreeSet<String>,
    /// The content of the files the component type's rules read (see [`crate::ComponentRules::reads`]).
    #[serde(skip)]
    contents: BTreeMap<String, Vec<u8>>,
}

impl Component {
    pub fn has_file(&self, relative_path: &str) -> bool {
        self.files.contains(relative_path)
    }

    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(String::as_str)
    }

    /// The content of a file its type's rules asked to read.
    pub fn content(&self, relative_path: &str) -> Option<&[u8]> {
        self.contents.get(relative_path).map(Vec::as_slice)
    }

    pub fn contents(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.contents
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// The component's `properties.json` (an object; `{}` when the file is absent).
    pub fn properties(&self) -> &Map<String, Value> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        match self.component_detail.get(PROPERTIES_JSON) {
            Some(Value::Object(map)) => map,
            _ => EMPTY.get_or_init(Map::new),
        }
    }
}

/// What an archive (or a folder) holds: every entry by kind, and the parsed `properties.json`
/// of each component. Built by a streaming reader; checked by [`check_layout`].
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub entries: BTreeMap<EntryPath, EntryKind>,
    pub properties: BTreeMap<EntryPath, Map<String, Value>>,
    /// Files kept in memory because a rule set reads them.
    pub contents: BTreeMap<EntryPath, Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    File,
    Dir,
}

impl Listing {
    /// Records an entry, refusing duplicates and file/folder clashes (which would make
    /// unpacking depend on entry order).
    pub fn add(&mut self, path: &EntryPath, kind: EntryKind) -> Result<(), Problem> {
        let clash =
            |what: &str| Problem::new(code::DUPLICATE_ENTRY, what.to_string()).at(path.as_str());
        for ancestor in path.ancestors() {
            match self
                .entries
                .get(&EntryPath::from_checked(ancestor.to_string()))
            {
                Some(EntryKind::File) => {
                    return Err(clash("entry lies inside a path that is also a file"))
                }
                Some(EntryKind::Dir) => {}
                None => {
                    self.entries.insert(
                        EntryPath::from_checked(ancestor.to_string()),
                        EntryKind::Dir,
                    );
                }
            }
        }
        match (self.entries.get(path), kind) {
            (None, _) => {
                self.entries.insert(path.clone(), kind);
                Ok(())
            }
            (Some(EntryKind::Dir), EntryKind::Dir) => Ok(()),
            (Some(EntryKind::File), EntryKind::File) => {
                Err(clash("file appears twice in the archive"))
            }
            _ => Err(clash("path is both a file and a folder")),
        }
    }

    /// True for `<package>/<type>/<component>/properties.json`, which is parsed, not just listed.
    pub fn is_component_properties(path: &EntryPath) -> bool {
        let segments: Vec<&str> = path.segments().collect();
        segments.len() == 4 && segments[3] == PROPERTIES_JSON
    }
}

/// Parses a component's `properties.json`, which must be a JSON object.
pub(crate) fn parse_properties(
    path: &EntryPath,
    bytes: &[u8],
) -> Result<Map<String, Value>, Problem> {
    let invalid = |why: String| Problem::new(code::INVALID_PROPERTIES, why).at(path.as_str());
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(invalid(format!(
            "properties.json must be a JSON object, not {}",
            json_kind(&other)
        ))),
        Err(e) => Err(invalid(format!("properties.json is not valid JSON: {e}"))),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks the package layout and every component against its type's rules, and builds the
/// metadata. All problems found are returned together.
/// `package` is the package id as named by the file (checked separately).
pub(crate) fn check_layout(
    package: &str,
    listing: &Listing,
    rules: &RuleSet,
) -> Result<PackageMetadata, Problems> {
    let mut problems = Vec::new();

    let top_level: BTreeSet<&str> = listing
        .entries
        .keys()
        .filter_map(|p| p.segments().next())
        .collect();
    let folder = match top_level.len() {
        0 => {
            problems.push(Problem::new(
                code::NO_PACKAGE_FOLDER,
                "Expected to find a single package directory inside the archive, but found none",
            ));
            None
        }
        1 => {
            let folder = *top_level.iter().next().expect("one element");
            let folder_path = EntryPath::from_checked(folder.to_string());
            if listing.entries.get(&folder_path) == Some(&EntryKind::File) {
                problems.push(
                    Problem::new(
                        code::NO_PACKAGE_FOLDER,
                        format!("Expected to find a single package directory inside the archive, but found the file {folder}"),
                    )
                    .at(folder),
                );
            } else if folder != package {
                problems.push(
                    Problem::new(
                        code::FOLDER_MISMATCH,
                        format!("package name must match name of enclosed folder but found {package} and {folder}"),
                    )
                    .at(folder),
                );
            }
            Some(folder)
        }
        _ => {
            let found: Vec<&str> = top_level.iter().copied().collect();
            problems.push(
                Problem::new(
                    code::MULTIPLE_TOP_LEVEL,
                    "Expected to find a single directory inside the archive, but found more than one item at the top level",
                )
                .at(found.join(", ")),
            );
            None
        }
    };

    let mut component_types: BTreeMap<String, BTreeMap<String, Component>> = BTreeMap::new();
    if let Some(folder) = folder {
        for (path, kind) in &listing.entries {
            let segments: Vec<&str> = path.segments().collect();
            // Like PNDA: entries less than four deep (the type and component folders, and files
            // lying directly in the package or a type folder) are not part of any component.
            if segments.len() < 4 || segments[0] != folder {
                continue;
            }
            let (ty, name) = (segments[1], segments[2]);
            let component = component_types
                .entry(ty.to_string())
                .or_default()
                .entry(name.to_string())
                .or_insert_with(|| Component {
                    component_name: name.to_string(),
                    component_path: format!("{folder}/{ty}/{name}"),
                    component_detail: BTreeMap::new(),
                    files: BTreeSet::new(),
                    contents: BTreeMap::new(),
                });
            let relative = segments[3..].join("/");
            let detail = listing
                .properties
                .get(path)
                .filter(|_| relative == PROPERTIES_JSON);
            component.component_detail.insert(
                relative.clone(),
                detail.map_or(Value::Object(Map::new()), |m| Value::Object(m.clone())),
            );
            if let Some(content) = listing.contents.get(path) {
                component.contents.insert(relative.clone(), content.clone());
            }
            if *kind == EntryKind::File {
                component.files.insert(relative);
            }
        }
        if component_types.is_empty() {
            problems.push(Problem::new(
                code::NO_COMPONENTS,
                "Expected to find at least one component within the package directory",
            ));
        }
    }

    let known: Vec<&str> = rules.known_types().collect();
    for (ty, components) in &mut component_types {
        let type_rules = rules.get(ty);
        if type_rules.is_none() {
            problems.push(
                Problem::new(
                    code::UNKNOWN_COMPONENT_TYPE,
                    format!(
                        "unknown component type '{ty}' (known types: {})",
                        known.join(", ")
                    ),
                )
                .at(format!("{}/{ty}", folder.unwrap_or_default())),
            );
        }
        for (name, component) in components.iter_mut() {
            component
                .component_detail
                .entry(PROPERTIES_JSON.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !is_valid_component_name(name) {
                problems.push(
                    Problem::new(
                        code::BAD_COMPONENT_NAME,
                        format!("component name {name} may only contain a-z A-Z 0-9 . _ - and must not start with ."),
                    )
                    .at(&component.component_path)
                    .in_component(ty, name),
                );
            }
            for finding in type_rules.map(|r| r.check(component)).unwrap_or_default() {
                let path = match &finding.file {
                    Some(file) => format!("{}/{file}", component.component_path),
                    None => component.component_path.clone(),
                };
                problems.push(
                    Problem {
                        code: finding.code,
                        path: Some(path),
                        component: None,
                        message: finding.message,
                    }
                    .in_component(ty, name),
                );
            }
        }
    }

    if problems.is_empty() {
        Ok(PackageMetadata {
            package_name: package.to_string(),
            component_types,
        })
    } else {
        Err(Problems(problems))
    }
}

/// Component names end up in job names, unit names and HDFS paths.
fn is_valid_component_name(name: &str) -> bool {
    !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}
