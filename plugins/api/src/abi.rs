//! The C ABI between `dmd` and a plugin library.
//!
//! A plugin exports one symbol, [`ENTRY_SYMBOL`], a function returning a pointer to a static
//! [`PluginDescriptor`]. The descriptor's first field is the ABI version: the host reads it before
//! anything else and refuses a mismatch, so later versions may change everything after it.
//! Requests and answers cross as UTF-8 JSON; answers are buffers owned by the plugin and handed
//! back to its `free`. Panics are caught on the plugin side and returned as errors: unwinding
//! never crosses the boundary.
//!
//! Version 2 added `observes` and `summarize` (a component's status derived by its plugin) and
//! typed errors (`{"kind", "message"}`).

use crate::observe::{ComponentSummary, Observe, SummarizeRequest};
use crate::{ComponentFiles, Plan, PlanRequest};
use packaging::Finding;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Bumped on any incompatible change of the descriptor or of the JSON it carries.
pub const ABI_VERSION: u32 = 2;

/// The one symbol a plugin library exports (NUL-terminated for `dlsym`).
pub const ENTRY_SYMBOL: &[u8] = b"dm_plugin_entry\0";

/// Borrowed UTF-8 bytes.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Bytes {
    pub ptr: *const u8,
    pub len: usize,
}

impl Bytes {
    pub const fn from_static(s: &'static str) -> Bytes {
        Bytes {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// # Safety
    /// `ptr` must point to `len` readable bytes that outlive `'a`.
    pub unsafe fn as_slice<'a>(self) -> &'a [u8] {
        if self.len == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(self.ptr, self.len)
        }
    }
}

/// A buffer allocated by the plugin; the host must give it back to the plugin's `free`.
#[repr(C)]
pub struct OwnedBuffer {
    pub ptr: *mut u8,
    pub len: usize,
    pub capacity: usize,
}

impl OwnedBuffer {
    pub fn empty() -> OwnedBuffer {
        OwnedBuffer {
            ptr: std::ptr::null_mut(),
            len: 0,
            capacity: 0,
        }
    }

    fn from_vec(bytes: Vec<u8>) -> OwnedBuffer {
        let mut bytes = std::mem::ManuallyDrop::new(bytes);
        OwnedBuffer {
            ptr: bytes.as_mut_ptr(),
            len: bytes.len(),
            capacity: bytes.capacity(),
        }
    }
}

/// What `call` returned.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The output holds the method's JSON answer.
    Ok = 0,
    /// The output holds a [`PluginError`]: the request was understood and refused.
    Error = 1,
    /// The output holds a [`PluginError`]: the plugin panicked (caught on its side).
    Panic = 2,
    /// The method is not known to this plugin.
    UnknownMethod = 3,
}

/// The static table a plugin exposes.
#[repr(C)]
pub struct PluginDescriptor {
    /// Must stay the first field; see the module documentation.
    pub abi_version: u32,
    /// The component type folder name handled, e.g. `flink`.
    pub component_type: Bytes,
    /// The plugin's own version, for `GET /plugins`.
    pub plugin_version: Bytes,
    /// Runs `method` on the JSON `input`, writing the answer to `output`; returns a [`Status`].
    pub call: unsafe extern "C" fn(method: Bytes, input: Bytes, output: *mut OwnedBuffer) -> i32,
    /// Frees a buffer that `call` produced.
    pub free: unsafe extern "C" fn(buffer: OwnedBuffer),
}

// The descriptor is immutable static data.
unsafe impl Sync for PluginDescriptor {}

/// Method names carried by `call`.
pub mod method {
    /// [`crate::ComponentFiles`] → `[Finding]`.
    pub const VALIDATE: &str = "validate";
    /// [`crate::PlanRequest`] → [`crate::Plan`].
    pub const PLAN: &str = "plan";
    /// `{}` → the files `validate` reads, `[String]`.
    pub const READS: &str = "reads";
    /// `{}` → what dmd observes of the type's components, [`crate::observe::Observe`].
    pub const OBSERVES: &str = "observes";
    /// [`crate::observe::SummarizeRequest`] → [`crate::observe::ComponentSummary`].
    pub const SUMMARIZE: &str = "summarize";
}

