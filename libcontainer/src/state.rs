//! The container's state directory `<root>/<id>/`: the state file (written
//! atomically), the exec fifo `start` opens, and the lock that serialises
//! berth commands on one container.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";
/// What init writes into the exec fifo when it cannot run the process.
pub const EXEC_FAILED: u8 = EXEC_FAILED_PREFIX.to_bytes()[0];
/// What the exec trampoline writes there before the errno of a failed exec
/// of the process: the same byte.
pub const EXEC_FAILED_PREFIX: &std::ffi::CStr = c"E";
const MAX_ID_LEN: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("invalid container id {0:?}: {1}")]
    InvalidId(String, &'static str),
    #[error("container {0} already exists")]
    Exists(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Container ids are used as file names: letters, digits and `_ + - .`,
/// not starting with a dot, bounded in length (as runc).
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let bad = |why| Err(StateError::InvalidId(id.to_owned(), why));
    if id.is_empty() {
        return bad("empty");
    }
    if id.len() > MAX_ID_LEN {
        return bad("longer than 1024 bytes");
    }
    if id == "." || id == ".." || id.starts_with('.') {
        return bad("must not start with a dot");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
    {
        return bad("only letters, digits and _ + - . are allowed");
    }
    Ok(())
}

/// The OCI status of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        };
        f.write_str(s)
    }
}

/// What berth records about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerState {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// Init's pid in berth's pid namespace, and its start time: together they
    /// identify the process even after the pid is reused.
    pub pid: i32,
    pub pid_start_time: u64,
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// Hooks still to run after create: poststart (by start) and poststop (by delete).
    #[serde(default)]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    #[serde(default)]
    pub cgroup: Option<crate::cgroups::CgroupManager>,
    /// The container's endpoints, when berth's network layer attached it.
    #[serde(default)]
    pub network: Option<network::ContainerNetwork>,
    /// Where the network layer keeps its state, when the container asked for networks.
    #[serde(default)]
    pub network_state_dir: Option<PathBuf>,
    /// What `exec` takes from config.json ([`ExecDefaults`]), kept as its
    /// JSON text: `state`, `list` and every other reader of the state skip
    /// over it (a seccomp profile in it can be 40 KB) instead of building
    /// it. Absent in the state of a container made by a berth without exec.
    #[serde(default)]
    pub exec: Option<Box<serde_json::value::RawValue>>,
}

impl ContainerState {
    /// Records what `exec` will take from config.json.
    pub fn set_exec_defaults(&mut self, defaults: &ExecDefaults) -> Result<(), StateError> {
        let raw =
            serde_json::value::to_raw_value(defaults).map_err(|source| StateError::Corrupt {
                path: PathBuf::from(STATE_FILE),
                source,
            })?;
        self.exec = Some(raw);
        Ok(())
    }

    /// What `exec` takes from config.json, as create recorded it; None for
    /// a container made by a berth without exec.
    pub fn exec_defaults(&self, dir: &Path) -> Result<Option<ExecDefaults>, StateError> {
        self.exec
            .as_ref()
            .map(|raw| {
                serde_json::from_str(raw.get()).map_err(|source| StateError::Corrupt {
                    path: dir.join(STATE_FILE),
                    source,
                })
            })
            .transpose()
    }
}

/// The parts of config.json that `exec` uses, recorded at create (as runc
/// keeps its config in its state): an exec'd process gets the container's
/// defaults even if the bundle has changed or gone since.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecDefaults {
    /// config.json's `process`: the defaults of an exec given a command
    /// line, and the capabilities and rlimits of one given process.json
    /// without them.
    pub process: oci_spec::runtime::Process,
    /// The namespaces of init an exec'd process joins.
    pub namespaces: Vec<oci_spec::runtime::LinuxNamespaceType>,
    /// `create --no-new-keyring`: exec'd processes keep the caller's session keyring too.
    #[serde(default)]
    pub no_new_keyring: bool,
    /// `linux.seccomp`: exec'd processes get the container's filter (as runc's).
    #[serde(default)]
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
}

/// `<root>/<id>/`, locked for the life of this value.
pub struct StateDir {
    pub id: String,
    pub path: PathBuf,
    _lock: File,
}

