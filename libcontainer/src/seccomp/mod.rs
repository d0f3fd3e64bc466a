//! `linux.seccomp`: the container's system call filter.
//!
//! The profile is compiled once, in the parent, before the clone
//! ([`Program::compile`]): libseccomp (linked statically) turns it into one
//! classic-BPF program that checks the architecture of every call, so that
//! x86_64, x86 and x32 processes are each filtered by their own syscall
//! numbers. Compiled programs are kept in a cache in the state root, keyed by
//! the exact profile ([`cache`]), because compiling a ~350-rule profile costs
//! more than the rest of `create` together.
//!
//! Init loads the program itself with seccomp(2) ([`Program::load`]), so
//! that the flags (TSYNC, LOG, SPEC_ALLOW) and a notification listener are
//! exactly those of the profile, and no_new_privs is set only when
//! `process.noNewPrivileges` asks for it. Where it is loaded, as runc does:
//! with noNewPrivileges as late as possible, after the capabilities are set;
//! without it, before the user switch drops CAP_SYS_ADMIN.
//!
//! With `SCMP_ACT_NOTIFY` rules the kernel hands init a listener fd, which
//! the parent takes (pidfd_getfd) and sends to `listenerPath` with the
//! container's state ([`notify`]).

pub mod cache;
mod compile;
pub mod notify;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

pub use compile::validate;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("config.json: linux.seccomp.{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("linux.seccomp: libseccomp: {what}: {source}")]
    Library {
        what: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    #[error("linux.seccomp: {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("linux.seccomp: the compiled program is malformed ({0} bytes)")]
    Malformed(usize),
}

impl SeccompError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

/// seccomp(2) flags.
const FLAG_TSYNC: u32 = 1;
const FLAG_LOG: u32 = 1 << 1;
const FLAG_SPEC_ALLOW: u32 = 1 << 2;
const FLAG_NEW_LISTENER: u32 = 1 << 3;
const FLAG_TSYNC_ESRCH: u32 = 1 << 4;
const FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;

/// Where the notification listener goes (`listenerPath`, `listenerMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub path: PathBuf,
    pub metadata: String,
}

/// A compiled filter, ready to load.
#[derive(Debug, Clone)]
pub struct Program {
    filter: Vec<libc::sock_filter>,
    flags: u32,
    listener: Option<Listener>,
}

impl Program {
    /// Compiles `profile`, or takes it from the cache in `cache_dir` when
    /// the same profile was compiled before. The profile has passed
    /// [`validate`] (config.json's validation; exec takes the profile
    /// recorded by that create).
    pub fn compile(profile: &LinuxSeccomp, cache_dir: Option<&Path>) -> Result<Self, SeccompError> {
        let bpf = match cache_dir {
            Some(dir) => cache::compiled(dir, profile)?,
            None => compile::to_bpf(profile)?,
        };
        Ok(Self {
            filter: decode(&bpf)?,
            flags: load_flags(profile),
            listener: listener_of(profile),
        })
    }

    /// The listener to send the notify fd to, when the profile has
    /// `SCMP_ACT_NOTIFY` rules.
    pub fn listener(&self) -> Option<&Listener> {
        self.listener.as_ref()
    }

    /// Loads the filter into the calling process; returns the notification
    /// listener when the profile asked for one. Without no_new_privs the
    /// caller needs CAP_SYS_ADMIN.
    pub fn load(&self) -> Result<Option<OwnedFd>, SeccompError> {
        crate::sys::seccomp_set_mode_filter(&self.filter, self.flags)
            .map_err(SeccompError::io("loading the filter (seccomp(2))"))
    }
}

/// seccomp(2) flags from the profile's `flags`; with no `flags` at all,
/// SPEC_ALLOW, as runc does (an empty list means none).
fn load_flags(profile: &LinuxSeccomp) -> u32 {
    let mut flags = match profile.flags() {
        None => FLAG_SPEC_ALLOW,
        Some(list) => list.iter().fold(0, |acc, f| {
            acc | match f {
                LinuxSeccompFilterFlag::SeccompFilterFlagTsync => FLAG_TSYNC,
                LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
                LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
                LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                    FLAG_WAIT_KILLABLE_RECV
                }
            }
        }),
    };
    if has_notify(profile) {
        flags |= FLAG_NEW_LISTENER;
        // TSYNC and a listener together need TSYNC_ESRCH (the kernel
        // refuses the pair otherwise); init is single-threaded anyway.
        if flags & FLAG_TSYNC != 0 {
            flags |= FLAG_TSYNC_ESRCH;
        }
    }
    flags
}

fn has_notify(profile: &LinuxSeccomp) -> bool {
    profile
        .syscalls()
        .iter()
        .flatten()
        .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify)
}

fn listener_of(profile: &LinuxSeccomp) -> Option<Listener> {
    has_notify(profile).then(|| Listener {
        path: profile.listener_path().clone().unwrap_or_default(),
        metadata: profile.listener_metadata().clone().unwrap_or_default(),
    })
}

/// The exported program: an array of `struct sock_filter` in host order.
fn decode(bpf: &[u8]) -> Result<Vec<libc::sock_filter>, SeccompError> {
    const INSN: usize = std::mem::size_of::<libc::sock_filter>();
    if bpf.is_empty() || !bpf.len().is_multiple_of(INSN) || bpf.len() / INSN > u16::MAX as usize {
        return Err(SeccompError::Malformed(bpf.len()));
    }
    Ok(bpf
        .chunks_exact(INSN)
        .map(|i| libc::sock_filter {
            code: u16::from_ne_bytes([i[0], i[1]]),
            jt: i[2],
            jf: i[3],
            k: u32::from_ne_bytes([i[4], i[5], i[6], i[7]]),
        })
        .collect())
}

/// What `berth features` reports under `linux.seccomp`.
pub fn features() -> serde_json::Value {
    serde_json::json!({
        "enabled": true,
        "actions": compile::ACTIONS,
        "operators": compile::OPERATORS,
        "archs": compile::supported_archs(),
        "knownFlags": compile::FLAGS,
        "supportedFlags": compile::FLAGS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn flags_default_to_spec_allow_and_follow_the_list() {
        assert_eq!(
            load_flags(&profile(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#)),
            FLAG_SPEC_ALLOW
        );
        assert_eq!(
            load_flags(&profile(r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":[]}"#)),
            0
        );
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_LOG"],
                "listenerPath":"/x","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        assert_eq!(
            load_flags(&p),
            FLAG_TSYNC | FLAG_LOG | FLAG_NEW_LISTENER | FLAG_TSYNC_ESRCH
        );
        assert_eq!(listener_of(&p).unwrap().path, Path::new("/x"));
    }

    #[test]
    fn decode_checks_the_length() {
        assert!(decode(&[0; 7]).is_err());
        assert!(decode(&[]).is_err());
        let insn = decode(&[6, 0, 1, 2, 0, 0, 0xff, 0x7f]).unwrap();
        assert_eq!((insn[0].code, insn[0].jt, insn[0].jf), (6, 1, 2));
        assert_eq!(insn[0].k, 0x7fff_0000);
    }
}
