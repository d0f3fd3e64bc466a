//! `process.rlimits`.

use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

#[derive(Debug, thiserror::Error)]
pub enum RlimitError {
    #[error("setrlimit {name} soft={soft} hard={hard}: {source}")]
    Set {
        name: String,
        soft: u64,
        hard: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("process.rlimits: {0} is given twice")]
    Duplicate(String),
}

fn resource(typ: PosixRlimitType) -> libc::__rlimit_resource_t {
    match typ {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

pub fn check(rlimits: &[PosixRlimit]) -> Result<(), RlimitError> {
    let mut seen = Vec::new();
    for r in rlimits {
        if seen.contains(&r.typ()) {
            return Err(RlimitError::Duplicate(r.typ().to_string()));
        }
        seen.push(r.typ());
    }
    Ok(())
}

/// Applies every limit (before capabilities are dropped).
pub fn apply(rlimits: &[PosixRlimit]) -> Result<(), RlimitError> {
    for r in rlimits {
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: lim is a valid rlimit; setrlimit only reads it.
        if unsafe { libc::setrlimit(resource(r.typ()), &lim) } != 0 {
            return Err(RlimitError::Set {
                name: r.typ().to_string(),
                soft: r.soft(),
                hard: r.hard(),
                source: std::io::Error::last_os_error(),
            });
        }
    }
    Ok(())
}
