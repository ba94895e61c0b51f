//! Files that hold secrets: owner-only, replaced atomically, never through a symbolic link.

/// Writes `value` to `path` readable by its owner only, replacing the file atomically and never
/// following a symbolic link.
pub fn write_private(path: &std::path::Path, value: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    let temporary = dir.join(format!(
        ".{}.{}",
        name.to_string_lossy(),
        uuid::Uuid::new_v4().simple()
    ));
    // A fresh name opened with O_EXCL: an existing file or link there makes it fail.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)?;
    let written = writeln!(file, "{value}").and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(e);
    }
    // rename() replaces a symbolic link at `path` itself, never the file it points to.
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_files_are_0600_replace_atomically_and_never_follow_a_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("cc-private-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&dir).unwrap();
        let target = dir.join("elsewhere");
        std::fs::write(&target, "keep me").unwrap();
        let link = dir.join("token");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_private(&link, "secret").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "secret\n");
        assert!(
            !std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let mode = std::fs::metadata(&link).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::set_permissions(&link, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&link, "again").unwrap();
        let mode = std::fs::metadata(&link).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "ends 0600 even over a looser file");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
