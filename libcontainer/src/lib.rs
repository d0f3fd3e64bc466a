//! Turns an OCI bundle (config.json + rootfs) into a running container.
pub mod cgroups;
