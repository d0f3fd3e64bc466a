//! The names path of an attach as the network fills: `Networks::prepare`
//! (the allocation transaction with the endpoint's name and hosts file
//! slot, then the line in the network's hosts file and the container's
//! resolv.conf and hostname) and `Networks::release` of one more container
//! with 0 and with 1,000 containers on the network. Prints the figures; no
//! timed assertion (the machine is shared). Needs root: the network is a
//! real bridge (10.213.24.0/22, bridge `bn<pid>x24`), removed at the end,
//! also when the test fails.

use network::{ContainerNetworkRequest, NetworkCreate, Networks};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Guard {
    dir: PathBuf,
    network: String,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(nets) = Networks::open(&self.dir) {
            let _ = nets.remove(&self.network, true);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn request(network: &str, name: &str) -> ContainerNetworkRequest {
    ContainerNetworkRequest {
        networks: vec![format!("{network}:name={name}")],
        hostname: Some(format!("{name}-host")),
        ..Default::default()
    }
}

/// The state directory of container `id` (prepare writes its files there).
fn owner(dir: &Path, id: &str) -> PathBuf {
    let owner = dir.join("containers").join(id);
    std::fs::create_dir_all(&owner).expect("mkdir owner");
    owner
}

/// Median of `rounds` prepare+release of a probe container: (prepare, release).
fn probe(nets: &Networks, dir: &Path, network: &str, rounds: u32) -> (Duration, Duration) {
    let (mut prepare, mut release) = (Vec::new(), Vec::new());
    let hosts = dir.join("names").join(format!("{network}.hosts"));
    for i in 0..rounds {
        let id = format!("probe{i}");
        let owner = owner(dir, &id);
        let t = Instant::now();
        nets.prepare(&id, &owner, &request(network, "probe"))
            .expect("prepare");
        prepare.push(t.elapsed());
        let text = std::fs::read_to_string(&hosts).unwrap();
        assert!(
            text.lines().any(|l| l.contains(" probe probe-host")),
            "no probe line"
        );
        let t = Instant::now();
        nets.release(&id).expect("release");
        release.push(t.elapsed());
        let text = std::fs::read_to_string(&hosts).unwrap();
        assert!(!text.contains(" probe "), "the probe's line stayed");
    }
    prepare.sort();
    release.sort();
    (prepare[prepare.len() / 2], release[release.len() / 2])
}

#[test]
fn attach_cost_with_a_thousand_names_on_the_network() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let pid = std::process::id();
    let guard = Guard {
        dir: PathBuf::from(format!("/run/berth-namestests-{pid}")),
        network: format!("names-{pid}"),
    };
    let (dir, network) = (&guard.dir, &guard.network);
    let nets = Networks::open(dir).expect("open the store");
    nets.create_network(&NetworkCreate {
        name: network.clone(),
        subnet: Some("10.213.24.0/22".into()),
        bridge: Some(format!("bn{}x24", pid % 100_000)),
        ..Default::default()
    })
    .expect("network create");

    let empty = probe(&nets, dir, network, 21);
    for i in 0..1000 {
        let id = format!("c{i}");
        let owner = owner(dir, &id);
        nets.prepare(&id, &owner, &request(network, &id))
            .expect("prepare");
    }
    let full = probe(&nets, dir, network, 21);
    eprintln!(
        "names: prepare / release of one container, median of 21: \
         0 on the network: {:?} / {:?}; 1,000 on the network: {:?} / {:?}",
        empty.0, empty.1, full.0, full.1
    );
    let hosts = dir.join("names").join(format!("{network}.hosts"));
    let text = std::fs::read_to_string(&hosts).unwrap();
    let live = text.lines().filter(|l| l.starts_with("10.213.2")).count();
    assert_eq!(live, 1000, "one line per container");
    // The lowest free slot: the probe's slot was reused, the file holds
    // 1,001 slots at most.
    assert!(
        text.lines().count() <= 32 + 1001,
        "{} lines",
        text.lines().count()
    );
}
