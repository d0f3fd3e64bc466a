//! Test helpers: scratch cgroups in the host's v2 hierarchy.

/// A scratch cgroup in the host's v2 hierarchy (the `unified` mount on
/// a hybrid host), removed on drop.
pub struct ScratchV2(pub std::path::PathBuf);

impl ScratchV2 {
    pub fn new(name: &str) -> Option<ScratchV2> {
        let layout = crate::cgroups::layout::host().ok()?;
        let m = layout.v2.as_ref()?;
        let dir = m
            .mount_point
            .join(format!("berth-test-{name}-{}", std::process::id()));
        if dir.exists() {
            return None;
        }
        // As for a container: the hierarchy's controllers enabled above it.
        crate::cgroups::v2::create(&dir, &m.mount_point).ok()?;
        Some(ScratchV2(dir))
    }

    /// Runs `sh -c script` inside the cgroup; true when it exits 0.
    pub fn run(&self, script: &str) -> bool {
        self.command(script).status().unwrap().success()
    }
}

impl Drop for ScratchV2 {
    fn drop(&mut self) {
        let _ = crate::cgroups::v2::wait_unpopulated(&self.0, std::time::Duration::from_secs(5));
        let _ = std::fs::remove_dir(&self.0);
    }
}

impl ScratchV2 {
    /// Starts `sh -c script` inside the cgroup and returns it running.
    pub fn spawn(&self, script: &str) -> std::process::Child {
        self.command(script).spawn().unwrap()
    }

    fn command(&self, script: &str) -> std::process::Command {
        use std::os::unix::process::CommandExt;
        let procs = std::ffi::CString::new(
            self.0
                .join("cgroup.procs")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .unwrap();
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.args(["-c", script]);
        // SAFETY: only async-signal-safe calls (open, write, close)
        // between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(fd);
                Ok(())
            });
        }
        cmd
    }
}
