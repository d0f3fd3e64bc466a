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
        let current = files::read(dir, "devices.list")?;
        for (file, line) in v1_writes(&current, &rules) {
            files::write(dir, file, &line).map_err(CgroupError::for_field("devices"))?;
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

/// `access` in the kernel's order (r, w, m).
fn norm(access: &str) -> String {
    "rwm".chars().filter(|c| access.contains(*c)).collect()
}

/// One `devices.list` line (`c 1:3 rwm`) as a rule.
fn parse_list_line(line: &str) -> Option<Rule> {
    let mut f = line.split_whitespace();
    let typ = f.next()?.chars().next()?;
    let (major, minor) = f.next()?.split_once(':')?;
    let num = |s: &str| {
        if s == "*" {
            Some(None)
        } else {
            s.parse().ok().map(Some)
        }
    };
    Some(Rule {
        allow: true,
        typ,
        major: num(major)?,
        minor: num(minor)?,
        access: norm(f.next()?),
    })
}

type Key = (char, Option<u32>, Option<u32>);

fn key(r: &Rule) -> Key {
    (r.typ, r.major, r.minor)
}

/// The access bits `set` grants to exactly `k`.
fn access_of(set: &[Rule], k: Key) -> String {
    norm(
        &set.iter()
            .filter(|r| key(r) == k)
            .flat_map(|r| r.access.chars())
            .collect::<String>(),
    )
}

fn line(k: Key, access: String) -> String {
    Rule {
        allow: true,
        typ: k.0,
        major: k.1,
        minor: k.2,
        access,
    }
    .v1_line()
}

/// What to write to `devices.allow`/`devices.deny`, in order, to go from
/// what `devices.list` shows to what `rules` mean.
///
/// When both are allow-lists (the usual case, and every update of one) only
/// the difference is written, allows first: a device allowed before and
/// after is never denied in between. Otherwise the rules are written in
/// order (a deny-all rule resets the list first).
pub fn v1_writes(list: &str, rules: &[Rule]) -> Vec<(&'static str, String)> {
    let target = crate::cgroups::devices_bpf::Emulated::from_rules(rules);
    let lines: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let in_order = || {
        rules
            .iter()
            .map(|r| {
                let file = if r.allow {
                    "devices.allow"
                } else {
                    "devices.deny"
                };
                (file, r.v1_line())
            })
            .collect()
    };
    if lines.iter().any(|l| l.starts_with('a')) {
        // In allow-all mode the kernel does not list deny exceptions: only
        // "allow-all and nothing else" is known to be in force already.
        if target.default_allow && target.exceptions.is_empty() {
            return Vec::new();
        }
        return in_order();
    }
    if target.default_allow {
        return in_order();
    }
    let current: Vec<Rule> = lines.iter().filter_map(|l| parse_list_line(l)).collect();
    let mut writes = Vec::new();
    let mut seen: Vec<Key> = Vec::new();
    for k in target.exceptions.iter().map(key) {
        if seen.contains(&k) {
            continue;
        }
        seen.push(k);
        let have = access_of(&current, k);
        let add = norm(&access_of(&target.exceptions, k).replace(|c| have.contains(c), ""));
        if !add.is_empty() {
            writes.push(("devices.allow", line(k, add)));
        }
    }
    let mut seen: Vec<Key> = Vec::new();
    for k in current.iter().map(key) {
        if seen.contains(&k) {
            continue;
        }
        seen.push(k);
        let want = access_of(&target.exceptions, k);
        let remove = norm(&access_of(&current, k).replace(|c| want.contains(c), ""));
        if !remove.is_empty() {
            writes.push(("devices.deny", line(k, remove)));
        }
    }
    writes
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
    fn v1_writes_only_the_difference_between_allow_lists() {
        let spec: Vec<LinuxDeviceCgroup> =
            serde_json::from_str(r#"[{"allow":false,"access":"rwm"}]"#).unwrap();
        let r = rules(&spec).unwrap();
        // A fresh cgroup allows everything: the rules go in order.
        let fresh = v1_writes("a *:* rwm\n", &r);
        assert_eq!(fresh[0], ("devices.deny", "a".to_string()));
        assert_eq!(fresh.len(), r.len());
        // The same rules again: nothing to write.
        let list: String = r[1..].iter().map(|r| r.v1_line() + "\n").collect();
        assert!(v1_writes(&list, &r).is_empty());
        // One device more, one taken away, one narrowed.
        let mut r2 = r.clone();
        r2.push(Rule {
            allow: true,
            typ: 'c',
            major: Some(1),
            minor: Some(11),
            access: "r".into(),
        });
        r2.retain(|x| x.v1_line() != "c 10:200 rwm");
        r2.push(Rule {
            allow: false,
            typ: 'c',
            major: Some(1),
            minor: Some(3),
            access: "m".into(),
        });
        assert_eq!(
            v1_writes(&list, &r2),
            [
                ("devices.allow", "c 1:11 r".to_string()),
                ("devices.deny", "c 1:3 m".to_string()),
                ("devices.deny", "c 10:200 rwm".to_string()),
            ]
        );
        // Allow-all wanted and in force: nothing.
        assert!(v1_writes("a *:* rwm\n", &rules(&[]).unwrap()).is_empty());
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
