//! Loading plugins at run time (the `dmd` side of the ABI).
//!
//! [`load_dir`] opens every shared library in a folder; a file that is not a plugin, or a
//! plugin built for another ABI version, is reported and skipped, and the others still load.

use crate::abi::{
    method, Bytes, ErrorKind, OwnedBuffer, PluginDescriptor, PluginError, Status, WireFinding,
    ABI_VERSION, ENTRY_SYMBOL,
};
use crate::observe::{ComponentRef, ComponentSummary, Observations, Observe};
use crate::{ComponentFiles, Plan, PlanRequest};
use packaging::{code, Component, ComponentRules, Finding};
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// A loaded plugin. The library stays loaded as long as this value lives.
pub struct LoadedPlugin {
    descriptor: &'static PluginDescriptor,
    component_type: String,
    version: String,
    /// The files its validation reads (asked once, at load).
    reads: Vec<String>,
    /// What dmd observes of its components (asked once, at load).
    observe: Observe,
    file: PathBuf,
    // Dropped last: the descriptor points into it.
    _library: libloading::Library,
}

/// What `GET /plugins` shows of a plugin.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PluginInfo {
    #[serde(rename = "type")]
    pub component_type: String,
    pub version: String,
    pub file: String,
}

/// Why a file could not be loaded as a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub file: PathBuf,
    pub reason: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plugin {} refused: {}", self.file.display(), self.reason)
    }
}

impl std::error::Error for LoadError {}

/// A failed call into a plugin: which plugin, which method, what kind of failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// The plugin's component type.
    pub plugin: String,
    pub method: &'static str,
    pub kind: ErrorKind,
    pub message: String,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plugin {}: {}", self.plugin, self.message)
    }
}

impl std::error::Error for CallError {}

impl LoadedPlugin {
    /// Opens `file` and checks it is a plugin of this ABI version.
    pub fn open(file: &Path) -> Result<LoadedPlugin, LoadError> {
        let refuse = |reason: String| LoadError {
            file: file.to_path_buf(),
            reason,
        };
        // SAFETY: loading runs the library's initialisers; plugins come from the operator's
        // plugins folder, which is as trusted as dmd's own binary.
        let library = unsafe { libloading::Library::new(file) }
            .map_err(|e| refuse(format!("not a loadable library: {e}")))?;
        let descriptor: &'static PluginDescriptor = unsafe {
            let entry = library
                .get::<unsafe extern "C" fn() -> *const PluginDescriptor>(ENTRY_SYMBOL)
                .map_err(|_| refuse("not a dm plugin (no dm_plugin_entry symbol)".to_string()))?;
            let pointer = entry();
            if pointer.is_null() {
                return Err(refuse("dm_plugin_entry returned nothing".to_string()));
            }
            // Only the version is read before it is checked: it is the one stable field.
            let version = std::ptr::read(pointer as *const u32);
            if version != ABI_VERSION {
                return Err(refuse(format!(
                    "built for plugin ABI version {version}, this dmd speaks version {ABI_VERSION}"
                )));
            }
            &*pointer
        };
        let text = |bytes: Bytes, what: &str| {
            // SAFETY: static data of the loaded library.
            String::from_utf8(unsafe { bytes.as_slice() }.to_vec())
                .map_err(|_| refuse(format!("{what} is not UTF-8")))
        };
        let component_type = text(descriptor.component_type, "component type")?;
        let version = text(descriptor.plugin_version, "plugin version")?;
        let mut plugin = LoadedPlugin {
            descriptor,
            component_type,
            version,
            reads: Vec::new(),
            observe: Observe::Nothing,
            file: file.to_path_buf(),
            _library: library,
        };
        plugin.reads = plugin
            .call(method::READS, &serde_json::json!({}))
            .map_err(|e| refuse(format!("cannot ask what it reads: {e}")))?;
        plugin.observe = plugin
            .call(method::OBSERVES, &serde_json::json!({}))
            .map_err(|e| refuse(format!("cannot ask what it observes: {e}")))?;
        Ok(plugin)
    }

    pub fn info(&self) -> PluginInfo {
        PluginInfo {
            component_type: self.component_type.clone(),
            version: self.version.clone(),
            file: self.file.display().to_string(),
        }
    }

    pub fn component_type_name(&self) -> &str {
        &self.component_type
    }

    /// Calls `method` with `input` serialised to JSON; decodes the answer.
    fn call<I: Serialize, O: serde::de::DeserializeOwned>(
        &self,
        method: &'static str,
        input: &I,
    ) -> Result<O, CallError> {
        let fail = |kind, message| CallError {
            plugin: self.component_type.clone(),
            method,
            kind,
            message,
        };
        let input = serde_json::to_vec(input).map_err(|e| {
            fail(
                ErrorKind::BadRequest,
                format!("cannot encode the {method} request: {e}"),
            )
        })?;
        let mut output = OwnedBuffer::empty();
        // SAFETY: the descriptor's functions follow the ABI; the buffers outlive the call, and
        // the output is given back to the plugin's own `free`.
        let (status, bytes) = unsafe {
            let status = (self.descriptor.call)(
                Bytes {
                    ptr: method.as_ptr(),
                    len: method.len(),
                },
                Bytes {
                    ptr: input.as_ptr(),
                    len: input.len(),
                },
                &mut output,
            );
            let bytes = if output.ptr.is_null() {
                Vec::new()
            } else {
                std::slice::from_raw_parts(output.ptr, output.len).to_vec()
            };
            (self.descriptor.free)(output);
            (status, bytes)
        };
        if status == Status::Ok as i32 {
            return serde_json::from_slice(&bytes).map_err(|e| {
                fail(
                    ErrorKind::BadAnswer,
                    format!("answered {method} with bad JSON: {e}"),
                )
            });
        }
        let error = serde_json::from_slice::<PluginError>(&bytes).unwrap_or_else(|_| {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            PluginError::new(ErrorKind::BadAnswer, text)
        });
        Err(fail(error.kind, error.message))
    }

    /// The plugin's findings on a component.
    pub fn validate(&self, component: &ComponentFiles) -> Result<Vec<Finding>, CallError> {
        let findings: Vec<WireFinding> = self.call(method::VALIDATE, component)?;
        Ok(findings.into_iter().map(Finding::from).collect())
    }

    /// The plugin's plan for a component.
    pub fn plan(&self, request: &PlanRequest) -> Result<Plan, CallError> {
        self.call(method::PLAN, request)
    }

    /// What dmd observes of the plugin's components.
    pub fn observe(&self) -> Observe {
        self.observe
    }

    /// The plugin's summary of a component from what dmd observed.
    pub fn summarize(
        &self,
        component: &ComponentRef,
        observations: &Observations,
    ) -> Result<ComponentSummary, CallError> {
        // `SummarizeRequest`'s JSON, from borrowed parts.
        #[derive(Serialize)]
        struct Request<'a> {
            component: &'a ComponentRef,
            observations: &'a Observations,
        }
        let request = Request {
            component,
            observations,
        };
        self.call(method::SUMMARIZE, &request)
    }
}

