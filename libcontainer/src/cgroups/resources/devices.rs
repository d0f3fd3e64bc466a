//! `linux.resources.devices`: the device allow/deny list.
//!
//! As runc, the spec's rules come first and runc's default allowed devices
//! (mknod of anything, null, zero, full, random, urandom, tty, ptmx, pts,
//! tun) are appended after them. On v1 the rules are written in order to
//! `devices.deny`/`devices.allow` (a deny-all rule as `a` to
//! `devices.deny`, which also clears the previous exceptions); on v2 the
//! same list becomes an eBPF program ([`crate::cgroups::devices_bpf`]).

use crate::cgroups::{files, CgroupError, CgroupManager};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// One device rule, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    /// 'a' (all), 'b' or 'c'.
    pub typ: char,
    /// None is the wildcard.
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// A subset of "rwm".
    pub access: String,
}

impl Rule {
    const fn allow(
        typ: char,
        major: Option<u32>,
        minor: Option<u32>,
        access: &'static str,
    ) -> RuleDef {
        RuleDef {
            typ,
            major,
            minor,
            access,
        }
    }

    /// The v1 `devices.allow`/`devices.deny` line.
    pub fn v1_line(&self) -> String {
        if self.typ == 'a' {
            return "a".into();
        }
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        format!(
            "{} {}:{} {}",
            self.typ,
            num(self.major),
            num(self.minor),
            self.access
        )
    }

    /// Whether the rule covers every device (type a, or b/c wildcards do not).
    pub fn is_all(&self) -> bool {
        self.typ == 'a'
    }
}

/// A default rule, as a constant.
pub struct RuleDef {
    typ: char,
    major: Option<u32>,
    minor: Option<u32>,
    access: &'static str,
}

/// runc's default allowed devices, appended after the spec's rules.
pub const DEFAULT_ALLOWED: &[RuleDef] = &[
    Rule::allow('c', None, None, "m"),
    Rule::allow('b', None, None, "m"),
    Rule::allow('c', Some(1), Some(3), "rwm"), // /dev/null
    Rule::allow('c', Some(1), Some(8), "rwm"), // /dev/random
    Rule::allow('c', Some(1), Some(7), "rwm"), // /dev/full
    Rule::allow('c', Some(5), Some(0), "rwm"), // /dev/tty
    Rule::allow('c', Some(1), Some(5), "rwm"), // /dev/zero
    Rule::allow('c', Some(1), Some(9), "rwm"), // /dev/urandom
    Rule::allow('c', Some(136), None, "rwm"),  // /dev/pts/*
    Rule::allow('c', Some(5), Some(2), "rwm"), // /dev/ptmx
    Rule::allow('c', Some(10), Some(200), "rwm"), // /dev/net/tun
];

fn number(v: Option<i64>, field: &str) -> Result<Option<u32>, CgroupError> {
    match v {
        None | Some(-1) => Ok(None),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| CgroupError::resource(field, format!("{n} is not a device number"))),
    }
}

/// The spec's rules followed by the defaults, normalised.
pub fn rules(spec: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>, CgroupError> {
    let mut out = Vec::with_capacity(spec.len() + DEFAULT_ALLOWED.len());
    for (i, d) in spec.iter().enumerate() {
        let field = format!("devices[{i}]");
        let typ = match d.typ().unwrap_or_default() {
            LinuxDeviceType::A => 'a',
            LinuxDeviceType::B => 'b',
            LinuxDeviceType::C | LinuxDeviceType::U => 'c',
            LinuxDeviceType::P => {
                return Err(CgroupError::resource(
                    field,
                    "type p (fifo) is not a device the cgroup can control",
                ))
            }
        };
        let access = d.access().clone().unwrap_or_default();
        let access = if access.is_empty() {
            "rwm".to_string()
        } else {
            access
        };
        if !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(CgroupError::resource(
                field,
                format!("access {access:?} is not a combination of r, w and m"),
            ));
        }
        out.push(Rule {
            allow: d.allow(),
            typ,
            major: number(d.major(), &field)?,
            minor: number(d.minor(), &field)?,
            access,
        });
    }
    out.extend(DEFAULT_ALLOWED.iter().map(|d| Rule {
        allow: true,
        typ: d.typ,
        major: d.major,
        minor: d.minor,
        access: d.access.to_string(),
    }));
    Ok(out)
}

