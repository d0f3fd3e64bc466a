//! `update`: runc's flags, or a LinuxResources JSON with `--resources`.

use crate::GlobalOptions;
use anyhow::Context;
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};
use std::io::Read;

#[derive(clap::Args, Debug, Default)]
pub struct UpdateArgs {
    /// File with the LinuxResources JSON to apply, or - for stdin
    #[arg(long, short = 'r', value_name = "FILE")]
    pub resources: Option<String>,
    /// Per-cgroup block I/O weight, 10 to 1000
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period (µs)
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota (µs per period; -1 for none)
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU burst (µs)
    #[arg(long)]
    pub cpu_burst: Option<u64>,
    /// CPU shares (relative weight)
    #[arg(long)]
    pub cpu_share: Option<u64>,
    /// CPU real-time period (µs)
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    /// CPU real-time runtime (µs per period)
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs the container may use (0-3, 0,1)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// SCHED_IDLE for the cgroup (1) or not (0)
    #[arg(long)]
    pub cpu_idle: Option<i64>,
    /// Memory limit (bytes, or with a unit: 512m, 1g)
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit; -1 for unlimited swap
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of pids
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Kernel memory limit: obsolete, refused
    #[arg(long)]
    pub kernel_memory: Option<String>,
    /// Kernel TCP memory limit: obsolete, refused
    #[arg(long)]
    pub kernel_memory_tcp: Option<String>,
    /// Intel RDT L3 cache schema: not supported, refused
    #[arg(long)]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema: not supported, refused
    #[arg(long)]
    pub mem_bw_schema: Option<String>,
    /// Container id
    pub id: String,
}

pub fn run(g: &GlobalOptions, args: UpdateArgs) -> anyhow::Result<()> {
    let resources = resources_from(&args)?;
    Ok(libcontainer::update::update(&g.root, &args.id, &resources)?)
}

/// Bytes as runc reads them (`units.RAMInBytes`): a number with an optional
/// binary unit k, m, g, t, p (any case, optional `b`/`ib`); `-1` is -1.
pub fn parse_bytes(s: &str) -> anyhow::Result<i64> {
    let t = s.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let lower = t.to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let lower = lower.strip_suffix('i').unwrap_or(lower);
    let (num, mult) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1i64 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        Some('t') => (&lower[..lower.len() - 1], 1 << 40),
        Some('p') => (&lower[..lower.len() - 1], 1 << 50),
        _ => (lower, 1),
    };
    let num = num.trim();
    let value: f64 = num
        .parse()
        .ok()
        .filter(|v: &f64| *v >= 0.0 && !num.starts_with('+'))
        .with_context(|| format!("invalid size {s:?} (examples: 1048576, 512m, 1g)"))?;
    Ok((value * mult as f64) as i64)
}

fn resources_from(a: &UpdateArgs) -> anyhow::Result<LinuxResources> {
    for (flag, set) in [
        ("--kernel-memory", a.kernel_memory.is_some()),
        ("--kernel-memory-tcp", a.kernel_memory_tcp.is_some()),
    ] {
        if set {
            anyhow::bail!("{flag} is obsolete (kernel memory limits are gone from current kernels) and not supported by berth");
        }
    }
    for (flag, set) in [
        ("--l3-cache-schema", a.l3_cache_schema.is_some()),
        ("--mem-bw-schema", a.mem_bw_schema.is_some()),
    ] {
        if set {
            anyhow::bail!("{flag}: Intel RDT is not supported by berth");
        }
    }
    let flags_given = a.blkio_weight.is_some()
        || a.cpu_period.is_some()
        || a.cpu_quota.is_some()
        || a.cpu_burst.is_some()
        || a.cpu_share.is_some()
        || a.cpu_rt_period.is_some()
        || a.cpu_rt_runtime.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some()
        || a.cpu_idle.is_some()
        || a.memory.is_some()
        || a.memory_reservation.is_some()
        || a.memory_swap.is_some()
        || a.pids_limit.is_some();
    if let Some(file) = &a.resources {
        if flags_given {
            anyhow::bail!("--resources cannot be combined with other update flags: put every value in the JSON");
        }
        let mut text = String::new();
        if file == "-" {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading resources from stdin")?;
        } else {
            text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
        }
        return serde_json::from_str(&text)
            .with_context(|| format!("parsing resources from {file}"));
    }
    if !flags_given {
        anyhow::bail!("nothing to update: give --resources or at least one limit flag");
    }
    let mut r = LinuxResources::default();
    if let Some(w) = a.blkio_weight {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    let mut cpu = LinuxCpu::default();
    cpu.set_period(a.cpu_period);
    cpu.set_quota(a.cpu_quota);
    cpu.set_burst(a.cpu_burst);
    cpu.set_shares(a.cpu_share);
    cpu.set_realtime_period(a.cpu_rt_period);
    cpu.set_realtime_runtime(a.cpu_rt_runtime);
    cpu.set_cpus(a.cpuset_cpus.clone());
    cpu.set_mems(a.cpuset_mems.clone());
    cpu.set_idle(a.cpu_idle);
    if cpu != LinuxCpu::default() {
        r.set_cpu(Some(cpu));
    }
    let bytes = |v: &Option<String>| v.as_deref().map(parse_bytes).transpose();
    let mut mem = LinuxMemory::default();
    mem.set_limit(bytes(&a.memory)?);
    mem.set_reservation(bytes(&a.memory_reservation)?);
    mem.set_swap(bytes(&a.memory_swap)?);
    if mem != LinuxMemory::default() {
        r.set_memory(Some(mem));
    }
    if let Some(limit) = a.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(limit);
        r.set_pids(Some(p));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_runc() {
        assert_eq!(parse_bytes("1048576").unwrap(), 1048576);
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("2kb").unwrap(), 2048);
        assert_eq!(parse_bytes("1.5k").unwrap(), 1536);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("-5").is_err());
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn flags_make_resources() {
        let a = UpdateArgs {
            memory: Some("64m".into()),
            pids_limit: Some(30),
            cpu_quota: Some(20000),
            id: "c".into(),
            ..Default::default()
        };
        let r = resources_from(&a).unwrap();
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(64 << 20));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 30);
        assert_eq!(r.cpu().as_ref().unwrap().quota(), Some(20000));
        assert!(r.block_io().is_none());
        let both = UpdateArgs {
            resources: Some("-".into()),
            memory: Some("1m".into()),
            ..Default::default()
        };
        assert!(resources_from(&both).is_err());
    }
}
