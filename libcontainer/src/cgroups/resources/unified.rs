//! `linux.resources.unified`: cgroup v2 interface files by name, written
//! last so they override the converted values. On a hybrid host a key is
//! accepted when its controller is in the v2 hierarchy (e.g. `hugetlb.*`);
//! on a pure v1 host the map is an error.

use crate::cgroups::{files, v2, CgroupError, CgroupManager};
use std::collections::HashMap;

pub fn apply(mgr: &CgroupManager, map: &HashMap<String, String>) -> Result<(), CgroupError> {
    if map.is_empty() {
        return Ok(());
    }
    let Some(d) = &mgr.v2 else {
        return Err(CgroupError::resource(
            "unified",
            "this host has no cgroup v2 hierarchy",
        ));
    };
    let available = v2::controllers(&d.dir);
    // Sorted, so that errors and writes happen in a stable order.
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for key in keys {
        let field = format!("unified.{key}");
        if key.is_empty() || key.contains('/') || key.starts_with('.') {
            return Err(CgroupError::resource(
                field,
                "not a cgroup interface file name",
            ));
        }
        let controller = key.split('.').next().unwrap_or("");
        if !files::exists(&d.dir, key) {
            let why = if controller != "cgroup" && !available.iter().any(|c| c == controller) {
                format!(
                    "the {controller} controller is not enabled in {}",
                    d.dir.display()
                )
            } else {
                format!("{} does not exist", d.dir.join(key).display())
            };
            return Err(CgroupError::resource(field, why));
        }
        files::write(&d.dir, key, &map[key]).map_err(CgroupError::for_field(field))?;
    }
    Ok(())
}