/// A finding as it crosses the boundary.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WireFinding {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub message: String,
}

impl From<Finding> for WireFinding {
    fn from(f: Finding) -> Self {
        WireFinding {
            code: f.code,
            file: f.file,
            message: f.message,
        }
    }
}

impl From<WireFinding> for Finding {
    fn from(f: WireFinding) -> Self {
        Finding {
            code: f.code,
            file: f.file,
            message: f.message,
        }
    }
}

/// What kind of failure a plugin call met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// Understood and refused: what the component holds (its properties, its files) is wrong.
    Invalid,
    /// The request could not be decoded: host and plugin disagree on what crosses.
    BadRequest,
    /// The plugin does not know the method.
    UnknownMethod,
    /// The plugin panicked (caught on its side).
    Panic,
    /// An answer that could not be encoded, or decoded by the host.
    BadAnswer,
}

/// A refused or failed call, as it crosses the boundary: its kind, and a message naming what
/// is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginError {
    pub kind: ErrorKind,
    pub message: String,
}

impl PluginError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> PluginError {
        PluginError {
            kind,
            message: message.into(),
        }
    }

    /// The component is wrong (`ErrorKind::Invalid`).
    pub fn invalid(message: impl Into<String>) -> PluginError {
        PluginError::new(ErrorKind::Invalid, message)
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PluginError {}

/// What a component type implements, in plain Rust. [`export_plugin!`](crate::export_plugin)
/// turns an implementation into a loadable plugin.
pub trait ComponentPlugin: Sync + 'static {
    /// The component type folder name handled, e.g. `sparkStreaming`.
    const COMPONENT_TYPE: &'static str;

    /// Files (relative to the component folder) whose text `validate` needs; dmd reads them
    /// while it reads the package, within its descriptor size limit.
    const READS: &'static [&'static str] = &[];

    /// What a component of this type must contain; empty when acceptable.
    fn validate(&self, component: &ComponentFiles) -> Vec<Finding>;

    /// What dmd observes of the type's components. The default: a job on YARN that dm
    /// started through the supervisor, no engine asked.
    const OBSERVE: Observe = Observe::Yarn {
        engine: None,
        supervised: true,
    };

    /// What to do to run the component; `Err` names what is wrong with its properties.
    fn plan(&self, request: &PlanRequest) -> Result<Plan, PluginError>;

    /// The component's summary from what dmd observed as [`Self::OBSERVE`] declared. Pure: no
    /// I/O. The default reads YARN and the supervisor ([`crate::summarize::yarn_job`]).
    fn summarize(&self, request: &SummarizeRequest) -> Result<ComponentSummary, PluginError> {
        Ok(crate::summarize::yarn_job(
            &request.component,
            &request.observations,
        ))
    }
}

/// Decodes a request, runs `f`, encodes its answer.
fn handle<'a, I: Deserialize<'a>, O: Serialize>(
    what: &str,
    input: &'a [u8],
    f: impl FnOnce(I) -> Result<O, PluginError>,
) -> Result<Vec<u8>, PluginError> {
    let request = serde_json::from_slice::<I>(input)
        .map_err(|e| PluginError::new(ErrorKind::BadRequest, format!("bad {what} request: {e}")))?;
    let answer = f(request)?;
    serde_json::to_vec(&answer).map_err(|e| {
        PluginError::new(
            ErrorKind::BadAnswer,
            format!("cannot encode the answer: {e}"),
        )
    })
}

