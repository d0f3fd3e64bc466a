//! The process `exec` runs: process.json as given, or the container's own
//! `process` (recorded at create) changed by the command line, as runc's
//! `exec` builds it.

use super::ExecError;
use crate::spec::SpecError;
use crate::state::ExecDefaults;
use oci_spec::runtime::{Capability, LinuxCapabilities, Process};
use std::path::{Path, PathBuf};

/// Where the process comes from.
#[derive(Debug, Clone)]
pub enum ProcessSource {
    /// `--process FILE`: a runtime-spec `process` object.
    File(PathBuf),
    /// A command and the flags that change the container's process.
    CommandLine(CommandLine),
}

/// `exec ID CMD ARGS...` and the flags that change the container's process.
#[derive(Debug, Clone, Default)]
pub struct CommandLine {
    pub args: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// Appended to the container's env.
    pub env: Vec<String>,
    /// `uid[:gid]`.
    pub user: Option<String>,
    /// Appended to the container's additional gids.
    pub additional_gids: Vec<i64>,
    pub tty: bool,
    pub no_new_privs: bool,
    /// Added to the bounding, effective, permitted and ambient sets.
    pub caps: Vec<String>,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
}

/// The process to run, validated as a config.json's `process` is.
pub fn build(
    source: &ProcessSource,
    defaults: &ExecDefaults,
    tty_flag: bool,
) -> Result<Process, ExecError> {
    let process = match source {
        ProcessSource::File(path) => from_file(path, defaults, tty_flag)?,
        ProcessSource::CommandLine(cl) => from_command_line(cl, &defaults.process)?,
    };
    let label = match source {
        ProcessSource::File(path) => path.display().to_string(),
        ProcessSource::CommandLine(_) => "the exec command line".into(),
    };
    crate::spec::validate_process(&process).map_err(|e| match e {
        SpecError::Invalid { field, reason } => ExecError::Process {
            origin: label,
            field,
            reason,
        },
        SpecError::Unsupported { field } => ExecError::Process {
            origin: label,
            field,
            reason: "is not supported by berth yet".into(),
        },
        other => ExecError::Spec(other),
    })?;
    crate::lsm::check(&process)?;
    Ok(process)
}