impl StateDir {
    fn lock(id: &str, path: PathBuf) -> Result<Self, StateError> {
        let dir = File::open(&path).map_err(missing_or_io(id, &path))?;
        // SAFETY: flock on a valid fd we own.
        if unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(StateError::Io {
                path,
                source: std::io::Error::last_os_error(),
            });
        }
        // A delete that held the lock before us may have removed the directory.
        if !path.exists() {
            return Err(StateError::NotFound(id.to_owned()));
        }
        Ok(Self {
            id: id.to_owned(),
            path,
            _lock: dir,
        })
    }

    /// Makes and locks a new state directory (mode 0700 whatever the
    /// umask); fails if the id is taken.
    pub fn create(root: &Path, id: &str) -> Result<Self, StateError> {
        validate_id(id)?;
        make_root(root)?;
        let path = root.join(id);
        match std::fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StateError::Exists(id.to_owned()))
            }
            Err(e) => return Err(StateError::Io { path, source: e }),
        }
        set_mode(&path, CONTAINER_DIR)?;
        Self::lock(id, path)
    }

    /// Locks an existing container's state directory.
    pub fn open(root: &Path, id: &str) -> Result<Self, StateError> {
        validate_id(id)?;
        Self::lock(id, root.join(id))
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    pub fn load(&self) -> Result<ContainerState, StateError> {
        read(&self.path, &self.id)
    }

    /// Writes the state file atomically: a temporary file renamed over it.
    pub fn save(&self, state: &ContainerState) -> Result<(), StateError> {
        let path = self.path.join(STATE_FILE);
        let bytes = serde_json::to_vec(state).map_err(|source| StateError::Corrupt {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, &bytes, PRIVATE_FILE)
    }

    /// Removes the directory and everything in it.
    pub fn remove(self) -> Result<(), StateError> {
        std::fs::remove_dir_all(&self.path).map_err(io_err(&self.path))
    }
}

/// Reads the state file of container `id` in its directory `dir`, without
/// its lock (`state`, `list`; [`StateDir::load`] under it).
pub fn read(dir: &Path, id: &str) -> Result<ContainerState, StateError> {
    let path = dir.join(STATE_FILE);
    let bytes = std::fs::read(&path).map_err(missing_or_io(id, &path))?;
    serde_json::from_slice(&bytes).map_err(|source| StateError::Corrupt { path, source })
}

/// An I/O error on container `id`'s `path`: a missing file is the
/// container not existing (runc's "container does not exist").
fn missing_or_io<'a>(
    id: &'a str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            StateError::NotFound(id.to_owned())
        } else {
            StateError::Io {
                path: path.to_owned(),
                source: e,
            }
        }
    }
}

/// Mode of the directories berth makes for its state (as runc's root).
pub const PRIVATE_DIR: u32 = 0o700;
/// Mode of a container's state directory, as runc's (0711): searchable,
/// not listable, by others.
pub const CONTAINER_DIR: u32 = 0o711;
/// Mode of state.json and the other files only berth reads.
pub const PRIVATE_FILE: u32 = 0o600;
/// Mode of the pid file (`--pid-file`), which other tools read.
pub const PID_FILE: u32 = 0o644;

fn set_mode(path: &Path, mode: u32) -> Result<(), StateError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io_err(path))
}

/// Makes the state root `--root` when it does not exist, mode 0700
/// whatever the umask (an existing root is left as it is).
pub fn make_root(root: &Path) -> Result<(), StateError> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::symlink_metadata(root) {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(root)(e)),
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(root)
        .map_err(io_err(root))?;
    set_mode(root, PRIVATE_DIR)
}

/// Writes `bytes` with `mode` (whatever the umask) to a new temporary file
/// next to `path` and renames it over `path`. The temporary file is made
/// with O_EXCL under a name no one else uses: an existing file or symlink
/// of that name is never written through.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    const ATTEMPTS: u32 = 16;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (tmp, mut file) = {
        let mut attempt = 0;
        loop {
            let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tmp = path.with_file_name(format!(".{name}.{}.{seq}", std::process::id()));
            // Errors name the file asked for, not the temporary one.
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
                .open(&tmp)
            {
                Ok(file) => break (tmp, file),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < ATTEMPTS => {
                    attempt += 1;
                }
                Err(e) => return Err(io_err(path)(e)),
            }
        }
    };
    let written = file
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .and_then(|()| file.write_all(bytes));
    drop(file);
    written
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_err(path)(e)
        })
}

/// Ids of the containers under `root`, sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>, StateError> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(StateError::Io {
                path: root.to_owned(),
                source: e,
            })
        }
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|id| validate_id(id).is_ok())
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("abc-1_2.3+x").is_ok());
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            ".hidden",
            "a b",
            &"x".repeat(1025),
        ] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn create_is_exclusive_and_state_round_trips() {
        let root = std::env::temp_dir().join(format!("berth-state-test-{}", std::process::id()));
        let dir = StateDir::create(&root, "c1").unwrap();
        assert!(matches!(
            StateDir::create(&root, "c1"),
            Err(StateError::Exists(_))
        ));
        let state = ContainerState {
            id: "c1".into(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            pid: 42,
            pid_start_time: 7,
            created: crate::time::now(),
            owner: String::new(),
            annotations: HashMap::new(),
            hooks: None,
            cgroup: None,
            network: None,
            network_state_dir: None,
            exec: None,
        };
        dir.save(&state).unwrap();
        assert_eq!(dir.load().unwrap().pid, 42);
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&root), PRIVATE_DIR);
        assert_eq!(mode(&dir.path), CONTAINER_DIR);
        assert_eq!(mode(&dir.path.join(STATE_FILE)), PRIVATE_FILE);
        assert_eq!(list_ids(&root).unwrap(), ["c1"]);
        dir.remove().unwrap();
        assert!(matches!(
            StateDir::open(&root, "c1"),
            Err(StateError::NotFound(_))
        ));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_planted_temporary_name_is_not_written_through() {
        let dir = std::env::temp_dir().join(format!("berth-atomic-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "intact").unwrap();
        // Every name this process could pick next, planted as a symlink.
        for seq in 0..64 {
            let _ = std::os::unix::fs::symlink(
                &victim,
                dir.join(format!(".f.{}.{seq}", std::process::id())),
            );
        }
        let target = dir.join("f");
        let result = write_atomic(&target, b"new", PRIVATE_FILE);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "intact");
        if result.is_ok() {
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