/// The plugin side of `call`: decodes, dispatches, encodes, and catches panics.
pub fn dispatch<P: ComponentPlugin>(plugin: &P, method: &[u8], input: &[u8]) -> (Status, Vec<u8>) {
    let outcome = catch_unwind(AssertUnwindSafe(|| match method {
        m if m == method::VALIDATE.as_bytes() => Some(handle("validate", input, |c| {
            let findings = plugin.validate(&c).into_iter().map(WireFinding::from);
            Ok(findings.collect::<Vec<_>>())
        })),
        m if m == method::READS.as_bytes() => Some(handle("reads", input, |_: Value| Ok(P::READS))),
        m if m == method::PLAN.as_bytes() => {
            Some(handle("plan", input, |r: PlanRequest| plugin.plan(&r)))
        }
        m if m == method::OBSERVES.as_bytes() => {
            Some(handle("observes", input, |_: Value| Ok(P::OBSERVE)))
        }
        m if m == method::SUMMARIZE.as_bytes() => {
            Some(handle("summarize", input, |r: SummarizeRequest| {
                plugin.summarize(&r)
            }))
        }
        _ => None,
    }));
    let error =
        |status, error: PluginError| (status, serde_json::to_vec(&error).unwrap_or_default());
    match outcome {
        Ok(Some(Ok(json))) => (Status::Ok, json),
        Ok(Some(Err(e))) => error(Status::Error, e),
        Ok(None) => error(
            Status::UnknownMethod,
            PluginError::new(
                ErrorKind::UnknownMethod,
                format!("unknown method {}", String::from_utf8_lossy(method)),
            ),
        ),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            let e = PluginError::new(ErrorKind::Panic, format!("plugin panicked: {message}"));
            error(Status::Panic, e)
        }
    }
}

/// Writes a dispatch result into the host's output slot. Used by [`export_plugin!`](crate::export_plugin).
///
/// # Safety
/// `output` must be a valid, writable pointer.
pub unsafe fn answer(result: (Status, Vec<u8>), output: *mut OwnedBuffer) -> i32 {
    let (status, bytes) = result;
    if !output.is_null() {
        output.write(OwnedBuffer::from_vec(bytes));
    }
    status as i32
}

/// Frees a buffer made by [`answer`]. Used by [`export_plugin!`](crate::export_plugin).
///
/// # Safety
/// `buffer` must come from [`answer`] in this same library, and be freed once.
pub unsafe fn free_buffer(buffer: OwnedBuffer) {
    if !buffer.ptr.is_null() {
        drop(Vec::from_raw_parts(buffer.ptr, buffer.len, buffer.capacity));
    }
}

