//! The exec trampoline: a container's process is never exec'd by a process
//! whose executable is the host's berth.
//!
//! init and an exec'd process are clones of `berth`, so until their execve
//! `/proc/self/exe` is the host's berth binary. An execve whose program is
//! that link, directly, through a symlink or as the interpreter of a
//! `#!/proc/self/exe` script in the image, would run the host's binary
//! inside the container, where the container's other processes could open
//! it through `/proc/<pid>/exe` and rewrite it once it exits
//! (CVE-2019-5736). Not being dumpable (see [`super::finalize`]) closes
//! `/proc/<pid>/exe` of init to the container while it waits; this closes
//! the exec itself.
//!
//! The parent writes a program of a few hundred bytes ([`PROGRAM`], assembled by
//! `build.rs` from `trampoline/ARCH.S`) into a sealed memfd before the
//! clone; the process execs that with `execveat(fd, "", AT_EMPTY_PATH)`,
//! and the trampoline execs the container's program. From the first exec
//! on, `/proc/self/exe` is the sealed copy: run as an interpreter it exits
//! at once, and nobody can write it. The cost is one exec of a program with
//! one page of code and no libc (tens of microseconds).
//!
//! Other runtimes copy their whole binary into a sealed memfd (crun,
//! youki, runc before 1.2) or re-exec from a read-only mount (runc 1.2);
//! berth does not re-exec itself, so only the last exec needs the copy.
//!
//! What the trampoline gets: argv `[status fd, prefix, suffix, path,
//! argv…]` and the program's environment. It marks the status fd
//! close-on-exec (unless it is stdio), so that the program's exec closes
//! it, and if the exec fails writes `prefix`, the errno in decimal and
//! `suffix` there in one `write` (the one syscall that runc's rule keeps out
//! of every profile's reach). A seccomp profile sees one more exec:
//! `execveat`, or `execve` of `/proc/self/fd/N` when the profile refuses
//! `execveat` with an errno.
//!
//! With an SELinux label the program is exec'd directly: the label takes
//! effect at the next exec, and a memfd is no entry point of a container
//! domain. SELinux's container policy is then what keeps the container from
//! the host's binary, as it did on such hosts before runtimes sealed
//! themselves.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The trampoline's executable for this architecture.
pub const PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/trampoline"));

/// The trampoline in a sealed memfd, made by the parent before the clone.
#[derive(Debug)]
pub struct Trampoline {
    fd: OwnedFd,
}

impl Trampoline {
    /// A sealed, executable memfd holding [`PROGRAM`].
    pub fn new() -> io::Result<Trampoline> {
        const MFD_EXEC: libc::c_uint = 0x10;
        let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
        // Kernels with vm.memfd_noexec (6.3+) want executable memfds asked
        // for; older ones do not know the flag.
        let fd = match memfd_create(flags | MFD_EXEC) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => memfd_create(flags),
            other => other,
        }
        .map_err(|e| context("memfd_create", e))?;
        let mut written = 0;
        while written < PROGRAM.len() {
            written += nix::unistd::write(&fd, &PROGRAM[written..])
                .map_err(|e| context("writing the exec trampoline", e.into()))?;
        }
        let seals =
            libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
        // SAFETY: fcntl on an fd we own, integer arguments.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
            return Err(context(
                "sealing the exec trampoline",
                io::Error::last_os_error(),
            ));
        }
        Ok(Trampoline { fd })
    }
}

