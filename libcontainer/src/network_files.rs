//! `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` of a container
//! that berth attached to a network, as docker gives them: the network layer
//! makes them in the container's state directory (`network/src/names.rs`, `hostsfile.rs`);
//! init bind-mounts them after the config's `mounts`, each one unless the
//! config mounts that destination itself. `/etc/hosts` is the network's
//! shared hosts file (or the container's copy of it), updated in place as
//! containers come and go: it is mounted read-only, since a write would
//! change every container's view.

use crate::mounts::{self, MountError};
use nix::mount::MsFlags;
use oci_spec::runtime::Spec;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

pub const HOSTS: &str = "/etc/hosts";
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
pub const HOSTNAME: &str = "/etc/hostname";

/// One file to bind-mount into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkFile {
    pub source: PathBuf,
    pub destination: &'static str,
    pub read_only: bool,
}

/// Whether the config's `mounts` has an entry for `destination`.
fn config_mounts(spec: &Spec, destination: &str) -> bool {
    spec.mounts()
        .iter()
        .flatten()
        .any(|m| m.destination() == Path::new(destination))
}

/// Refuses `--add-host` when the config mounts its own /etc/hosts, and
/// `--dns`/`--dns-search` when it mounts its own /etc/resolv.conf: berth
/// would have nowhere to put them.
pub fn check(spec: &Spec, req: &network::ContainerNetworkRequest) -> Result<(), String> {
    if !req.add_hosts.is_empty() && config_mounts(spec, HOSTS) {
        return Err(format!(
            "mounts: the config mounts its own {HOSTS}: --add-host (berth.add-host) cannot be added to it"
        ));
    }
    if !(req.dns.is_empty() && req.dns_search.is_empty()) && config_mounts(spec, RESOLV_CONF) {
        return Err(format!(
            "mounts: the config mounts its own {RESOLV_CONF}: --dns and --dns-search (berth.dns, berth.dns-search) cannot be added to it"
        ));
    }
    Ok(())
}

/// The files to mount for a container with the network `net`: none
/// without one, and none where the config mounts the destination itself.
pub fn plan(spec: &Spec, net: Option<&network::ContainerNetwork>) -> Vec<NetworkFile> {
    let Some(files) = net.and_then(|n| n.files.as_ref()) else {
        return Vec::new();
    };
    let mut out = vec![
        NetworkFile {
            source: files.hosts.clone(),
            destination: HOSTS,
            read_only: true,
        },
        NetworkFile {
            source: files.resolv_conf.clone(),
            destination: RESOLV_CONF,
            read_only: false,
        },
    ];
    if let Some(hostname) = &files.hostname {
        out.push(NetworkFile {
            source: hostname.clone(),
            destination: HOSTNAME,
            read_only: false,
        });
    }
    out.retain(|f| !config_mounts(spec, f.destination));
    out
}

/// In init, before pivot_root: bind-mounts `files` under the rootfs `root`
/// (destinations resolved inside it, a missing file created).
pub fn mount(root: BorrowedFd, files: &[NetworkFile]) -> Result<(), MountError> {
    for f in files {
        let destination = Path::new(f.destination);
        let target = mounts::create_in_root(root, destination, true).map_err(|source| {
            MountError::Resolve {
                destination: destination.to_owned(),
                path: destination.to_owned(),
                source,
            }
        })?;
        nix::mount::mount(
            Some(&f.source),
            &mounts::fd_path(&target),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|source| MountError::Mount {
            destination: destination.to_owned(),
            what: "bind",
            source,
        })?;
        if f.read_only {
            // The fd names the file under the new mount: reopen for the mount.
            let mounted = mounts::open_mounted(root, destination)?;
            mounts::remount_bind(&mounts::fd_path(&mounted), MsFlags::MS_RDONLY, destination)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with_mounts(destinations: &[&str]) -> Spec {
        let mut spec = Spec::default();
        let mounts = destinations
            .iter()
            .map(|d| {
                oci_spec::runtime::MountBuilder::default()
                    .destination(*d)
                    .typ("bind")
                    .source("/dev/null")
                    .build()
                    .unwrap()
            })
            .collect();
        spec.set_mounts(Some(mounts));
        spec
    }

    fn net(hostname: bool) -> network::ContainerNetwork {
        network::ContainerNetwork {
            endpoints: Vec::new(),
            ports: Vec::new(),
            networks: Vec::new(),
            files: Some(network::names::ContainerFiles {
                hosts: "/s/names/web.hosts".into(),
                resolv_conf: "/run/berth/c/resolv.conf".into(),
                hostname: hostname.then(|| "/run/berth/c/hostname".into()),
            }),
        }
    }

    #[test]
    fn files_the_config_mounts_are_left_to_it() {
        let all = plan(&spec_with_mounts(&["/proc"]), Some(&net(true)));
        let dest: Vec<_> = all.iter().map(|f| f.destination).collect();
        assert_eq!(dest, [HOSTS, RESOLV_CONF, HOSTNAME]);
        assert!(all[0].read_only && !all[1].read_only);
        let some = plan(&spec_with_mounts(&["/etc/hosts/"]), Some(&net(false)));
        let dest: Vec<_> = some.iter().map(|f| f.destination).collect();
        assert_eq!(dest, [RESOLV_CONF]);
        assert!(plan(&spec_with_mounts(&[]), None).is_empty());
    }

    #[test]
    fn options_with_nowhere_to_go_are_refused() {
        let req = network::ContainerNetworkRequest {
            networks: vec!["web".into()],
            add_hosts: vec!["db:10.213.20.9".into()],
            ..Default::default()
        };
        assert!(check(&spec_with_mounts(&["/etc/hosts"]), &req).is_err());
        assert!(check(&spec_with_mounts(&["/etc/resolv.conf"]), &req).is_ok());
        let req = network::ContainerNetworkRequest {
            networks: vec!["web".into()],
            dns: vec!["10.213.20.53".into()],
            ..Default::default()
        };
        assert!(check(&spec_with_mounts(&["/etc/resolv.conf"]), &req).is_err());
        assert!(check(&spec_with_mounts(&["/etc/hosts"]), &req).is_ok());
    }
}
