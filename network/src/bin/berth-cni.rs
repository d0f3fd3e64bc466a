//! `berth-cni`: berth's network layer as a CNI plugin (see `network::cni`).

fn main() {
    std::process::exit(network::cni::main());
}
