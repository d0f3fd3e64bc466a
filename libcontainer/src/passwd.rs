//! Lookups in a passwd(5) file, read directly: berth never goes through
//! glibc's NSS, which a static binary cannot load modules for and which
//! would read nsswitch.conf and ask nscd on every create. runc reads the
//! files itself too (for the container's and for `list`'s owner).

use std::path::Path;

/// The fields of the entry for `uid` in the passwd file at `path`: None
/// when the file cannot be read or has no such entry.
fn entry(path: &Path, uid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 3 && fields[2].parse() == Ok(uid))
            .then(|| fields.iter().map(|f| (*f).to_owned()).collect())
    })
}

/// The name of `uid` in the passwd file at `path`.
pub fn name(path: &Path, uid: u32) -> Option<String> {
    entry(path, uid).map(|mut f| f.swap_remove(0))
}

/// The home directory of `uid` in the passwd file at `path`.
pub fn home(path: &Path, uid: u32) -> Option<String> {
    entry(path, uid).and_then(|mut f| (f.len() > 5).then(|| f.swap_remove(5)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_name_and_home_by_uid() {
        let dir = std::env::temp_dir().join(format!("berth-passwd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("passwd");
        std::fs::write(
            &path,
            "root:x:0:0:root:/root:/bin/sh\nbroken:x\nweb:x:1000:1000::/srv/web:/bin/sh\n",
        )
        .unwrap();
        assert_eq!(name(&path, 0).as_deref(), Some("root"));
        assert_eq!(home(&path, 1000).as_deref(), Some("/srv/web"));
        assert_eq!(home(&path, 7), None);
        assert_eq!(name(&dir.join("missing"), 0), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
