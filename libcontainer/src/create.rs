//! `create`: from a bundle to an init waiting for `start`.
//!
//! The parent's steps, top-down:
//!  1. load and validate config.json (once), plan namespaces and network,
//!     refuse what an unprivileged caller cannot have;
//!  2. make the locked state directory, the cgroup (refusing one that
//!     holds processes or is frozen; none for a rootless caller without one
//!     delegated), the exec fifo, a write-ahead state;
//!  3. id-mapped mounts (only when asked for); clone init into its new
//!     namespaces (one clone);
//!  4. once init has joined its namespaces: id maps, cgroup, network create,
//!     linux.netDevices moved in, prestart and createRuntime hooks; tell
//!     init to proceed;
//!  5. once init is ready: state file and pid file; return.
//!
//! A failure at any step undoes the steps before it.

use crate::cgroups::CgroupManager;
use crate::namespaces::{self, Namespaces};
use crate::process::channel::{self, InitMsg, ParentMsg};
use crate::process::init::{self, InitArgs};
use crate::process::trampoline::Trampoline;
use crate::spec::Bundle;
use crate::state::{ContainerState, StateDir, Status};
use crate::sys::{self, Forked};
use crate::Error;
use oci_spec::runtime::LinuxNamespaceType;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// What `berth create` was asked.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// Networks and published ports asked for on the command line; the
    /// config's annotations are added to these.
    pub network: network::ContainerNetworkRequest,
    pub network_state_dir: PathBuf,
}

/// A created container whose init waits for `start`. The caller is init's
/// parent; the state directory stays locked while this value lives.
pub struct Created {
    pub dir: StateDir,
    pub state: ContainerState,
    pub pidfd: OwnedFd,
}

/// Undoes a half-made container when dropped, unless disarmed.
struct Rollback {
    pidfd: Option<OwnedFd>,
    pid: i32,
    cgroup: Option<CgroupManager>,
    /// The store, the container id and its owner (state directory): the
    /// rollback releases only what this create recorded.
    network: Option<(network::Networks, String, PathBuf)>,
    /// Once init exists the container's environment does: a failure from
    /// then on runs the poststop hooks, as the runtime-spec's lifecycle
    /// (and runc) do.
    poststop: Option<ContainerState>,
    dir: Option<StateDir>,
}

impl Drop for Rollback {
    fn drop(&mut self) {
        if let Some(pidfd) = self.pidfd.take() {
            let _ = sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.pid), None);
        }
        if let Some(cgroup) = self.cgroup.take() {
            if let Err(e) = cgroup.destroy() {
                tracing::warn!("cleaning up after a failed create: {e}");
            }
        }
        if let Some((networks, id, owner)) = self.network.take() {
            if let Err(e) = networks.release_owned(&id, &owner) {
                tracing::warn!("cleaning up after a failed create: {e}");
            }
        }
        if let Some(state) = self.poststop.take() {
            if let Some(hooks) = state.hooks.as_ref().and_then(|h| h.poststop().as_deref()) {
                let json = crate::container::oci_state_json(&state, Status::Stopped);
                if let Err(e) = crate::hooks::run("poststop", hooks, json.as_bytes()) {
                    tracing::warn!("{e}");
                }
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.remove();
        }
    }
}