fn memfd_create(flags: libc::c_uint) -> io::Result<OwnedFd> {
    // SAFETY: a NUL-terminated name; the kernel only reads it.
    let fd = unsafe { libc::memfd_create(c"berth-exec".as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn context(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Where and how a failed exec is reported.
pub struct Status<'a> {
    pub fd: RawFd,
    pub prefix: &'a CStr,
    pub suffix: &'a CStr,
}

/// An exec through the trampoline with every string and pointer built
/// beforehand, so that [`Prepared::exec`] only makes syscalls (it also runs
/// between fork and exec of a hook). It names the trampoline by fd: an exec
/// after the [`Trampoline`] was dropped fails with EBADF.
pub struct Prepared {
    trampoline: RawFd,
    status_fd: RawFd,
    /// Owns what `argv` and `envp` point to (a CString's buffer does not
    /// move with it).
    _strings: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

// SAFETY: the pointers point into the Prepared's own CStrings, which nothing
// writes. A Prepared moves into a hook's pre-exec closure, which runs only
// in the forked child.
unsafe impl Send for Prepared {}
// SAFETY: as above; `exec` only reads.
unsafe impl Sync for Prepared {}

impl Prepared {
    pub fn new(
        trampoline: &Trampoline,
        status: &Status,
        path: &CStr,
        argv: &[CString],
        env: &[CString],
    ) -> Prepared {
        let mut strings = vec![
            CString::new(status.fd.to_string()).expect("digits have no NUL"),
            status.prefix.to_owned(),
            status.suffix.to_owned(),
            path.to_owned(),
        ];
        strings.extend_from_slice(argv);
        let mut ptrs: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        strings.extend_from_slice(env);
        let mut envp: Vec<_> = strings[ptrs.len() - 1..]
            .iter()
            .map(|e| e.as_ptr())
            .collect();
        envp.push(std::ptr::null());
        Prepared {
            trampoline: trampoline.fd.as_raw_fd(),
            status_fd: status.fd,
            _strings: strings,
            argv: ptrs,
            envp,
        }
    }

    /// Execs the trampoline; returns only with the reason it could not.
    /// The status fd is kept open across this exec (the trampoline marks it
    /// close-on-exec for the next one).
    pub fn exec(&self) -> io::Error {
        if self.status_fd > 2 {
            if let Err(e) = crate::sys::clear_cloexec(self.status_fd) {
                return context("the exec status fd", e);
            }
        }
        let fd = self.trampoline;
        // SAFETY: argv and envp are NULL-terminated arrays of pointers to
        // NUL-terminated strings that self keeps alive.
        unsafe {
            libc::execveat(
                fd,
                c"".as_ptr(),
                self.argv.as_ptr().cast(),
                self.envp.as_ptr().cast(),
                libc::AT_EMPTY_PATH,
            )
        };
        let e = io::Error::last_os_error();
        if !matches!(
            e.raw_os_error(),
            Some(libc::EPERM | libc::ENOSYS | libc::EACCES)
        ) {
            return context("execveat of the exec trampoline", e);
        }
        // A seccomp profile that refuses execveat allows execve (the
        // program's own exec needs it): through this process's fd link.
        let mut link = *b"/proc/self/fd/\0\0\0\0\0\0\0\0\0\0\0";
        let digits = fd.to_string();
        link[14..14 + digits.len()].copy_from_slice(digits.as_bytes());
        // SAFETY: as above; link is NUL-terminated (fd has at most 10 digits).
        unsafe {
            libc::execve(
                link.as_ptr().cast(),
                self.argv.as_ptr().cast(),
                self.envp.as_ptr().cast(),
            )
        };
        context(
            &format!("exec of the exec trampoline (execveat: {e}; execve of /proc/self/fd/{fd})"),
            io::Error::last_os_error(),
        )
    }
}

/// The errno a trampoline appended to `prefix` in what it wrote, if `bytes`
/// are such a report.
pub fn parse_errno(bytes: &[u8], prefix: &[u8]) -> Option<nix::errno::Errno> {
    let digits = bytes.strip_prefix(prefix)?;
    let n: i32 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(nix::errno::Errno::from_raw(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trampoline runs the program with its argv and environment and
    /// closes the status fd for it; a failed exec is reported with its
    /// errno. A fork of the test runs it, as init would.
    fn run(path: &str, argv: &[&str]) -> (Vec<u8>, i32) {
        let trampoline = Trampoline::new().unwrap();
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let cs = |s: &str| CString::new(s).unwrap();
        let argv: Vec<CString> = argv.iter().map(|a| cs(a)).collect();
        let env = [cs("GREETING=hi")];
        let path = cs(path);
        let status = Status {
            fd: write.as_raw_fd(),
            prefix: c"failed:",
            suffix: c"",
        };
        let prepared = Prepared::new(&trampoline, &status, &path, &argv, &env);
        // SAFETY: the child only makes syscalls (prepared is built) and exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let _ = prepared.exec();
                // SAFETY: leaves the forked copy of the test harness at once.
                unsafe { libc::_exit(99) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(write);
                let mut out = Vec::new();
                let mut buf = [0u8; 64];
                while let Ok(n @ 1..) = nix::unistd::read(&read, &mut buf) {
                    out.extend_from_slice(&buf[..n]);
                }
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                let code = match status {
                    nix::sys::wait::WaitStatus::Exited(_, code) => code,
                    other => panic!("{other:?}"),
                };
                (out, code)
            }
        }
    }

    #[test]
    fn runs_the_program_and_closes_the_status_fd() {
        let (out, code) = run(
            "/bin/sh",
            &["sh", "-c", "test \"$GREETING\" = hi && exit 7"],
        );
        assert_eq!((out.as_slice(), code), (&b""[..], 7));
    }

    #[test]
    fn reports_a_failed_exec_with_its_errno() {
        let (out, code) = run("/nonexistent", &["x"]);
        assert_eq!(
            parse_errno(&out, b"failed:"),
            Some(nix::errno::Errno::ENOENT),
            "{out:?}"
        );
        assert_eq!(code, 1);
        let (out, _) = run("/etc/passwd", &["x"]);
        assert_eq!(
            parse_errno(&out, b"failed:"),
            Some(nix::errno::Errno::EACCES)
        );
    }

    #[test]
    fn parse_errno_takes_only_its_own_reports() {
        assert_eq!(parse_errno(b"E8", b"E"), Some(nix::errno::Errno::ENOEXEC));
        assert_eq!(parse_errno(b"E", b"E"), None);
        assert_eq!(parse_errno(b"\0", b"E"), None);
    }
}