pub fn apply(mgr: &CgroupManager, spec: &[LinuxDeviceCgroup]) -> Result<(), CgroupError> {
    let rules = rules(spec)?;
    if let Some(dir) = mgr.v1_dir("devices") {
        // An update with the rules already in force writes nothing: writing
        // them again would deny every device for a moment.
        let current = files::read(dir, "devices.list")?;
        if v1_list_matches(&current, &rules) {
            return Ok(());
        }
        for r in &rules {
            let file = if r.allow {
                "devices.allow"
            } else {
                "devices.deny"
            };
            files::write(dir, file, &r.v1_line())
                .map_err(|e| CgroupError::resource("devices", e.to_string()))?;
        }
        return Ok(());
    }
    match &mgr.v2 {
        Some(d) => crate::cgroups::devices_bpf::install(&d.dir, &rules),
        None => Err(CgroupError::resource(
            "devices",
            "the devices controller is not mounted",
        )),
    }
}

/// Whether a v1 `devices.list` already shows what `rules` would leave.
pub fn v1_list_matches(list: &str, rules: &[Rule]) -> bool {
    let target = crate::cgroups::devices_bpf::Emulated::from_rules(rules);
    let norm = |access: &str| -> String { "rwm".chars().filter(|c| access.contains(*c)).collect() };
    let mut current: Vec<String> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.rsplit_once(' ') {
            Some((head, acc)) => format!("{head} {}", norm(acc)),
            None => l.to_owned(),
        })
        .collect();
    current.sort();
    if target.default_allow {
        return target.exceptions.is_empty() && current == ["a *:* rwm"];
    }
    let mut want: Vec<String> = target
        .exceptions
        .iter()
        .map(|e| {
            Rule {
                access: norm(&e.access),
                ..e.clone()
            }
            .v1_line()
        })
        .collect();
    want.sort();
    want.dedup();
    current == want
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_rules_in_order() {
        let spec: Vec<LinuxDeviceCgroup> =
            serde_json::from_str(r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":11,"access":"r"}]"#)
                .unwrap();
        let r = rules(&spec).unwrap();
        assert_eq!(r[0].v1_line(), "a");
        assert!(!r[0].allow);
        assert_eq!(r[1].v1_line(), "c 1:11 r");
        assert_eq!(r[2].v1_line(), "c *:* m");
        assert_eq!(r[4].v1_line(), "c 1:3 rwm");
        assert_eq!(r.len(), 2 + DEFAULT_ALLOWED.len());
    }

    #[test]
    fn v1_list_comparison() {
        let spec: Vec<LinuxDeviceCgroup> =
            serde_json::from_str(r#"[{"allow":false,"access":"rwm"}]"#).unwrap();
        let r = rules(&spec).unwrap();
        let list: String = r[1..].iter().map(|r| r.v1_line() + "\n").collect();
        assert!(v1_list_matches(&list, &r));
        assert!(!v1_list_matches("a *:* rwm\n", &r));
        assert!(v1_list_matches("a *:* rwm\n", &rules(&[]).unwrap()[..0]));
    }

    #[test]
    fn bad_rules_are_named() {
        let spec: Vec<LinuxDeviceCgroup> = serde_json::from_str(
            r#"[{"allow":true,"type":"c","major":1,"minor":3,"access":"rx"}]"#,
        )
        .unwrap();
        let e = rules(&spec).unwrap_err().to_string();
        assert!(e.contains("devices[0]"), "{e}");
    }
}