pub fn create(opts: &CreateOptions) -> Result<Created, Error> {
    // 1. config.json, once; everything that can be refused is refused here,
    //    before anything is made.
    crate::state::validate_id(&opts.id)?;
    let mut bundle = Bundle::load(&opts.bundle)?;
    crate::notify_socket::add_to_spec(&mut bundle.spec, &absolute(&opts.root).join(&opts.id));
    let spec = &bundle.spec;
    if !crate::spec::has_new_namespace(spec, LinuxNamespaceType::Mount) {
        return Err(Error::Config(
            "linux.namespaces: berth needs a new mount namespace for the container".into(),
        ));
    }
    let namespaces = Namespaces::from_spec(spec)?;
    let seccomp = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(|profile| crate::seccomp::Program::compile(profile, Some(&opts.root)))
        .transpose()?;
    let trampoline = Trampoline::new().map_err(|source| Error::Io {
        path: "the exec trampoline".into(),
        source,
    })?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Config("process is missing".into()))?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && opts.console_socket.is_none() {
        return Err(Error::Config(
            "process.terminal is true: --console-socket is required".into(),
        ));
    }
    if !terminal && opts.console_socket.is_some() {
        return Err(Error::Config(
            "--console-socket given but process.terminal is false".into(),
        ));
    }
    let annotations = spec.annotations().clone().unwrap_or_default();
    let mut net_request = opts.network.clone();
    net_request.add_annotations(&annotations)?;
    net_request.validate()?;
    check_joined_user_namespace(spec)?;
    let rootless = crate::userns::unprivileged();
    if rootless {
        if !net_request.is_empty() {
            return Err(Error::RootlessNetwork);
        }
        let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
        crate::userns::check_rootless(spec, uid.as_raw(), gid.as_raw()).map_err(Error::Config)?;
    }
    if !net_request.is_empty() && !namespaces.has_new(LinuxNamespaceType::Network) {
        return Err(Error::Config("networks were requested but the container does not get a new network namespace (none, or one joined by path)".into()));
    }
    let listen_fds = socket_activation_fds();
    let cgroups_path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_deref());
    let cgroup = CgroupManager::new(cgroups_path, &opts.id)?;
    let resources = spec.linux().as_ref().and_then(|l| l.resources().as_ref());

    // 2. The state directory (locked) with the exec fifo and a write-ahead
    //    state naming what must be undone if berth dies from here on.
    let dir = StateDir::create(&opts.root, &opts.id)?;
    let mut rollback = Rollback {
        pidfd: None,
        pid: 0,
        cgroup: None,
        network: None,
        poststop: None,
        dir: None,
    };
    let fifo_path = dir.fifo_path();
    rollback.dir = Some(dir);
    // The cgroup exists before init does, so that on cgroup v2 init is
    // born in it (CLONE_INTO_CGROUP; v1 hierarchies are joined after the
    // clone), and before the first state save, which records what berth
    // made of it: a cgroup that another container or a service holds is
    // refused here, before the rollback could touch it.
    let cgroup = create_cgroup(cgroup, cgroups_path, resources, rootless)?;
    rollback.cgroup = cgroup.clone();
    crate::notify_socket::make_dir(&dir_of(&rollback).path)?;
    // runc's mode, 0622 whatever the umask.
    let fifo_mode = nix::sys::stat::Mode::from_bits_truncate(0o622);
    nix::unistd::mkfifo(&fifo_path, fifo_mode).map_err(|e| Error::sys("mkfifo", &fifo_path, e))?;
    // Opened read-write, so this open does not wait for a writer; init
    // inherits it and blocks reading it until `start` writes.
    let exec_fifo = nix::fcntl::open(
        &fifo_path,
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NOFOLLOW,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("open", &fifo_path, e))?;
    nix::sys::stat::fchmod(&exec_fifo, fifo_mode)
        .map_err(|e| Error::sys("fchmod", &fifo_path, e))?;

    let mut state = ContainerState {
        id: opts.id.clone(),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        pid: 0,
        pid_start_time: 0,
        created: crate::time::now(),
        owner: owner(),
        annotations,
        hooks: spec.hooks().clone(),
        cgroup: cgroup.clone(),
        network: None,
        network_state_dir: None,
        // Recorded by the last save only (below): the write-ahead saves,
        // the rollback's and init's copies need none of it, and with a
        // seccomp profile it is most of the state.
        exec: None,
    };
    if !net_request.is_empty() {
        let owner = absolute(&opts.root).join(&opts.id);
        rollback.network = Some((
            network::Networks::open(&opts.network_state_dir)?,
            opts.id.clone(),
            owner.clone(),
        ));
        // Recorded before anything is allocated, so that `delete --force`
        // after a crash from here on knows where to release it.
        state.network_state_dir = Some(opts.network_state_dir.clone());
        dir_of(&rollback).save(&state)?;
        let networks = &rollback.network.as_ref().expect("set above").0;
        state.network = Some(networks.prepare(&opts.id, &owner, &net_request)?);
    }
    dir_of(&rollback).save(&state)?;

    let console_socket = opts
        .console_socket
        .as_deref()
        .map(crate::console::connect)
        .transpose()?;
    let (parent_end, init_end) = channel::pair()?;

    // Id-mapped mounts are made with the host's privileges, by short-lived
    // children that must not land in the container's pid namespace.
    let idmapped_mounts = crate::idmapped_mounts::prepare(spec, &bundle.dir)?;

    // 3. One clone. Joined pid and time namespaces apply to children, so the
    //    parent enters them first; time offsets need a namespace made here.
    let time_offsets = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
        .filter(|o| !o.is_empty());
    let joins = |t| namespaces.parent_joins.iter().any(|j| j.typ == t);
    let runtime_namespaces = namespaces::ChildNamespaces::save(
        joins(LinuxNamespaceType::Pid),
        joins(LinuxNamespaceType::Time) || time_offsets.is_some(),
    )?;
    for join in &namespaces.parent_joins {
        join.enter()?;
    }
    let mut clone_flags = namespaces.clone_flags.bits() as u64;
    if let Some(offsets) = time_offsets {
        namespaces::prepare_time_namespace(offsets)?;
        clone_flags &= !0x80;
    }
    let into_cgroup = cgroup
        .as_ref()
        .map(|c| c.clone_into_fd())
        .transpose()?
        .flatten();
    let forked = match sys::clone3(clone_flags, into_cgroup.as_ref().map(|f| f.as_fd())) {
        // A kernel before 5.7, or a cgroup that cannot take a process
        // directly: clone plainly and move init afterwards.
        Err(e) if into_cgroup.is_some() => {
            tracing::debug!("clone3 into the cgroup: {e}; moving init after the clone");
            sys::clone3(clone_flags, None)
        }
        other => other,
    };
    drop(into_cgroup);
    let (pid, pidfd) = match forked.map_err(|e| Error::Io {
        path: "clone3".into(),
        source: e,
    })? {
        Forked::Child => {
            // flock belongs to the open file, which init shares with this
            // process: if init kept its copy until exec, every later
            // `start`, `kill` or `delete` would wait for the lock for ever.
            drop(rollback.dir.take());
            // Init must not hold the parent's end: if berth dies, init's
            // next read has to see the hang-up and end, not wait for ever.
            drop(parent_end);
            init::run(InitArgs {
                spec,
                bundle: &bundle.dir,
                rootfs: &bundle.rootfs,
                namespaces: &namespaces,
                channel: init_end,
                exec_fifo: &exec_fifo,
                trampoline: &trampoline,
                console_socket: console_socket.as_ref(),
                network: state.network.as_ref(),
                preserve_fds: opts.preserve_fds,
                listen_fds,
                no_pivot: opts.no_pivot,
                no_new_keyring: opts.no_new_keyring,
                rootless,
                idmapped_mounts: &idmapped_mounts,
                seccomp: seccomp.as_ref(),
                state: &state,
            })
        }
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(init_end);
    drop(console_socket);
    drop(idmapped_mounts);
    rollback.pid = pid;
    rollback.pidfd = Some(pidfd);
    runtime_namespaces.restore()?;
    state.pid = pid;
    state.pid_start_time = sys::proc_stat(pid)
        .map(|s| s.start_time)
        .map_err(|e| Error::Io {
            path: format!("/proc/{pid}/stat").into(),
            source: e,
        })?;
    rollback.poststop = Some(state.clone());
    // Write-ahead: should berth die from here on, `delete --force` finds
    // init by this pid (and start time) and kills it.
    dir_of(&rollback).save(&state)?;

    // 4. Host-side work, with init parked in its namespaces.
    parent_end.wait_for_init(InitMsg::NamespacesJoined)?;
    if namespaces.has_new(LinuxNamespaceType::User) {
        write_id_maps(pid, spec, rootless)?;
    }
    // init is not dumpable: its /proc files are the host root's to write.
    if let Some(adj) = process.oom_score_adj() {
        crate::procfs::write_oom_score_adj(Some(pid), adj).map_err(Error::OomScoreAdj)?;
    }
    // Moving init into a v1 cgroup waits for an RCU grace period (the
    // first cgroup.procs write in a while), so it overlaps init's rootfs
    // mounts. The limits are written first, while init waits: its device
    // nodes are made either in berth's cgroup or in the container's with
    // its final device rules, never while those are being rewritten.
    // prestart and createRuntime hooks must find init in its cgroup (a
    // device hook writes its devices cgroup), and a new cgroup namespace is
    // unshared by init right after Proceed: then init joins first, as it
    // always did.
    let join_first = namespaces.new_cgroup
        || spec.hooks().as_ref().is_some_and(|h| {
            h.prestart().as_ref().is_some_and(|v| !v.is_empty())
                || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
        });
    if let Some(cgroup) = &cgroup {
        if let Some(resources) = resources {
            cgroup.apply(resources)?;
        }
        if join_first {
            cgroup.add_task(pid)?;
        }
    }
    if let Some(net) = &state.network {
        net.create(pid)?;
    }
    crate::net_devices::move_in(pid, spec)?;
    let hook_state = crate::container::oci_state_json(&state, Status::Creating);
    if let Some(hooks) = spec.hooks() {
        crate::hooks::run(
            "prestart",
            hooks.prestart().as_deref().unwrap_or(&[]),
            hook_state.as_bytes(),
        )?;
        crate::hooks::run(
            "createRuntime",
            hooks.create_runtime().as_deref().unwrap_or(&[]),
            hook_state.as_bytes(),
        )?;
    }
    let cgroup_pending = !join_first && cgroup.is_some();
    parent_end.send_to_init(ParentMsg::Proceed {
        pid,
        cgroup_pending,
    })?;
    if let (true, Some(cgroup)) = (cgroup_pending, &cgroup) {
        cgroup.add_task(pid)?;
        // Init may have failed meanwhile and gone: its message is read
        // below, where a send that found no one would only hide it.
        let _ = parent_end.send_to_init(ParentMsg::CgroupJoined);
    }

    // 5. Init loaded its seccomp filter (a notification listener goes to
    //    the agent now: init may already wait on it), is ready and waits
    //    on the fifo.
    if let Some(fd) = parent_end.wait_for_listener_or_ready()? {
        let program = seccomp.as_ref().expect("only a profile makes a listener");
        let pidfd = rollback.pidfd.as_ref().expect("set above");
        let state_json = crate::container::oci_state_json(&state, Status::Creating);
        crate::seccomp::notify::hand_over(program, pidfd.as_fd(), fd, pid, &state_json)?;
        parent_end.wait_for_init(InitMsg::Ready)?;
    }
    drop(exec_fifo);
    state.set_exec_defaults(&crate::state::ExecDefaults {
        process: process.clone(),
        namespaces: spec
            .linux()
            .iter()
            .flat_map(|l| l.namespaces().iter().flatten())
            .map(|ns| ns.typ())
            .collect(),
        no_new_keyring: opts.no_new_keyring,
        seccomp: spec.linux().as_ref().and_then(|l| l.seccomp().clone()),
    })?;
    // Still under the rollback: a pid file that cannot be written undoes
    // the container like any other failure.
    dir_of(&rollback).save(&state)?;
    if let Some(pid_file) = &opts.pid_file {
        crate::state::write_atomic(
            &absolute(pid_file),
            pid.to_string().as_bytes(),
            crate::state::PID_FILE,
        )?;
    }
    let dir = rollback.dir.take().expect("state dir is set above");
    let pidfd = rollback.pidfd.take().expect("pidfd is set above");
    rollback.cgroup = None;
    rollback.network = None;
    rollback.poststop = None;
    Ok(Created { dir, state, pidfd })
}

