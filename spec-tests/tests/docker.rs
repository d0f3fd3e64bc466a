//! dockerd (Debian's docker.io 20.10) drives the runtime under test: it is
//! named `berth` under `runtimes` in a daemon.json of the test's own, and
//! every container runs with `docker run --runtime berth`, under docker's
//! defaults (its seccomp profile, capability list, masked paths, and a
//! network namespace docker made and the runtime joins by path).
//!
//! Each test starts a dockerd of its own: its own --data-root, --exec-root,
//! --pidfile, socket, cgroup parent and vfs storage, the busybox image
//! imported from a tarball (no registry), and docker's default bridge on a
//! bridge the test makes (10.213.210.0/24). `--iptables=false`,
//! `--ip-forward=false` and `--ip-masq=false`: docker leaves the host's
//! firewall and forwarding alone, and `-p` is served by docker-proxy. The
//! daemons take a host-wide lock, one at a time: the subnet is fixed, and
//! docker keeps a key (/etc/docker/key.json) and /run/docker that the test
//! removes when it made them.
//!
//! At the end a test stops its dockerd by pid and checks that nothing is
//! left: no process of its own (containerd, shims, docker-proxy,
//! containers), no mount under its directories (netns files included), no
//! link on its bridge, no cgroup under its parent, no firewall rule naming
//! its bridge or subnet.
//!
//! `BERTH_TEST_RUNTIME=/usr/sbin/runc` runs the same tests with runc.

use spec_tests::callers::{self, runtime_under_test};
use spec_tests::dockerd::{self, Dockerd, DOCKER, WAIT};
use spec_tests::{unique_name, wait_until};
use std::path::Path;
use std::time::{Duration, Instant};

const IMAGE: &str = "localhost/berth-busybox";
/// The third octet of docker's bridge subnet, 10.213.OCTET.0/24.
const OCTET: u8 = 210;

/// The daemon.json the tests give dockerd (README: "Using berth with
/// docker"): the runtime under test named `berth`.
fn daemon_json(runtime: &Path) -> String {
    format!(
        "{{\n  \"runtimes\": {{\n    \"berth\": {{\n      \"path\": \"{}\"\n    }}\n  }}\n}}\n",
        runtime.display()
    )
}

#[test]
fn readme_shows_the_daemon_json() {
    callers::assert_readme_shows(&daemon_json(Path::new(callers::README_BERTH)));
}

/// A dockerd of the test's own, without its firewall, with berth as the
/// runtime `berth` and the busybox image; it holds the host's docker lock.
fn start() -> Dockerd {
    let hold = callers::lock_host(dockerd::HOST_LOCK);
    let docker = Dockerd::start(dockerd::Options {
        octet: OCTET,
        firewall: false,
        daemon_json: Some(daemon_json(&runtime_under_test())),
        hold: Some(hold),
    });
    docker.import_busybox(IMAGE);
    docker
}

/// What these tests do with their dockerd besides what every test does.
trait DockerTest {
    fn run_image(&self, args: &[&str], command: &[&str]) -> (i32, String, String);
    fn detached(&self, args: &[&str], command: &[&str]) -> String;
    fn inspect(&self, name: &str, format: &str) -> String;
    fn line(&self, args: &str) -> String;
    fn leftovers(&self) -> Vec<String>;
    fn stop_and_check(self);
}

impl DockerTest for Dockerd {
    /// `docker run --runtime berth ARGS... IMAGE COMMAND...`.
    fn run_image(&self, args: &[&str], command: &[&str]) -> (i32, String, String) {
        let mut all = vec!["run", "--runtime", "berth"];
        all.extend_from_slice(args);
        all.push(IMAGE);
        all.extend_from_slice(command);
        self.run(&all)
    }

    /// `docker run -d --name NAME ARGS IMAGE COMMAND`; returns the name.
    #[track_caller]
    fn detached(&self, args: &[&str], command: &[&str]) -> String {
        let name = unique_name("dk");
        let mut all = vec!["-d", "--name", &name];
        all.extend_from_slice(args);
        let (code, out, err) = self.run_image(&all, command);
        assert_eq!(code, 0, "{out} {err}\n{}", self.log());
        name
    }

