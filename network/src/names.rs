//! Names inside networked containers, without a DNS daemon: what a
//! container asks for (`--dns`, `--dns-search`, `--add-host`, parsed here)
//! and the files it gets, made in its state directory and bind-mounted by
//! init (`libcontainer/src/network_files.rs`):
//!
//! - **`/etc/hosts`**: its first network's hosts file, shared by every
//!   container of the network and written in place as endpoints come and go
//!   ([`crate::hostsfile`]), or the container's own copy of it when it has
//!   `--add-host` entries.
//!
//! - **`/etc/resolv.conf`** ([`resolv_conf`]): the host's file (or
//!   systemd-resolved's upstream list when the host's names only its stub),
//!   with the loopback nameservers dropped (and IPv6 ones when the container has no
//!   IPv6), as docker does; `--dns` and `--dns-search` replace the
//!   nameservers and the search list. No public resolver is ever added,
//!   and nothing is queried: the host's file is only read.
//!
//! - **`/etc/hostname`**: the config's `hostname`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The most `--add-host` entries a container may have (they are lines of
/// its hosts file's header).
pub const MAX_ADD_HOSTS: usize = 25;

/// Where the host's resolver configuration is read from.
pub const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";
/// systemd-resolved's list of the upstream nameservers: read instead of
/// [`HOST_RESOLV_CONF`] when that names only resolved's stub (127.0.0.53),
/// which means nothing in the container's network namespace, as docker does.
pub const SYSTEMD_RESOLVED_UPSTREAM: &str = "/run/systemd/resolve/resolv.conf";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A network's hosts file or a copy of it.
    #[error("hosts file {}: {what}: {source}", .path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A container's resolv.conf, hostname or hosts copy, or the host's
    /// resolv.conf.
    #[error("{path}: {what}: {source}", path = .path.display())]
    File {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{option} {value:?}: {reason}")]
    Invalid {
        option: &'static str,
        value: String,
        reason: String,
    },
    #[error(
        "network {network}: the names of this endpoint do not fit a hosts line of {max} bytes: {text:?}; \
         use a shorter name=, fewer alias= or a shorter hostname"
    )]
    LineTooLong {
        network: String,
        text: String,
        max: usize,
    },
    #[error(
        "--dns, --dns-search and --add-host (berth.dns, berth.dns-search, berth.add-host) \
         make the files of a container on a berth network: give --network (or berth.network)"
    )]
    WithoutNetwork,
    #[error("--add-host: {count} entries, at most {MAX_ADD_HOSTS}")]
    TooManyHosts { count: usize },
}

type Result<T> = std::result::Result<T, Error>;

pub(crate) fn invalid(option: &'static str, value: &str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        option,
        value: value.to_owned(),
        reason: reason.into(),
    }
}
// ---- requests ----

/// One `--add-host NAME:IP` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddHost {
    pub name: String,
    pub address: HostAddress,
}

/// The address of an `--add-host` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostAddress {
    Ip(IpAddr),
    /// `host-gateway`, as docker: the gateway of the container's first
    /// network, where the host answers.
    HostGateway,
}

/// What a container asks for its name files, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamesRequest {
    pub hostname: Option<String>,
    pub dns: Vec<IpAddr>,
    pub dns_search: Vec<String>,
    pub add_hosts: Vec<AddHost>,
}

/// Whether `name` can stand in a hosts line and be looked up: 1-253 bytes
/// of letters, digits, `_`, `-`, `.` and `+` (a container id's), starting
/// with a letter or digit.
pub fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && name.len() <= 253
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+'))
}

/// `--add-host NAME:IP` (IP may be an IPv6 address, or `host-gateway`).
pub fn parse_add_host(text: &str) -> Result<AddHost> {
    let (name, address) = text
        .split_once(':')
        .ok_or_else(|| invalid("--add-host", text, "expected NAME:IP"))?;
    if !valid_name(name) {
        return Err(invalid(
            "--add-host",
            text,
            "a name is 1-253 characters of [A-Za-z0-9_.+-], starting with a letter or digit",
        ));
    }
    let address = match address {
        "host-gateway" => HostAddress::HostGateway,
        a => HostAddress::Ip(
            a.trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| invalid("--add-host", text, "not an IP address or host-gateway"))?,
        ),
    };
    Ok(AddHost {
        name: name.to_owned(),
        address,
    })
}

pub fn parse_dns(text: &str) -> Result<IpAddr> {
    text.parse()
        .map_err(|_| invalid("--dns", text, "not an IP address"))
}

