//! Compiled programs kept in the state root (`<root>/.seccomp/`), so that a
//! profile is compiled once per host, not once per container.
//!
//! An entry is found by a hash of its key and trusted only when the key
//! stored in it is byte-for-byte the key asked for: the key is the profile
//! as JSON plus what else shapes the program (berth's and libseccomp's
//! versions, the kernel's seccomp API level). A hash collision, a torn or
//! foreign file is therefore a miss, never a wrong filter. Entries are
//! written atomically (temporary file renamed over), so concurrent creates
//! may both compile but never read half a file. The directory is not
//! pruned: one entry per distinct profile, a few KiB each.

use super::{compile, SeccompError};
use oci_spec::runtime::LinuxSeccomp;
use std::hash::{Hash, Hasher};
use std::path::Path;

/// The directory under the state root.
pub const DIR: &str = ".seccomp";

/// File layout: MAGIC, key length (u32 LE), key, program.
const MAGIC: &[u8; 8] = b"berthbpf";

/// The compiled program for `profile`, from the cache under `root` or
/// compiled (and stored) now. A cache that cannot be read or written only
/// costs the compile.
pub fn compiled(root: &Path, profile: &LinuxSeccomp) -> Result<Vec<u8>, SeccompError> {
    let key = key(profile)?;
    let dir = root.join(DIR);
    let path = dir.join(format!("{:016x}", hash(&key)));
    if let Ok(bytes) = std::fs::read(&path) {
        if let Some(bpf) = entry(&bytes, &key) {
            return Ok(bpf.to_vec());
        }
    }
    let bpf = compile::to_bpf(profile)?;
    let mut file = Vec::with_capacity(MAGIC.len() + 4 + key.len() + bpf.len());
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&(key.len() as u32).to_le_bytes());
    file.extend_from_slice(&key);
    file.extend_from_slice(&bpf);
    let stored = make_dir(root, &dir).and_then(|()| {
        crate::state::write_atomic(&path, &file, crate::state::PRIVATE_FILE)
            .map_err(|e| e.to_string())
    });
    if let Err(e) = stored {
        tracing::debug!("seccomp: not caching the compiled profile: {e}");
    }
    Ok(bpf)
}

/// `<root>/.seccomp/`, private like the rest of the state root.
fn make_dir(root: &Path, dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    crate::state::make_root(root).map_err(|e| e.to_string())?;
    match std::fs::DirBuilder::new()
        .mode(crate::state::PRIVATE_DIR)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("{}: {e}", dir.display())),
    }
}

fn key(profile: &LinuxSeccomp) -> Result<Vec<u8>, SeccompError> {
    let version = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    let mut key = format!(
        "berth {} libseccomp {version} api {}\n",
        env!("CARGO_PKG_VERSION"),
        libseccomp::get_api()
    )
    .into_bytes();
    serde_json::to_writer(&mut key, profile).map_err(|e| SeccompError::Io {
        what: "serialising the profile".into(),
        source: e.into(),
    })?;
    Ok(key)
}

fn hash(key: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// The program in a cache file, when the file holds exactly `key`.
fn entry<'a>(bytes: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let (len, rest) = rest.split_at_checked(4)?;
    let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
    let (stored, bpf) = rest.split_at_checked(len)?;
    (stored == key && !bpf.is_empty()).then_some(bpf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_used_only_for_its_own_key() {
        let dir = std::env::temp_dir().join(format!("berth-seccomp-cache-{}", std::process::id()));
        let profile: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","exit_group"],"action":"SCMP_ACT_ALLOW"}]}"#,
        )
        .unwrap();
        let first = compiled(&dir, &profile).unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.join(DIR)).unwrap().collect();
        assert_eq!(files.len(), 1);
        let path = files[0].as_ref().unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let key = key(&profile).unwrap();
        assert_eq!(entry(&bytes, &key), Some(first.as_slice()));
        assert_eq!(entry(&bytes, b"another profile"), None);
        assert_eq!(entry(&bytes[..20], &key), None);
        // A file that holds another key under this name is recompiled over.
        std::fs::write(&path, b"berthbpf\x03\x00\x00\x00abcXXXXXXXX").unwrap();
        assert_eq!(compiled(&dir, &profile).unwrap(), first);
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
