//! `linux.netDevices` (runtime-spec 1.3): network devices of the host moved
//! into the container's new network namespace by the parent, over netlink,
//! renamed to `name` when it is given. The kernel takes a device down and
//! drops its addresses when it changes namespace: the addresses a user set
//! (`IFA_F_PERMANENT`) of global scope are put back and the device brought
//! up, as runc does.
//!
//! Nothing moves a device back: when the container's network namespace
//! goes (its last process ends, at the latest with `delete`), the kernel
//! returns physical devices to the host's initial namespace and destroys
//! virtual ones (veth, macvlan, ...).

use network::netlink::{AddressDetails, Netlink};
use oci_spec::runtime::{LinuxNamespaceType, LinuxNetDevice, Spec};
use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NetDeviceError {
    #[error("linux.netDevices: {name}: no such network device on the host")]
    Missing { name: String },
    #[error("linux.netDevices: {name}: {source}")]
    Netlink {
        name: String,
        #[source]
        source: network::netlink::Error,
    },
    #[error("linux.netDevices: opening {path}: {source}")]
    Netns {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What the kernel takes as an interface name (IFNAMSIZ - 1 bytes, no '/',
/// ':' or white space, not "." or "..").
fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name.contains(['/', ':', '\0'])
        && !name.contains(char::is_whitespace)
}

/// `linux.netDevices`, when it names any device.
fn devices(spec: &Spec) -> Option<&HashMap<String, LinuxNetDevice>> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.net_devices().as_ref())
        .filter(|d| !d.is_empty())
}

/// Validation: a new network namespace, root, interface names the kernel
/// takes, and no two devices with the same name in the container.
pub fn check(spec: &Spec) -> Result<(), String> {
    let Some(devices) = devices(spec) else {
        return Ok(());
    };
    if !crate::spec::has_new_namespace(spec, LinuxNamespaceType::Network) {
        return Err("moving network devices needs a new network namespace".into());
    }
    if !nix::unistd::geteuid().is_root() {
        return Err("moving network devices needs root (CAP_NET_ADMIN on the host)".into());
    }
    let mut names = Vec::new();
    for (host_name, device) in devices {
        let name = device.name().as_deref().unwrap_or(host_name);
        for n in [host_name.as_str(), name] {
            if !valid_ifname(n) {
                return Err(format!(
                    "{n:?} is not an interface name (1 to 15 bytes without '/', ':' or spaces)"
                ));
            }
        }
        if name.contains('%') {
            return Err(format!(
                "{host_name}: name templates ({name:?}) are not supported by berth yet"
            ));
        }
        if names.contains(&name) {
            return Err(format!(
                "two devices would be called {name} in the container"
            ));
        }
        names.push(name);
    }
    Ok(())
}

/// Moves every device of `linux.netDevices` into the network namespace of
/// process `pid` (the container's init), with its addresses, and brings it up.
pub fn move_in(pid: i32, spec: &Spec) -> Result<(), NetDeviceError> {
    let Some(devices) = devices(spec) else {
        return Ok(());
    };
    let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
    let netns = std::fs::File::open(&path).map_err(|source| NetDeviceError::Netns {
        path: path.clone(),
        source,
    })?;
    let netlink_err = |name: &str| {
        let name = name.to_owned();
        move |source| NetDeviceError::Netlink { name, source }
    };
    let mut host = Netlink::open().map_err(netlink_err("host"))?;
    let addresses = host.addresses().map_err(netlink_err("host addresses"))?;
    let mut inside = Netlink::open_in_netns(netns.as_fd()).map_err(netlink_err("container"))?;
    for (host_name, device) in devices {
        let name = device.name().as_deref().unwrap_or(host_name);
        let index = host
            .link_index(host_name)
            .map_err(netlink_err(host_name))?
            .ok_or_else(|| NetDeviceError::Missing {
                name: host_name.clone(),
            })?;
        let kept: Vec<&AddressDetails> = addresses
            .iter()
            .filter(|a| a.index == index && a.permanent && a.global)
            .collect();
        let rename = (name != host_name).then_some(name);
        host.move_link(index, host_name, netns.as_fd(), rename)
            .map_err(netlink_err(host_name))?;
        let index = inside.require_link(name).map_err(netlink_err(name))?;
        for a in kept {
            inside
                .add_address(index, name, a.addr, a.prefix, a.addr.is_ipv6())
                .map_err(netlink_err(name))?;
        }
        inside
            .set_up(index, name, true)
            .map_err(netlink_err(name))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::valid_ifname;

    #[test]
    fn interface_names() {
        for ok in ["eth1", "net0", "a", "x23456789012345"] {
            assert!(valid_ifname(ok), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a:1", "a b", "x234567890123456"] {
            assert!(!valid_ifname(bad), "{bad}");
        }
    }
}