    /// `docker inspect --format FORMAT NAME`, trimmed.
    fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "--format", format, name])
            .trim()
            .to_owned()
    }

    /// `docker ARGS` as one shell line, for [`spec_tests::run_in_terminal`].
    fn line(&self, args: &str) -> String {
        let d = self.dir();
        format!(
            "DOCKER_CONFIG={} {DOCKER} -H unix://{} {args}",
            d.join("client").display(),
            d.join("docker.sock").display()
        )
    }

    /// What the stopped daemon left that it should not have: processes,
    /// mounts (but the data-root's own), links on its bridge, cgroups,
    /// firewall rules.
    fn leftovers(&self) -> Vec<String> {
        let d = self.dir();
        let subnet = format!("10.213.{OCTET}.");
        let data_root = format!("mount {}", d.join("data").display());
        let mut left =
            callers::leftovers(d, &self.bridge, &self.cgroup_parent, &[&subnet, "DOCKER"]);
        left.retain(|l| *l != data_root);
        // docker-proxy names the container's address, not the directory.
        left.extend(callers::processes_mentioning(&subnet));
        left
    }

    /// Stops the daemon and asserts that it left nothing behind.
    #[track_caller]
    fn stop_and_check(mut self) {
        let status = self.stop();
        assert!(status.is_some(), "dockerd did not stop: {}", self.log());
        let left = callers::settled(|| self.leftovers());
        self.clean_up();
        assert!(left.is_empty(), "left behind: {left:#?}");
        assert!(
            callers::mounts_under(self.dir()).is_empty(),
            "{:?}",
            callers::mounts_under(self.dir())
        );
    }
}

/// `docker run --rm`: the container's stdout, stderr and exit code reach the
/// docker user, and --rm removes it. A binary that is not there: docker's
/// exit 127 (126 for one that is not executable) and the runtime's message.
#[test]
fn docker_run_rm_and_a_missing_binary() {
    let docker = start();
    let (code, out, err) = docker.run_image(
        &["--rm"],
        &[
            "sh",
            "-c",
            "echo hello from the runtime under docker; echo to-stderr >&2; exit 3",
        ],
    );
    assert_eq!(code, 3, "stdout {out:?} stderr {err:?}\n{}", docker.log());
    assert_eq!(out, "hello from the runtime under docker\n");
    assert!(err.contains("to-stderr"), "{err:?}");
    for (command, status, words) in [
        ("no-such-binary", 127, "executable file not found in $PATH"),
        ("/no/such/binary", 127, "no such file or directory"),
        ("/etc/passwd", 126, "permission denied"),
    ] {
        let (code, out, err) = docker.run_image(&["--rm"], &[command]);
        assert_eq!(code, status, "{command}: {out} {err}");
        assert!(err.contains(command) && err.contains(words), "{err}");
        assert!(err.contains("OCI runtime create failed"), "{err}");
    }
    assert_eq!(docker.ok(&["ps", "-aq"]), "", "--rm left containers");
    docker.stop_and_check();
}

/// A detached container through its life: exec (with and without a
/// terminal), pause/unpause, update, top, stop (TERM reaches its trap) and
/// start again, kill, rm.
#[test]
fn docker_detached_exec_pause_update_top_stop_start_kill() {
    let docker = start();
    let name = docker.detached(
        &[],
        &[
            "sh",
            "-c",
            "trap 'exit 0' TERM; echo up > /tmp/ready; while :; do sleep 0.1; done",
        ],
    );
    let ready = wait_until(WAIT, || {
        docker.run(&["exec", &name, "cat", "/tmp/ready"]).1 == "up\n"
    });
    assert!(ready, "{}", docker.log());
    // exec: output, exit code, environment, no terminal.
    let (code, out, err) = docker.run(&[
        "exec",
        "-e",
        "FROM_EXEC=yes",
        &name,
        "sh",
        "-c",
        callers::EXEC_PROBE,
    ]);
    assert_eq!(code, 4, "{out} {err}");
    assert_eq!(out, callers::EXEC_PROBE_OUTPUT, "{err}");
    // exec -t, through a terminal of its own.
    callers::in_terminal(
        &docker.line(&format!("exec -t {name} sh -c 'tty; exit 5'")),
        5,
    );
    // pause: docker sees it paused and exec is refused; unpause.
    docker.ok(&["pause", &name]);
    assert_eq!(docker.inspect(&name, "{{.State.Status}}"), "paused");
    let (code, _, err) = docker.run(&["exec", &name, "true"]);
    assert_ne!(code, 0, "exec into a paused container");
    assert!(err.contains("paused"), "{err}");
    docker.ok(&["unpause", &name]);
    assert_eq!(docker.inspect(&name, "{{.State.Status}}"), "running");
    // update: the shim's `update --resources -`; the container sees it.
    docker.ok(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--pids-limit",
        "33",
        &name,
    ]);
    let limits = docker.ok(&[
        "exec",
        &name,
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max \
         2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max",
    ]);
    assert_eq!(limits, "67108864\n33\n");
    // top: docker reads the runtime's `ps --format json`.
    let top = docker.ok(&["top", &name]);
    assert!(top.contains("trap") || top.contains("sh -c"), "{top}");
    assert!(top.contains("sleep"), "{top}");
    // stop: TERM reaches the trap, exit 0; start again runs it anew.
    docker.ok(&["stop", "--time", "20", &name]);
    assert_eq!(docker.inspect(&name, "{{.State.ExitCode}}"), "0");
    docker.ok(&["start", &name]);
    assert_eq!(docker.inspect(&name, "{{.State.Status}}"), "running");
    assert!(wait_until(WAIT, || {
        docker.run(&["exec", &name, "cat", "/tmp/ready"]).1 == "up\n"
    }));
    // kill: SIGKILL, 128 + 9.
    docker.ok(&["kill", &name]);
    assert!(wait_until(WAIT, || docker
        .inspect(&name, "{{.State.Status}}")
        == "exited"));
    assert_eq!(docker.inspect(&name, "{{.State.ExitCode}}"), "137");
    docker.ok(&["rm", &name]);
    docker.stop_and_check();
}