/// Exports a [`ComponentPlugin`] as a loadable plugin: `export_plugin!(MyPlugin, MyPlugin)`,
/// where the expression is a constant of the plugin type.
#[macro_export]
macro_rules! export_plugin {
    ($ty:ty, $value:expr) => {
        static DM_PLUGIN: $ty = $value;

        unsafe extern "C" fn dm_plugin_call(
            method: $crate::abi::Bytes,
            input: $crate::abi::Bytes,
            output: *mut $crate::abi::OwnedBuffer,
        ) -> i32 {
            let result = $crate::abi::dispatch(&DM_PLUGIN, method.as_slice(), input.as_slice());
            $crate::abi::answer(result, output)
        }

        unsafe extern "C" fn dm_plugin_free(buffer: $crate::abi::OwnedBuffer) {
            $crate::abi::free_buffer(buffer)
        }

        static DM_PLUGIN_DESCRIPTOR: $crate::abi::PluginDescriptor =
            $crate::abi::PluginDescriptor {
                abi_version: $crate::abi::ABI_VERSION,
                component_type: $crate::abi::Bytes::from_static(
                    <$ty as $crate::abi::ComponentPlugin>::COMPONENT_TYPE,
                ),
                plugin_version: $crate::abi::Bytes::from_static(env!("CARGO_PKG_VERSION")),
                call: dm_plugin_call,
                free: dm_plugin_free,
            };

        /// The plugin's entry point, looked up by `dmd`.
        #[no_mangle]
        pub extern "C" fn dm_plugin_entry() -> *const $crate::abi::PluginDescriptor {
            &DM_PLUGIN_DESCRIPTOR
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ComponentFiles, Plan, PlanRequest};

    struct Panicky;

    impl ComponentPlugin for Panicky {
        const COMPONENT_TYPE: &'static str = "panicky";

        fn validate(&self, _: &ComponentFiles) -> Vec<Finding> {
            vec![Finding::new("odd", Some("x"), "odd file")]
        }

        fn plan(&self, _: &PlanRequest) -> Result<Plan, PluginError> {
            panic!("planner bug")
        }
    }

    fn message(bytes: &[u8]) -> String {
        serde_json::from_slice::<PluginError>(bytes)
            .unwrap()
            .message
    }

    fn kind(bytes: &[u8]) -> ErrorKind {
        serde_json::from_slice::<PluginError>(bytes).unwrap().kind
    }

    #[test]
    fn a_panic_becomes_an_error_answer() {
        let request = br#"{"application":"a","user":"u","component":{"component_type":"panicky","name":"c","files":[]},
            "properties":{},"target":"yarn","engines":{},"workdir":"/w"}"#;
        let (status, bytes) = dispatch(&Panicky, b"plan", request);
        assert_eq!(status, Status::Panic);
        assert_eq!(message(&bytes), "plugin panicked: planner bug");
        assert_eq!(kind(&bytes), ErrorKind::Panic);
    }

    #[test]
    fn bad_requests_and_unknown_methods_are_refused() {
        let (status, bytes) = dispatch(&Panicky, b"validate", b"{not json");
        assert_eq!(status, Status::Error);
        assert!(message(&bytes).starts_with("bad validate request"));
        assert_eq!(kind(&bytes), ErrorKind::BadRequest);
        let (status, bytes) = dispatch(&Panicky, b"summarize", b"{}");
        assert_eq!(
            (status, kind(&bytes)),
            (Status::Error, ErrorKind::BadRequest)
        );
        assert!(
            message(&bytes).starts_with("bad summarize request"),
            "{}",
            message(&bytes)
        );
        let (status, bytes) = dispatch(&Panicky, b"undeploy", b"{}");
        assert_eq!(status, Status::UnknownMethod);
        assert_eq!(message(&bytes), "unknown method undeploy");
        assert_eq!(kind(&bytes), ErrorKind::UnknownMethod);
        let (status, bytes) = dispatch(
            &Panicky,
            b"validate",
            br#"{"component_type":"panicky","name":"c","files":["x"]}"#,
        );
        assert_eq!(status, Status::Ok);
        assert_eq!(
            serde_json::from_slice::<Vec<WireFinding>>(&bytes).unwrap(),
            [WireFinding {
                code: "odd".into(),
                file: Some("x".into()),
                message: "odd file".into()
            }]
        );
    }

    /// A plugin that overrides neither declares a supervised YARN job and is summarized by
    /// the shared derivation.
    #[test]
    fn observes_and_summarize_have_defaults() {
        let (status, bytes) = dispatch(&Panicky, b"observes", b"{}");
        assert_eq!(status, Status::Ok);
        assert_eq!(
            serde_json::from_slice::<Observe>(&bytes).unwrap(),
            Observe::Yarn {
                engine: None,
                supervised: true
            }
        );
        let request =
            br#"{"component": {"job_name": "a-c-job", "name": "c", "component_type": "panicky"},
            "observations": {"now": 4, "dm": "created", "yarn": "not_watched", "failure": null,
            "engine": null, "flink_history": null, "supervisor": null, "oozie": null}}"#;
        let (status, bytes) = dispatch(&Panicky, b"summarize", request);
        assert_eq!(status, Status::Ok, "{}", String::from_utf8_lossy(&bytes));
        let summary: ComponentSummary = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(summary.aggregate_status, crate::observe::Status::Created);
        assert_eq!(summary.component_type, "panicky");
    }
}