/// How many fds from 3 on systemd's socket activation passes on: LISTEN_FDS,
/// only when LISTEN_PID names this process (go-systemd's rule, as runc):
/// else fd 3 may be anything of berth's caller's, a `--log` file say.
fn socket_activation_fds() -> Option<u32> {
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    if !for_us {
        return None;
    }
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| *n > 0)
}

fn dir_of(rollback: &Rollback) -> &StateDir {
    rollback.dir.as_ref().expect("state dir is set")
}

pub(crate) fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_owned())
    }
}

/// The user running berth, as runc's `owner` field: the name in the host's
/// /etc/passwd, else the uid.
fn owner() -> String {
    let uid = nix::unistd::getuid().as_raw();
    crate::passwd::name(Path::new("/etc/passwd"), uid).unwrap_or_else(|| uid.to_string())
}

/// Writes init's uid_map and gid_map from the spec; an unprivileged
/// caller must deny setgroups first.
fn write_id_maps(pid: i32, spec: &oci_spec::runtime::Spec, rootless: bool) -> Result<(), Error> {
    let linux = spec.linux().as_ref();
    let uid_maps = linux.and_then(|l| l.uid_mappings().as_deref());
    let gid_maps = linux.and_then(|l| l.gid_mappings().as_deref());
    crate::userns::write_id_maps(
        pid,
        uid_maps.unwrap_or(&[]),
        gid_maps.unwrap_or(&[]),
        rootless,
    )?;
    Ok(())
}