/// Plugins check packages through the same interface as the built-in rules.
impl ComponentRules for LoadedPlugin {
    fn component_type(&self) -> &str {
        &self.component_type
    }

    fn reads(&self, relative_path: &str) -> bool {
        self.reads.iter().any(|r| r == relative_path)
    }

    fn check(&self, component: &Component) -> Vec<Finding> {
        let files = ComponentFiles {
            component_type: self.component_type.clone(),
            name: component.component_name.clone(),
            files: component.files().map(str::to_string).collect(),
            properties: component.properties().clone(),
            contents: component
                .contents()
                .map(|(path, bytes)| {
                    (
                        path.to_string(),
                        String::from_utf8_lossy(bytes).into_owned(),
                    )
                })
                .collect(),
        };
        self.validate(&files).unwrap_or_else(|e| {
            vec![Finding::new(
                code::IO_ERROR,
                None,
                format!("cannot validate: {e}"),
            )]
        })
    }
}

/// Loads every shared library (`*.so`, `*.dylib`) in `dir`, in name order. Files that fail to
/// load are returned beside the plugins that did; a second plugin for an already-loaded type is
/// refused too.
pub fn load_dir(dir: &Path) -> Result<(Vec<LoadedPlugin>, Vec<LoadError>), std::io::Error> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("so" | "dylib")))
        .collect();
    files.sort();
    let mut plugins: Vec<LoadedPlugin> = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        match LoadedPlugin::open(&file) {
            Ok(plugin) => {
                if let Some(first) = plugins
                    .iter()
                    .find(|p| p.component_type == plugin.component_type)
                {
                    errors.push(LoadError {
                        file,
                        reason: format!(
                            "component type {} is already handled by {}",
                            plugin.component_type,
                            first.file.display()
                        ),
                    });
                } else {
                    plugins.push(plugin);
                }
            }
            Err(error) => errors.push(error),
        }
    }
    Ok((plugins, errors))
}
