//! Files that hold secrets (the manifest with the admin token and every test credential,
//! private keys, the state database): created readable by their owner only, and replaced
//! in one rename so a reader never sees half a file.
//!
//! The temporary file is created exclusively (`O_CREAT | O_EXCL`, which never follows a
//! symlink) under a random name in the target's own folder, mode 0600 from its first
//! byte. A fixed name such as `<manifest>.tmp` would keep the mode of a file someone
//! left there, or write the credentials through a symlink planted there.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path`, mode 0600, atomically: a temporary file in the same folder,
/// synced, then renamed over `path` (a symlink at `path` is replaced, not followed).
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let (tmp, mut file) = create_temporary(path)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A new private file beside `path` under a random name, never an existing one.
fn create_temporary(path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    loop {
        let tmp = folder.join(format!(".{name}.{}.tmp", crate::oauth::random_id()));
        match private_options().create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            // 128 random bits: only a planted file can collide, and then another name.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
}

/// Write access, mode 0600 for a file it creates, and no following a symlink.
pub(crate) fn private_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options
}

/// A private folder (mode 0700) under the system's temporary folder, removed with
/// everything in it when dropped.
#[derive(Debug)]
pub(crate) struct PrivateTempDir(PathBuf);

impl PrivateTempDir {
    /// Creates `jagspec-<random>` under the temporary folder.
    pub(crate) fn new() -> std::io::Result<Self> {
        let path = std::env::temp_dir().join(format!("jagspec-{}", crate::oauth::random_id()));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&path)?;
        Ok(Self(path))
    }

    /// The folder.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateTempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether a file's mode lets its group or anybody else read or write it.
#[cfg(unix)]
pub(crate) fn readable_by_others(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt as _;

    fn scratch() -> PrivateTempDir {
        PrivateTempDir::new().unwrap()
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_private_even_when_a_world_readable_one_was_there() {
        let dir = scratch();
        let path = dir.path().join("manifest.json");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        // The fixed name the manifest used before, planted world-readable.
        std::fs::write(dir.path().join("manifest.json.tmp"), "").unwrap();
        write_atomically(&path, b"secret").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"secret");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(dir.path()), 0o700);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_path_is_replaced_and_its_target_untouched() {
        let dir = scratch();
        let target = dir.path().join("victim");
        std::fs::write(&target, "keep").unwrap();
        let path = dir.path().join("manifest.json");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("manifest.json.tmp")).unwrap();
        write_atomically(&path, b"secret").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        assert!(
            !std::fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"secret");
    }

    #[test]
    fn no_temporary_file_is_left_behind() {
        let dir = scratch();
        write_atomically(&dir.path().join("a.json"), b"x").unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
    }

    #[test]
    fn the_private_temporary_folder_is_removed_with_its_files() {
        let dir = scratch();
        let path = dir.path().to_owned();
        std::fs::write(path.join("state.db"), "x").unwrap();
        drop(dir);
        assert!(!path.exists());
    }
}