/// A search domain: a name as [`valid_name`] says, or `.` for none.
pub fn parse_dns_search(text: &str) -> Result<String> {
    let domain = text
        .strip_suffix('.')
        .filter(|d| !d.is_empty())
        .unwrap_or(text);
    if domain != "." && !valid_name(domain) {
        return Err(invalid(
            "--dns-search",
            text,
            "a domain is 1-253 characters of [A-Za-z0-9_.-], or . for none",
        ));
    }
    Ok(domain.to_owned())
}

impl NamesRequest {
    /// Parses the raw values of `--dns`, `--dns-search` and `--add-host`.
    pub fn parse(
        hostname: Option<&str>,
        dns: &[String],
        dns_search: &[String],
        add_hosts: &[String],
    ) -> Result<Self> {
        if add_hosts.len() > MAX_ADD_HOSTS {
            return Err(Error::TooManyHosts {
                count: add_hosts.len(),
            });
        }
        Ok(Self {
            hostname: hostname
                .filter(|h| !h.is_empty())
                .map(|h| {
                    if valid_name(h) {
                        Ok(h.to_owned())
                    } else {
                        Err(invalid("hostname", h, "not a name a hosts file can hold"))
                    }
                })
                .transpose()?,
            dns: dns.iter().map(|d| parse_dns(d)).collect::<Result<_>>()?,
            dns_search: dns_search
                .iter()
                .map(|d| parse_dns_search(d))
                .collect::<Result<_>>()?,
            add_hosts: add_hosts
                .iter()
                .map(|h| parse_add_host(h))
                .collect::<Result<_>>()?,
        })
    }
}

// ---- resolv.conf and hostname ----

/// The container's resolv.conf from the host's `host` text, as docker makes
/// it: `dns` replaces the host's nameservers and `search` its search list;
/// the host's loopback nameservers (which mean nothing in the container's
/// network namespace) are dropped, and with them IPv6 ones when the
/// container has no IPv6. Nothing is added when no nameserver is left.
pub fn resolv_conf(host: &str, dns: &[IpAddr], search: &[String], ipv6: bool) -> String {
    let usable = |ip: &IpAddr| !ip.is_loopback() && (ipv6 || ip.is_ipv4());
    let mut out = String::new();
    let mut nameservers = Vec::new();
    let mut host_search = None;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                // An address with a zone (fe80::1%eth0) names a host link.
                let ip = words.next().and_then(|w| w.parse::<IpAddr>().ok());
                if let Some(ip) = ip.filter(usable) {
                    nameservers.push(ip);
                }
            }
            // The last of `search` and `domain` wins, as in libc.
            Some("search") | Some("domain") => {
                host_search = Some(words.map(str::to_owned).collect::<Vec<_>>())
            }
            Some("options") | Some("sortlist") => {
                out.push_str(line.trim());
                out.push('\n');
            }
            _ => {}
        }
    }
    let nameservers: Vec<IpAddr> = if dns.is_empty() {
        nameservers
    } else {
        dns.to_vec()
    };
    let search: Vec<String> = if search.is_empty() {
        host_search.unwrap_or_default()
    } else {
        search.iter().filter(|s| *s != ".").cloned().collect()
    };
    let mut text = String::new();
    if !search.is_empty() {
        text.push_str(&format!("search {}\n", search.join(" ")));
    }
    for ns in nameservers {
        text.push_str(&format!("nameserver {ns}\n"));
    }
    text + &out
}

/// Whether the nameservers of a resolv.conf text are only
/// systemd-resolved's stub listener.
fn only_systemd_resolved(text: &str) -> bool {
    let mut servers = text.lines().filter_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some("nameserver")).then(|| w.next()).flatten()
    });
    servers.next() == Some("127.0.0.53") && servers.next().is_none()
}

/// The text of `path`; `None` if there is no such file.
fn read_if_there(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::File {
            path: path.to_owned(),
            what: "read",
            source,
        }),
    }
}

/// The name files of a container, in its state directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContainerFiles {
    /// Bound read-only at /etc/hosts: the first network's hosts file, or
    /// the container's copy of it.
    pub hosts: PathBuf,
    pub resolv_conf: PathBuf,
    /// With the config's hostname only.
    pub hostname: Option<PathBuf>,
}