/// Mappings given with a user namespace joined by path must be that
/// namespace's own, as runc requires (they are not written then).
fn check_joined_user_namespace(spec: &oci_spec::runtime::Spec) -> Result<(), Error> {
    let Some(path) =
        crate::spec::namespace(spec, LinuxNamespaceType::User).and_then(|ns| ns.path().as_deref())
    else {
        return Ok(());
    };
    let linux = spec.linux().as_ref();
    let uid_maps = linux.and_then(|l| l.uid_mappings().as_deref());
    let gid_maps = linux.and_then(|l| l.gid_mappings().as_deref());
    if uid_maps.is_none() && gid_maps.is_none() {
        return Ok(());
    }
    let (uid_map, gid_map) = crate::userns::mappings_of(path)?;
    let same =
        |text: &str, maps: Option<&[_]>| maps.is_none_or(|m| crate::userns::map_file_is(text, m));
    if !same(&uid_map, uid_maps) || !same(&gid_map, gid_maps) {
        return Err(Error::Config(format!(
            "linux.uidMappings/gidMappings: the user namespace {} is joined by path and its own \
             mappings differ from the ones given (give one or the other)",
            path.display()
        )));
    }
    Ok(())
}

/// Makes the container's cgroup. Run by an unprivileged user (or as root
/// in a user namespace) without a delegated cgroup, berth goes on without
/// one as runc does: only when linux.cgroupsPath is not set and no limits
/// are asked for.
fn create_cgroup(
    mut cgroup: CgroupManager,
    cgroups_path: Option<&Path>,
    resources: Option<&oci_spec::runtime::LinuxResources>,
    rootless: bool,
) -> Result<Option<CgroupManager>, Error> {
    let err = match cgroup.create() {
        Ok(()) => return Ok(Some(cgroup)),
        Err(e) => e,
    };
    let rootless_cgroups = rootless || crate::userns::running_in_user_namespace();
    if !rootless_cgroups || !err.is_permission() {
        return Err(err.into());
    }
    if cgroups_path.is_some_and(|p| !p.as_os_str().is_empty()) {
        return Err(Error::RootlessCgroup {
            why: "linux.cgroupsPath is set",
            source: err,
        });
    }
    if resources.is_some_and(crate::cgroups::needs_controllers) {
        return Err(Error::RootlessCgroup {
            why: "linux.resources asks for limits",
            source: err,
        });
    }
    tracing::debug!("no cgroup for this rootless container: {err}");
    Ok(None)
}
