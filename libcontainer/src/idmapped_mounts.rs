//! Id-mapped mounts: `mounts[].uidMappings`/`gidMappings` and the `idmap`
//! and `ridmap` options (runtime-spec 1.2, as runc 1.2 does them).
//!
//! The parent, with the host's privileges, makes each one before the clone:
//! a detached copy of the source (`open_tree(OPEN_TREE_CLONE)`, recursive
//! for `rbind`) given the mapping of a user namespace
//! (`mount_setattr(MOUNT_ATTR_IDMAP)`, recursive for `ridmap`). Init inherits
//! the fds and attaches each at its destination with `move_mount`, in the
//! order of `mounts`. A mount's own mappings win; without them the
//! container's user namespace gives its mappings.

use crate::sys;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Mount, Spec};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum IdmapError {
    #[error(
        "mounts[{index}] {destination}: open_tree(OPEN_TREE_CLONE) of {source_path}: {source}"
    )]
    OpenTree {
        index: usize,
        destination: PathBuf,
        source_path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mounts[{index}] {destination}: mount_setattr(MOUNT_ATTR_IDMAP) on {source_path}: {source}{hint}")]
    SetAttr {
        index: usize,
        destination: PathBuf,
        source_path: PathBuf,
        hint: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("mounts[{index}] {destination}: opening the user namespace {path}: {source}")]
    Userns {
        index: usize,
        destination: PathBuf,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mounts[{index}]: {reason}")]
    Invalid { index: usize, reason: &'static str },
    #[error(transparent)]
    NewUserns(#[from] crate::userns::UsernsError),
}

/// How a mount entry asks to be id-mapped, from its options and fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Idmap {
    /// `ridmap`: the mapping applies to every mount below the source too.
    pub recursive: bool,
}

/// The id-mapping a mount entry asks for, if any: `idmap`, `ridmap`, or
/// mappings on the entry (non-recursive without `ridmap`, as runc).
pub fn requested(mount: &Mount) -> Option<Idmap> {
    let options = mount.options().as_deref().unwrap_or(&[]);
    // The last of idmap/ridmap wins, as for other options.
    let from_option = options.iter().rev().find_map(|o| match o.as_str() {
        "idmap" => Some(Idmap { recursive: false }),
        "ridmap" => Some(Idmap { recursive: true }),
        _ => None,
    });
    let has_maps = mount.uid_mappings().is_some() || mount.gid_mappings().is_some();
    from_option.or(has_maps.then_some(Idmap { recursive: false }))
}

/// Where the mapping of an id-mapped mount comes from.
enum Source<'a> {
    Mappings(&'a [LinuxIdMapping], &'a [LinuxIdMapping]),
    /// A user namespace joined by path: its own mappings.
    Path(&'a Path),
}

/// The mapping for the id-mapped mount `mount`, or why there is none.
fn mapping_of<'a>(spec: &'a Spec, mount: &'a Mount) -> Result<Source<'a>, &'static str> {
    let (uid, gid) = (
        mount.uid_mappings().as_deref(),
        mount.gid_mappings().as_deref(),
    );
    match (uid, gid) {
        (Some(uid), Some(gid)) => return Ok(Source::Mappings(uid, gid)),
        (None, None) => {}
        _ => return Err("an id-mapped mount needs both uidMappings and gidMappings"),
    }
    let linux = spec.linux().as_ref();
    if let Some(path) =
        crate::spec::namespace(spec, LinuxNamespaceType::User).and_then(|ns| ns.path().as_deref())
    {
        return Ok(Source::Path(path));
    }
    match (
        linux.and_then(|l| l.uid_mappings().as_deref()),
        linux.and_then(|l| l.gid_mappings().as_deref()),
    ) {
        (Some(uid), Some(gid)) if crate::spec::has_new_namespace(spec, LinuxNamespaceType::User) => {
            Ok(Source::Mappings(uid, gid))
        }
        _ => Err("idmap/ridmap without uidMappings and gidMappings on the mount needs the container's user namespace to take its mappings from"),
    }
}

/// Checks the id-mapped mount at `mounts[index]`: a bind mount with a
/// mapping to use. The error is the reason.
pub fn check(spec: &Spec, mount: &Mount) -> Result<(), String> {
    let bind = mount.typ().as_deref() == Some("bind")
        || mount
            .options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind");
    if !bind {
        return Err("id-mapped mounts are only supported for bind mounts".into());
    }
    match mapping_of(spec, mount)? {
        Source::Mappings(uid, gid) => {
            crate::userns::check_mappings(uid).map_err(|r| format!("uidMappings {r}"))?;
            crate::userns::check_mappings(gid).map_err(|r| format!("gidMappings {r}"))
        }
        Source::Path(_) => Ok(()),
    }
}

/// The detached, id-mapped mounts of `spec.mounts`, by index; empty when
/// there are none (the common case costs one scan of the options).
pub fn prepare(spec: &Spec, bundle: &Path) -> Result<Vec<Option<OwnedFd>>, IdmapError> {
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    if mounts.iter().all(|m| requested(m).is_none()) {
        return Ok(Vec::new());
    }
    // One user namespace per distinct mapping.
    let mut namespaces: Vec<(&[LinuxIdMapping], &[LinuxIdMapping], OwnedFd)> = Vec::new();
    let mut detached = Vec::with_capacity(mounts.len());
    for (index, mount) in mounts.iter().enumerate() {
        let Some(idmap) = requested(mount) else {
            detached.push(None);
            continue;
        };
        let destination = mount.destination().clone();
        let source = mount.source().clone().unwrap_or_default();
        let source = if source.is_relative() {
            bundle.join(source)
        } else {
            source
        };
        let recursive_bind = mount.options().iter().flatten().any(|o| o == "rbind");
        let mut flags = sys::OPEN_TREE_CLONE;
        if recursive_bind {
            flags |= sys::AT_RECURSIVE;
        }
        let tree = sys::open_tree(None, &source, flags).map_err(|e| IdmapError::OpenTree {
            index,
            destination: destination.clone(),
            source_path: source.clone(),
            source: e,
        })?;
        let joined;
        let userns = match mapping_of(spec, mount) {
            Ok(Source::Path(path)) => {
                joined = std::fs::File::open(path).map_err(|e| IdmapError::Userns {
                    index,
                    destination: destination.clone(),
                    path: path.to_owned(),
                    source: e,
                })?;
                joined.as_fd()
            }
            Ok(Source::Mappings(uid, gid)) => {
                let found = namespaces.iter().position(|(u, g, _)| {
                    crate::userns::same_mappings(u, uid) && crate::userns::same_mappings(g, gid)
                });
                let i = match found {
                    Some(i) => i,
                    None => {
                        let fd = crate::userns::new_with_mappings(uid, gid)?;
                        namespaces.push((uid, gid, fd));
                        namespaces.len() - 1
                    }
                };
                namespaces[i].2.as_fd()
            }
            // Validation refuses this before anything is made.
            Err(reason) => return Err(IdmapError::Invalid { index, reason }),
        };
        let mut at = libc::AT_EMPTY_PATH as u32;
        if idmap.recursive {
            at |= sys::AT_RECURSIVE;
        }
        sys::mount_setattr(
            Some(tree.as_fd()),
            Path::new(""),
            at,
            sys::MOUNT_ATTR_IDMAP,
            0,
            0,
            Some(userns),
        )
        .map_err(|e| IdmapError::SetAttr {
            index,
            destination,
            source_path: source,
            hint: if e.raw_os_error() == Some(libc::EINVAL) {
                " (the file system may not support id-mapped mounts on this kernel)"
            } else {
                ""
            },
            source: e,
        })?;
        detached.push(Some(tree));
    }
    Ok(detached)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(value: serde_json::Value) -> Mount {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn what_asks_for_an_id_mapping() {
        let plain = mount(serde_json::json!({"destination": "/a", "options": ["rbind"]}));
        assert_eq!(requested(&plain), None);
        let idmap = mount(serde_json::json!({"destination": "/a", "options": ["rbind", "idmap"]}));
        assert_eq!(requested(&idmap), Some(Idmap { recursive: false }));
        let last_wins =
            mount(serde_json::json!({"destination": "/a", "options": ["idmap", "ridmap"]}));
        assert_eq!(requested(&last_wins), Some(Idmap { recursive: true }));
        let maps = mount(serde_json::json!({"destination": "/a", "options": ["bind"],
            "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}));
        assert_eq!(requested(&maps), Some(Idmap { recursive: false }));
    }

    #[test]
    fn checks_name_the_reason() {
        let spec: Spec = serde_json::from_value(serde_json::json!({"ociVersion": "1.2.0",
            "linux": {"namespaces": [{"type": "user"}],
                "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}],
                "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}]}}))
        .unwrap();
        let bind =
            mount(serde_json::json!({"destination": "/a", "type": "bind", "options": ["idmap"]}));
        assert_eq!(check(&spec, &bind), Ok(()));
        let tmpfs =
            mount(serde_json::json!({"destination": "/a", "type": "tmpfs", "options": ["idmap"]}));
        assert!(check(&spec, &tmpfs).unwrap_err().contains("bind mounts"));
        let no_userns: Spec =
            serde_json::from_value(serde_json::json!({"ociVersion": "1.2.0"})).unwrap();
        assert!(check(&no_userns, &bind)
            .unwrap_err()
            .contains("user namespace"));
    }
}