/// Writes `dir/resolv.conf` and `dir/hostname` (the hosts file is the
/// network's, or the copy [`crate::Networks::prepare`] made).
pub fn write_container_files(
    dir: &Path,
    hosts: PathBuf,
    req: &NamesRequest,
    ipv6: bool,
) -> Result<ContainerFiles> {
    let mut host = read_if_there(Path::new(HOST_RESOLV_CONF))?.unwrap_or_default();
    if only_systemd_resolved(&host) {
        if let Some(upstream) = read_if_there(Path::new(SYSTEMD_RESOLVED_UPSTREAM))? {
            host = upstream;
        }
    }
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| Error::File {
            path: path.clone(),
            what: "write",
            source,
        })?;
        Ok::<_, Error>(path)
    };
    let resolv_conf = write(
        "resolv.conf",
        resolv_conf(&host, &req.dns, &req.dns_search, ipv6),
    )?;
    let hostname = req
        .hostname
        .as_ref()
        .map(|h| write("hostname", format!("{h}\n")))
        .transpose()?;
    Ok(ContainerFiles {
        hosts,
        resolv_conf,
        hostname,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_drops_loopback_and_keeps_the_rest() {
        let host = "# generated\nnameserver 127.0.0.53\nnameserver 10.255.255.53\n\
                    nameserver ::1\nnameserver fd00:213:20::53\nnameserver fe80::1%eth0\n\
                    search example.com lan\noptions edns0 trust-ad\n";
        assert_eq!(
            resolv_conf(host, &[], &[], false),
            "search example.com lan\nnameserver 10.255.255.53\noptions edns0 trust-ad\n"
        );
        assert_eq!(
            resolv_conf(host, &[], &[], true),
            "search example.com lan\nnameserver 10.255.255.53\nnameserver fd00:213:20::53\noptions edns0 trust-ad\n"
        );
        // Only loopback servers: none at all, never a public resolver.
        assert_eq!(
            resolv_conf(
                "nameserver 127.0.0.53\nnameserver 127.0.1.1\n",
                &[],
                &[],
                true
            ),
            ""
        );
        let dns = [parse_dns("10.213.20.53").unwrap()];
        let search = [parse_dns_search("corp.example.").unwrap()];
        assert_eq!(
            resolv_conf(host, &dns, &search, false),
            "search corp.example\nnameserver 10.213.20.53\noptions edns0 trust-ad\n"
        );
        assert_eq!(
            resolv_conf(host, &[], &[".".into()], false),
            "nameserver 10.255.255.53\noptions edns0 trust-ad\n"
        );
    }

    #[test]
    fn a_stub_resolver_alone_means_its_upstream_list() {
        assert!(only_systemd_resolved(
            "# stub\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n"
        ));
        assert!(!only_systemd_resolved(
            "nameserver 127.0.0.53\nnameserver 10.213.20.53\n"
        ));
        assert!(!only_systemd_resolved("nameserver 10.255.255.53\n"));
        assert!(!only_systemd_resolved(""));
    }

    #[test]
    fn requests_parse_or_name_what_is_wrong() {
        let r = NamesRequest::parse(
            Some("web1"),
            &["10.213.20.53".into(), "fd00:213:20::53".into()],
            &["example.com".into()],
            &["db:10.213.20.9".into(), "six:fd00:213:20::9".into()],
        )
        .unwrap();
        assert_eq!(r.dns.len(), 2);
        assert_eq!(
            r.add_hosts[1].address,
            HostAddress::Ip("fd00:213:20::9".parse().unwrap())
        );
        for (dns, search, hosts) in [
            (vec!["8.8.8"], vec![], vec![]),
            (vec![], vec!["bad domain"], vec![]),
            (vec![], vec![], vec!["noaddress"]),
            (vec![], vec![], vec!["bad name:10.0.0.1"]),
            (vec![], vec![], vec!["x:notanip"]),
        ] {
            let s = |v: Vec<&str>| v.into_iter().map(String::from).collect::<Vec<_>>();
            assert!(
                NamesRequest::parse(None, &s(dns.clone()), &s(search.clone()), &s(hosts.clone()))
                    .is_err(),
                "{dns:?} {search:?} {hosts:?} accepted"
            );
        }
        let many: Vec<String> = (0..=MAX_ADD_HOSTS)
            .map(|i| format!("h{i}:10.0.0.1"))
            .collect();
        assert!(matches!(
            NamesRequest::parse(None, &[], &[], &many),
            Err(Error::TooManyHosts { .. })
        ));
        assert!(NamesRequest::parse(Some("bad host"), &[], &[], &[]).is_err());
    }
}
