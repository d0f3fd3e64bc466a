//! `features`: what this build implements, in the runtime-spec's features
//! format. Only what berth really does is listed.

pub fn features() -> serde_json::Value {
    let caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": libcontainer::container::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": libcontainer::mounts::known_options(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": true},
            "seccomp": libcontainer::seccomp::features(),
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {"enabled": false},
            "memoryPolicy": {
                "modes": libcontainer::memory_policy::known_modes(),
                "flags": libcontainer::memory_policy::known_flags()
            },
            "mountExtensions": {"idmap": {"enabled": true}},
            "netDevices": {"enabled": true}
        },
        "annotations": {
            "io.github.berth.network": "berth.network and berth.publish annotations attach the container to berth networks; berth.dns, berth.dns-search and berth.add-host shape its /etc/resolv.conf and /etc/hosts"
        }
    })
}

pub fn run() -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&features())?);
    Ok(())
}
