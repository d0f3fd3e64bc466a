//! Loading and validating `config.json`.
//!
//! The config is parsed once, here. Validation refuses every field berth does
//! not implement yet with an error naming it: a field is never silently ignored.

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("bundle {path}: {source}")]
    Bundle {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A value of the wrong type or an unknown variant, at `field`.
    #[error("{path}: {field}: {source}")]
    Field {
        path: PathBuf,
        field: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("config.json: {field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("config.json: {field} is not supported by berth yet")]
    Unsupported { field: String },
    #[error("config.json: {0}")]
    IoPriority(#[from] crate::io_priority::IoPriorityError),
    #[error("config.json: {0}")]
    Scheduler(#[from] crate::scheduler::SchedulerError),
    #[error("config.json: {0}")]
    Personality(#[from] crate::personality::PersonalityError),
    #[error("config.json: {0}")]
    MemoryPolicy(#[from] crate::memory_policy::MemoryPolicyError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> SpecError {
    SpecError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

fn unsupported(field: impl Into<String>) -> SpecError {
    SpecError::Unsupported {
        field: field.into(),
    }
}

/// A validated bundle: its absolute directory, the parsed spec and the
/// absolute rootfs path.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub rootfs: PathBuf,
}

impl Bundle {
    /// Reads `<dir>/config.json` and validates it.
    pub fn load(dir: &Path) -> Result<Self, SpecError> {
        let dir = std::fs::canonicalize(dir).map_err(|source| SpecError::Bundle {
            path: dir.to_owned(),
            source,
        })?;
        let config = dir.join("config.json");
        let bytes = std::fs::read(&config).map_err(|source| SpecError::Read {
            path: config.clone(),
            source,
        })?;
        let spec = parse(&bytes).map_err(|e| e.at(&config))?;
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| invalid("root", "missing"))?;
        let rootfs = dir.join(root.path());
        let rootfs = std::fs::canonicalize(&rootfs).map_err(|source| SpecError::Read {
            path: rootfs.clone(),
            source,
        })?;
        if !rootfs.is_dir() {
            return Err(invalid(
                "root.path",
                format!("{} is not a directory", rootfs.display()),
            ));
        }
        validate(&spec)?;
        Ok(Self { dir, spec, rootfs })
    }
}

/// Why config.json could not be parsed, before the file's path is known.
#[derive(Debug)]
pub enum ParseError {
    /// Not JSON, or not at the top level.
    Syntax(serde_json::Error),
    /// JSON, but a field has the wrong type or an unknown value.
    Field(String, serde_json::Error),
}

impl ParseError {
    /// The error, naming the file it is in.
    pub fn at(self, path: &Path) -> SpecError {
        match self {
            ParseError::Syntax(source) => SpecError::Parse {
                path: path.to_owned(),
                source,
            },
            ParseError::Field(field, source) => SpecError::Field {
                path: path.to_owned(),
                field,
                source,
            },
        }
    }
}

/// Parses config.json text; a type error names the field it is in
/// (`process.user.uid`, `linux.namespaces[0].type`).
pub fn parse(bytes: &[u8]) -> Result<Spec, ParseError> {
    parse_json(bytes, "/process")
}

/// Parses JSON text into `T` (config.json, exec's process.json, whose
/// process object is at the JSON pointer `process_at`); a type error names
/// the field it is in.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    process_at: &str,
) -> Result<T, ParseError> {
    // oci-spec spells two scheduler flags unlike the runtime-spec: only a
    // config that may have them takes the detour through a Value, and is
    // parsed again from the translated text when it is bad, so that the
    // error has a position.
    if bytes.windows(SCHEDULER.len()).any(|w| w == SCHEDULER) {
        let mut value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(ParseError::Syntax)?;
        crate::scheduler::translate_flag_names(&mut value, process_at)
            .map_err(|(field, source)| ParseError::Field(field, source))?;
        let text = serde_json::to_vec(&value).map_err(ParseError::Syntax)?;
        return serde_json::from_slice(&text).map_err(|e| located(&text, e));
    }
    serde_json::from_slice(bytes).map_err(|e| located(bytes, e))
}

const SCHEDULER: &[u8] = b"\"scheduler\"";

/// A type error, at the field its position is in; a syntax error, or a
/// type error at the top level, as a syntax error.
fn located(text: &[u8], e: serde_json::Error) -> ParseError {
    if e.classify() != serde_json::error::Category::Data {
        return ParseError::Syntax(e);
    }
    let field = crate::json_path::at(text, e.line(), e.column());
    if field.is_empty() {
        ParseError::Syntax(e)
    } else {
        ParseError::Field(field, e)
    }
}

/// Checks the parts of the spec berth relies on and refuses what it does not
/// implement.
pub fn validate(spec: &Spec) -> Result<(), SpecError> {
    let version = spec.version();
    if !version.starts_with("1.") {
        return Err(invalid(
            "ociVersion",
            format!("{version:?} is not a 1.x runtime-spec version"),
        ));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process", "missing"))?;
    validate_process(process)?;
    if let Some(hostname) = spec.hostname() {
        if !hostname.is_empty() && !has_new_namespace(spec, LinuxNamespaceType::Uts) {
            return Err(invalid(
                "hostname",
                "setting the hostname needs a new uts namespace",
            ));
        }
    }
    if let Some(domainname) = spec.domainname() {
        if !domainname.is_empty() && !has_new_namespace(spec, LinuxNamespaceType::Uts) {
            return Err(invalid(
                "domainname",
                "setting the domainname needs a new uts namespace",
            ));
        }
    }
    if spec.solaris().is_some() {
        return Err(unsupported("solaris"));
    }
    if spec.windows().is_some() {
        return Err(unsupported("windows"));
    }
    if spec.vm().is_some() {
        return Err(unsupported("vm"));
    }
    if spec.zos().is_some() {
        return Err(unsupported("zos"));
    }
    if let Some(hooks) = spec.hooks() {
        validate_hooks(hooks)?;
    }
    for (i, mount) in spec.mounts().iter().flatten().enumerate() {
        if !mount.destination().is_absolute() {
            return Err(invalid(
                format!("mounts[{i}].destination"),
                format!("{} is not absolute", mount.destination().display()),
            ));
        }
        if crate::idmapped_mounts::requested(mount).is_some() {
            crate::idmapped_mounts::check(spec, mount)
                .map_err(|reason| invalid(format!("mounts[{i}]"), reason))?;
        }
        for option in mount.options().iter().flatten() {
            crate::mounts::MountOptions::check(option)
                .map_err(|reason| invalid(format!("mounts[{i}].options"), reason))?;
        }
    }
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| invalid("linux", "missing"))?;
    validate_linux(spec, linux)
}

/// The checks of a `process` that hold wherever it comes from: config.json
/// or exec's process.json.
pub fn validate_process(process: &oci_spec::runtime::Process) -> Result<(), SpecError> {
    match process.args() {
        Some(args) if !args.is_empty() => {}
        _ => return Err(invalid("process.args", "must not be empty")),
    }
    if process.command_line().is_some() {
        return Err(unsupported("process.commandLine"));
    }
    if !process.cwd().is_absolute() {
        return Err(invalid(
            "process.cwd",
            format!("{} is not absolute", process.cwd().display()),
        ));
    }
    crate::lsm::check(process).map_err(|e| invalid("process.selinuxLabel", e.to_string()))?;
    if let Some(prio) = process.io_priority() {
        crate::io_priority::check(prio)?;
    }
    if let Some(scheduler) = process.scheduler() {
        crate::scheduler::check(scheduler)?;
    }
    if process
        .user()
        .username()
        .as_deref()
        .is_some_and(|u| !u.is_empty())
    {
        return Err(unsupported("process.user.username"));
    }
    for env in process.env().iter().flatten() {
        if !env.contains('=') {
            return Err(invalid(
                "process.env",
                format!("{env:?} is not of the form KEY=value"),
            ));
        }
    }
    Ok(())
}

/// Every hook: an absolute path, a positive timeout, env entries as KEY=value.
fn validate_hooks(hooks: &oci_spec::runtime::Hooks) -> Result<(), SpecError> {
    #[allow(deprecated)] // prestart is deprecated in the spec, still run by runtimes
    let kinds = [
        ("prestart", hooks.prestart()),
        ("createRuntime", hooks.create_runtime()),
        ("createContainer", hooks.create_container()),
        ("startContainer", hooks.start_container()),
        ("poststart", hooks.poststart()),
        ("poststop", hooks.poststop()),
    ];
    for (kind, list) in kinds {
        for (i, hook) in list.iter().flatten().enumerate() {
            let field = || format!("hooks.{kind}[{i}]");
            if !hook.path().is_absolute() {
                return Err(invalid(
                    format!("{}.path", field()),
                    format!("{} is not absolute", hook.path().display()),
                ));
            }
            if let Some(timeout) = hook.timeout() {
                if timeout <= 0 {
                    return Err(invalid(
                        format!("{}.timeout", field()),
                        format!("must be positive, got {timeout}"),
                    ));
                }
            }
            for env in hook.env().iter().flatten() {
                if !env.contains('=') {
                    return Err(invalid(
                        format!("{}.env", field()),
                        format!("{env:?} is not of the form KEY=value"),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn validate_linux(spec: &Spec, linux: &oci_spec::runtime::Linux) -> Result<(), SpecError> {
    if let Some(seccomp) = linux.seccomp() {
        crate::seccomp::validate(seccomp)?;
    }
    if linux.intel_rdt().is_some() {
        return Err(intel_rdt_refusal());
    }
    if let Some(policy) = linux.memory_policy() {
        crate::memory_policy::check(policy)?;
    }
    if let Some(personality) = linux.personality() {
        crate::personality::check(personality)?;
    }
    crate::net_devices::check(spec).map_err(|reason| invalid("linux.netDevices", reason))?;
    let mut seen = Vec::new();
    for ns in linux.namespaces().iter().flatten() {
        if seen.contains(&ns.typ()) {
            return Err(invalid(
                "linux.namespaces",
                format!("{} appears twice", ns.typ()),
            ));
        }
        seen.push(ns.typ());
        if let Some(path) = ns.path() {
            if !path.is_absolute() {
                return Err(invalid(
                    "linux.namespaces",
                    format!(
                        "path {} of the {} namespace is not absolute",
                        path.display(),
                        ns.typ()
                    ),
                ));
            }
        }
    }
    validate_user_namespace(linux)?;
    if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty()) {
        if !has_new_namespace(spec, LinuxNamespaceType::Time) {
            return Err(invalid("linux.timeOffsets", "needs a new time namespace"));
        }
        for clock in linux.time_offsets().iter().flat_map(|t| t.keys()) {
            if clock != "monotonic" && clock != "boottime" {
                return Err(invalid(
                    "linux.timeOffsets",
                    format!("unknown clock {clock:?}"),
                ));
            }
        }
    }
    if let Some(prop) = linux.rootfs_propagation() {
        if !prop.is_empty() {
            crate::rootfs::propagation_flags(prop).ok_or_else(|| {
                invalid("linux.rootfsPropagation", format!("unknown mode {prop:?}"))
            })?;
        }
    }
    for (key, _) in linux.sysctl().iter().flatten() {
        crate::sysctl::check_key(key, spec)
            .map_err(|reason| invalid(format!("linux.sysctl[{key}]"), reason))?;
    }
    for dev in linux.devices().iter().flatten() {
        let climbs = dev
            .path()
            .components()
            .any(|c| c == std::path::Component::ParentDir);
        if !dev.path().starts_with("/dev/") || climbs {
            return Err(invalid(
                "linux.devices",
                format!("{} is not under /dev", dev.path().display()),
            ));
        }
    }
    Ok(())
}

/// Intel RDT (resctrl) is not implemented: the refusal says whether this
/// host could have it at all.
fn intel_rdt_refusal() -> SpecError {
    let resctrl = std::fs::read_to_string("/proc/filesystems").is_ok_and(|fs| {
        fs.lines()
            .any(|l| l.split_whitespace().last() == Some("resctrl"))
    });
    if resctrl {
        unsupported("linux.intelRdt (Intel RDT through resctrl)")
    } else {
        invalid(
            "linux.intelRdt",
            "Intel RDT is not supported or enabled on this host (no resctrl in /proc/filesystems)",
        )
    }
}

/// `linux.uidMappings`/`gidMappings` against the user namespace asked for.
fn validate_user_namespace(linux: &oci_spec::runtime::Linux) -> Result<(), SpecError> {
    let namespaces = linux.namespaces().as_deref().unwrap_or(&[]);
    let user_ns = namespaces
        .iter()
        .find(|ns| ns.typ() == LinuxNamespaceType::User);
    let maps = [
        ("linux.uidMappings", linux.uid_mappings()),
        ("linux.gidMappings", linux.gid_mappings()),
    ];
    let has_maps = maps.iter().any(|(_, m)| m.is_some());
    match user_ns {
        Some(ns) if ns.path().is_none() => {
            for (field, list) in maps {
                let list = list.as_deref().ok_or_else(|| {
                    invalid(field, "a new user namespace needs uid and gid mappings")
                })?;
                crate::userns::check_mappings(list).map_err(|reason| invalid(field, reason))?;
            }
            if namespaces
                .iter()
                .any(|n| n.typ() != LinuxNamespaceType::User && n.path().is_some())
            {
                return Err(unsupported(
                    "joining a namespace by path together with a new user namespace",
                ));
            }
        }
        // Joined: init enters it first and makes the other new namespaces
        // there, so that they belong to it. pid and time namespaces only
        // take children, which would need a second process. Mappings given
        // too must be the namespace's own (create compares them, as runc:
        // containerd and CRI-O give both).
        Some(_) => {
            for (field, list) in maps {
                if let Some(list) = list {
                    crate::userns::check_mappings(list).map_err(|reason| invalid(field, reason))?;
                }
            }
            for typ in [LinuxNamespaceType::Pid, LinuxNamespaceType::Time] {
                if namespaces
                    .iter()
                    .any(|n| n.typ() == typ && n.path().is_none())
                {
                    return Err(unsupported(format!(
                        "a new {typ} namespace together with a user namespace joined by path"
                    )));
                }
            }
        }
        None if has_maps => {
            return Err(invalid(
                "linux.uidMappings",
                "mappings are given but no new user namespace is asked for",
            ))
        }
        None => {}
    }
    Ok(())
}

/// True when the spec asks for a new (not joined) namespace of this type.
pub fn has_new_namespace(spec: &Spec, typ: LinuxNamespaceType) -> bool {
    namespace(spec, typ).is_some_and(|ns| ns.path().is_none())
}

/// The spec's entry for a namespace type, if any.
pub fn namespace(
    spec: &Spec,
    typ: LinuxNamespaceType,
) -> Option<&oci_spec::runtime::LinuxNamespace> {
    spec.linux()
        .as_ref()?
        .namespaces()
        .as_ref()?
        .iter()
        .find(|ns| ns.typ() == typ)
}

#[cfg(test)]
mod tests {
    use super::{parse, ParseError};

    #[test]
    fn type_errors_name_the_field() {
        let text = br#"{"ociVersion": "1.0.0", "root": {"path": "rootfs"},
            "process": {"cwd": "/", "args": ["sh"], "user": {"uid": "root", "gid": 0}}}"#;
        match parse(text) {
            Err(ParseError::Field(field, e)) => {
                assert_eq!(field, "process.user.uid");
                assert!(e.to_string().contains("invalid type"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        let text = br#"{"ociVersion": "1.0.0", "linux": {"namespaces": [{"type": "pid"}, {"type": "nope"}]}}"#;
        match parse(text) {
            Err(ParseError::Field(field, _)) => assert_eq!(field, "linux.namespaces[1].type"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse(b"{\"a\": 1,,}"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"{} trailing"), Err(ParseError::Syntax(_))));
        assert!(parse(br#"{"ociVersion": "1.0.0"}"#).is_ok());
    }
}
