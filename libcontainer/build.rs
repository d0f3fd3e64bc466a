//! Assembles the exec trampoline (`src/process/trampoline/ARCH.S`, see
//! `src/process/trampoline.rs`) into a tiny static executable that the
//! crate embeds. It needs only the C compiler that links Rust programs.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets CARGO_CFG_TARGET_ARCH");
    let source = PathBuf::from(format!("src/process/trampoline/{arch}.S"));
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-env-changed=CC");
    if !source.exists() {
        panic!(
            "berth's exec trampoline has no source for {arch}: write {} (see src/process/trampoline.rs)",
            source.display()
        );
    }
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("trampoline");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-nostdlib", "-static", "-s"])
        .args([
            "-Wl,--build-id=none",
            "-Wl,-z,noseparate-code",
            "-Wl,-z,noexecstack",
        ])
        .arg("-o")
        .arg(&out)
        .arg(&source)
        .status()
        .unwrap_or_else(|e| panic!("running {cc} to assemble {}: {e}", source.display()));
    if !status.success() {
        panic!("{cc} failed to assemble {}: {status}", source.display());
    }
}