/// docker's network: the container joins the namespace docker made (the
/// runtime leaves it alone), gets an address on docker's bridge, is reached
/// from the host at that address and through `-p` (docker-proxy on
/// 127.0.0.1), and from a second container over the bridge.
#[test]
fn docker_publish_and_container_to_container() {
    let docker = start();
    let server = docker.detached(
        &["-p", "127.0.0.1::8080"],
        &[
            "sh",
            "-c",
            "echo served-by-docker > /tmp/index.html; exec httpd -f -p 8080 -h /tmp",
        ],
    );
    let address = docker.inspect(&server, "{{.NetworkSettings.IPAddress}}");
    assert!(
        address.starts_with(&format!("10.213.{OCTET}.")),
        "{address:?} is not on docker's bridge"
    );
    let port = docker.ok(&["port", &server, "8080/tcp"]);
    let published = port
        .lines()
        .next()
        .and_then(|l| l.trim().strip_prefix("127.0.0.1:"))
        .unwrap_or_else(|| panic!("docker port: {port:?}"))
        .to_owned();
    let timeout = Duration::from_secs(30);
    for target in [format!("{address}:8080"), format!("127.0.0.1:{published}")] {
        spec_tests::net::wait_http(&target, "served-by-docker", timeout)
            .unwrap_or_else(|e| panic!("{target}: {e}"));
    }
    let (code, out, err) = docker.run_image(
        &["--rm"],
        &[
            "sh",
            "-c",
            &format!("ip -4 -o addr show eth0; wget -q -O - http://{address}:8080/"),
        ],
    );
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains(&format!("10.213.{OCTET}.")), "{out}");
    assert!(out.contains("served-by-docker"), "{out}");
    docker.ok(&["rm", "--force", &server]);
    docker.stop_and_check();
}

/// `--cap-drop ALL`, `--user`, `--memory`, `--pids-limit` as the container
/// sees them, under docker's seccomp profile.
#[test]
fn docker_capabilities_user_and_limits() {
    let docker = start();
    let (code, out, err) = docker.run_image(
        &[
            "--rm",
            "--cap-drop",
            "ALL",
            "--user",
            "1000:1000",
            "--memory",
            "32m",
            "--pids-limit",
            "20",
        ],
        &[
            "sh",
            "-c",
            "id -u; id -g; grep -E '^(CapEff|CapBnd|Seccomp):' /proc/self/status; \
             cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max \
             2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max",
        ],
    );
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(
        out,
        "1000\n1000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nSeccomp:\t2\n\
         33554432\n20\n"
    );
    // The pids limit holds: 8 background children under pids.max 5 (the
    // shell is one): busybox sh cannot fork the fifth and gives up.
    let (code, out, err) = docker.run_image(
        &["--rm", "--pids-limit", "5"],
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; wait",
        ],
    );
    assert_eq!(code, 2, "8 children under pids.max 5: {out} {err}");
    assert!(err.contains("can't fork"), "{err}");
    docker.stop_and_check();
}

/// `docker run -it`: through a pty of its own (script(1)), the container's
/// process gets a terminal.
#[test]
fn docker_run_with_a_terminal() {
    let docker = start();
    let line = docker.line(&format!(
        "run --rm -it --runtime berth {IMAGE} sh -c 'tty; [ -t 0 ] && echo stdin-tty; exit 5'"
    ));
    let stdout = callers::in_terminal(&line, 5);
    assert!(stdout.contains("stdin-tty"), "{stdout:?}");
    docker.stop_and_check();
}

/// 20 `docker run --rm` at once: every one prints its own line and exits 0.
#[test]
fn docker_twenty_parallel_runs() {
    let docker = start();
    let start = Instant::now();
    let outputs: Vec<(i32, String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let docker = &docker;
                s.spawn(move || {
                    docker.run_image(&["--rm"], &["sh", "-c", &format!("echo run-{i}")])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eprintln!("20 parallel docker runs: {:?}", start.elapsed());
    for (i, (code, out, err)) in outputs.iter().enumerate() {
        assert_eq!(*code, 0, "run {i}: {out} {err}");
        assert_eq!(out, &format!("run-{i}\n"), "run {i}: {err}");
    }
    assert_eq!(docker.ok(&["ps", "-aq"]), "");
    docker.stop_and_check();
}