/// process.json as given; what it leaves out of capabilities, rlimits and
/// oomScoreAdj is the container's (as runc's exec does).
fn from_file(path: &Path, defaults: &ExecDefaults, tty_flag: bool) -> Result<Process, ExecError> {
    let bytes = std::fs::read(path).map_err(|source| SpecError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut process: Process = crate::spec::parse_json(&bytes, "").map_err(|e| e.at(path))?;
    // --tty only says what process.json says (podman passes both).
    if tty_flag && !process.terminal().unwrap_or(false) {
        return Err(ExecError::TtyContradicts(path.to_owned()));
    }
    let container = &defaults.process;
    if process.capabilities().is_none() {
        process.set_capabilities(container.capabilities().clone());
    }
    if process.rlimits().as_ref().is_none_or(|r| r.is_empty()) {
        process.set_rlimits(container.rlimits().clone());
    }
    if process.oom_score_adj().is_none() {
        process.set_oom_score_adj(container.oom_score_adj());
    }
    if process.exec_cpu_affinity().is_none() {
        process.set_exec_cpu_affinity(container.exec_cpu_affinity().clone());
    }
    Ok(process)
}

/// The container's process with the command line's changes.
fn from_command_line(cl: &CommandLine, container: &Process) -> Result<Process, ExecError> {
    if cl.args.is_empty() {
        return Err(ExecError::NoArgs);
    }
    let mut p = container.clone();
    p.set_args(Some(cl.args.clone()));
    if let Some(cwd) = &cl.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(profile) = cl.apparmor.clone().filter(|s| !s.is_empty()) {
        p.set_apparmor_profile(Some(profile));
    }
    if let Some(label) = cl.process_label.clone().filter(|s| !s.is_empty()) {
        p.set_selinux_label(Some(label));
    }
    if !cl.caps.is_empty() {
        p.set_capabilities(Some(add_caps(p.capabilities().clone(), &cl.caps)?));
    }
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(cl.env.iter().cloned());
    p.set_env(Some(env));
    p.set_terminal(Some(cl.tty));
    if cl.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(user) = &cl.user {
        let (uid, gid) = parse_user(user)?;
        p.user_mut().set_uid(uid);
        if let Some(gid) = gid {
            p.user_mut().set_gid(gid);
        }
    }
    if !cl.additional_gids.is_empty() {
        let mut gids = p.user().additional_gids().clone().unwrap_or_default();
        for &gid in &cl.additional_gids {
            gids.push(u32::try_from(gid).map_err(|_| ExecError::NegativeGid(gid))?);
        }
        p.user_mut().set_additional_gids(Some(gids));
    }
    Ok(p)
}

/// `--cap C`: C joins the bounding, effective, permitted and ambient sets
/// (as runc's).
fn add_caps(
    caps: Option<LinuxCapabilities>,
    added: &[String],
) -> Result<LinuxCapabilities, ExecError> {
    let mut caps = caps.unwrap_or_default();
    let parsed: Vec<Capability> = added
        .iter()
        .map(|c| {
            // The spec's own names, with or without CAP_, any case.
            serde_json::from_value(serde_json::Value::String(c.clone()))
                .map_err(|_| ExecError::UnknownCapability(c.clone()))
        })
        .collect::<Result<_, _>>()?;
    let extend = |set: &Option<oci_spec::runtime::Capabilities>| {
        let mut set = set.clone().unwrap_or_default();
        set.extend(parsed.iter().copied());
        Some(set)
    };
    let bounding = extend(caps.bounding());
    let effective = extend(caps.effective());
    let permitted = extend(caps.permitted());
    let ambient = extend(caps.ambient());
    caps.set_bounding(bounding);
    caps.set_effective(effective);
    caps.set_permitted(permitted);
    caps.set_ambient(ambient);
    Ok(caps)
}

/// `uid[:gid]`, numbers only (as runc's `--user`).
fn parse_user(user: &str) -> Result<(u32, Option<u32>), ExecError> {
    let number = |part: &str, what: &'static str| {
        part.parse::<u32>().map_err(|source| ExecError::User {
            value: user.to_owned(),
            part: part.to_owned(),
            what,
            source,
        })
    };
    match user.split_once(':') {
        Some((uid, gid)) => Ok((number(uid, "uid")?, Some(number(gid, "gid")?))),
        None => Ok((number(user, "uid")?, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container() -> Process {
        serde_json::from_str(
            r#"{"cwd": "/", "args": ["sh"], "env": ["PATH=/bin", "A=1"],
                "user": {"uid": 0, "gid": 0, "additionalGids": [3]},
                "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]},
                "noNewPrivileges": false, "terminal": true}"#,
        )
        .unwrap()
    }

    #[test]
    fn command_line_changes_the_containers_process() {
        let cl = CommandLine {
            args: vec!["id".into()],
            cwd: Some("/tmp".into()),
            env: vec!["B=2".into()],
            user: Some("1000:100".into()),
            additional_gids: vec![5],
            no_new_privs: true,
            caps: vec!["net_admin".into()],
            ..Default::default()
        };
        let p = from_command_line(&cl, &container()).unwrap();
        assert_eq!(p.args().as_deref().unwrap(), ["id"]);
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!(p.env().as_deref().unwrap(), ["PATH=/bin", "A=1", "B=2"]);
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 100));
        assert_eq!(p.user().additional_gids().as_deref().unwrap(), [3, 5]);
        assert_eq!(p.no_new_privileges(), Some(true));
        // No --tty: no terminal, whatever the container's process has.
        assert_eq!(p.terminal(), Some(false));
        let caps = p.capabilities().as_ref().unwrap();
        assert!(caps
            .bounding()
            .as_ref()
            .unwrap()
            .contains(&Capability::NetAdmin));
        assert!(caps
            .ambient()
            .as_ref()
            .unwrap()
            .contains(&Capability::NetAdmin));
        assert!(caps.inheritable().is_none());
    }

    #[test]
    fn bad_command_lines_are_refused() {
        let bad = |cl: CommandLine| {
            from_command_line(&cl, &container())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(bad(CommandLine::default()), "process args cannot be empty");
        let args = vec!["id".to_string()];
        let e = bad(CommandLine {
            args: args.clone(),
            user: Some("1000:x".into()),
            ..Default::default()
        });
        assert!(e.contains("parsing \"x\" as int for gid failed"), "{e}");
        let e = bad(CommandLine {
            args: args.clone(),
            additional_gids: vec![-1],
            ..Default::default()
        });
        assert_eq!(e, "additional-gids must be a positive number -1");
        let e = bad(CommandLine {
            args,
            caps: vec!["CAP_NOPE".into()],
            ..Default::default()
        });
        assert!(e.contains("CAP_NOPE"), "{e}");
    }
}
