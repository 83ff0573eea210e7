//! An actor's files mount, confined: the one way the runner touches a file the actor's code
//! can also touch.
//!
//! Sandboxed code can create symbolic links inside its mount (WASI allows relative links), and
//! it runs between the runner's own reads and writes of the same directory. So the host never
//! resolves a guest-visible path with the ambient filesystem:
//! - Paths are resolved beneath the mount's directory handle (`cap-std`, `openat2` with
//!   `RESOLVE_BENEATH` where the kernel has it): no `..`, no absolute path, no link leads out.
//! - The last component is never followed: reading a link fails, writing goes to a new file in
//!   a scratch directory the actor cannot see and is renamed over the name (a rename replaces a
//!   link, it does not write through it).
//! - Listings report regular files only; links and special files are never followed,
//!   persisted or restored, and a restore removes them.
//!
//! Names are relative and `/`-separated (`notes/today.md`).
//!
//! On `wasm32` the disk is a map in memory with no links, so the mount is a path prefix.

use std::io;
use std::path::Path;

/// Why a name was refused.
pub(crate) fn invalid_name(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("`{name}` is not a relative path inside the actor's files"),
    )
}

/// Whether `name` is a relative, `/`-separated path that stays inside the mount by its
/// spelling alone: not empty, not absolute, no `.` or `..` or empty segment, no NUL or `\`.
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains(['\0', '\\'])
        && name
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

fn too_large(name: &str, len: u64, max: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("`{name}` is {len} bytes; the runner persists files of at most {max} bytes"),
    )
}

fn checked(name: &str) -> io::Result<&Path> {
    if is_valid_name(name) {
        Ok(Path::new(name))
    } else {
        Err(invalid_name(name))
    }
}

/// One entry of a directory listing.
#[cfg(not(target_arch = "wasm32"))]
#[cfg_attr(
    not(feature = "js"),
    allow(dead_code, reason = "only JavaScript's readDir lists a directory")
)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirEntry {
    pub(crate) name: String,
    pub(crate) is_dir: bool,
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native::Mount;

#[cfg(target_arch = "wasm32")]
pub(crate) use memory::Mount;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::io::{self, Read as _, Write as _};
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    use cap_fs_ext::{DirExt as _, FollowSymlinks, OpenOptionsFollowExt as _};
    use cap_std::ambient_authority;
    use cap_std::fs::{Dir, OpenOptions};

    use super::{DirEntry, checked};

    /// The mount: a handle on its directory, and one on a scratch directory beside it (not
    /// inside it) where writes are prepared.
    #[derive(Debug)]
    pub(crate) struct Mount {
        root: PathBuf,
        dir: Dir,
        scratch: Dir,
    }

    impl Mount {
        /// Opens the mount at `root`, creating it (and its scratch directory) if needed.
        pub(crate) fn open(root: &Path) -> io::Result<Self> {
            std::fs::create_dir_all(root)?;
            let scratch_path = super::scratch_path(root);
            std::fs::create_dir_all(&scratch_path)?;
            Ok(Self {
                root: root.to_owned(),
                dir: Dir::open_ambient_dir(root, ambient_authority())?,
                scratch: Dir::open_ambient_dir(&scratch_path, ambient_authority())?,
            })
        }

        /// The mount's directory on the host (to preopen it for a WASI guest).
        pub(crate) fn root(&self) -> &Path {
            &self.root
        }

        /// The content of the regular file `name`. A link is refused, not followed.
        pub(crate) fn read(&self, name: &str) -> io::Result<Vec<u8>> {
            self.read_at_most(name, u64::MAX)
        }

        /// The content of the regular file `name`, if it holds at most `max` bytes (checked
        /// before reading: a sparse file of a terabyte costs no disk, but would cost memory).
        pub(crate) fn read_at_most(&self, name: &str, max: u64) -> io::Result<Vec<u8>> {
            let mut options = OpenOptions::new();
            options.read(true).follow(FollowSymlinks::No);
            let file = self
                .dir
                .open_with(checked(name)?, &options)
                .map_err(|err| link_error(name, err))?;
            let meta = file.metadata()?;
            if !meta.is_file() {
                return Err(not_regular(name));
            }
            if meta.len() > max {
                return Err(super::too_large(name, meta.len(), max));
            }
            let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
            // Never more than `max`, whatever the file grows to meanwhile.
            file.take(max).read_to_end(&mut bytes)?;
            Ok(bytes)
        }

        /// Creates or replaces `name` with `bytes`, so that it is never half-written and
        /// never written through a link. Parent directories are created.
        pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
            let path = checked(name)?;
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                self.dir.create_dir_all(parent)?;
            }
            let tmp = scratch_name();
            let mut options = OpenOptions::new();
            options
                .write(true)
                .create_new(true)
                .follow(FollowSymlinks::No);
            let written = self
                .scratch
                .open_with(&tmp, &options)
                .and_then(|mut file| file.write_all(bytes));
            let renamed = written.and_then(|()| self.scratch.rename(&tmp, &self.dir, path));
            if renamed.is_err() {
                let _ = self.scratch.remove_file(&tmp);
            }
            renamed
        }

        /// Removes the file (or link) `name`; never what a link points to.
        pub(crate) fn remove_file(&self, name: &str) -> io::Result<()> {
            self.dir.remove_file_or_symlink(checked(name)?)
        }

        /// The entries of directory `name` (`""`: the mount itself), sorted; links and special
        /// files are left out.
        #[cfg_attr(
            not(feature = "js"),
            allow(dead_code, reason = "only JavaScript's readDir lists a directory")
        )]
        pub(crate) fn read_dir(&self, name: &str) -> io::Result<Vec<DirEntry>> {
            let dir = if name.is_empty() {
                self.dir.try_clone()?
            } else {
                self.dir.open_dir_nofollow(checked(name)?)?
            };
            let mut entries = Vec::new();
            for entry in dir.entries()? {
                let entry = entry?;
                let kind = entry.file_type()?;
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                if kind.is_dir() || kind.is_file() {
                    entries.push(DirEntry {
                        name,
                        is_dir: kind.is_dir(),
                    });
                }
            }
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(entries)
        }

        /// Every regular file, as `/`-separated names, sorted. Links are not followed; names
        /// that are not UTF-8 cannot be persisted and are skipped with a warning.
        pub(crate) fn list_files(&self) -> io::Result<Vec<String>> {
            let mut files = Vec::new();
            self.walk(|kind, name, _| {
                if kind == Kind::File {
                    files.push(name.to_owned());
                }
                Ok(())
            })?;
            files.sort();
            Ok(files)
        }

        /// Removes every link and special file under the mount (a restore's first step: a
        /// link the previous instance's code planted must not redirect what the restore
        /// writes). Returns how many were removed.
        pub(crate) fn remove_links(&self) -> io::Result<usize> {
            let mut removed = 0;
            self.walk(|kind, name, parent| {
                if kind == Kind::Other {
                    let leaf = Path::new(name).file_name().unwrap_or_default();
                    parent.remove_file_or_symlink(leaf)?;
                    removed += 1;
                }
                Ok(())
            })?;
            Ok(removed)
        }

        /// Visits every entry under the mount without following links: `(kind, name, the
        /// directory holding it)`. Directories are opened one at a time, when visited, so a
        /// tree of a million directories holds one descriptor, not a million.
        fn walk(
            &self,
            mut visit: impl FnMut(Kind, &str, &Dir) -> io::Result<()>,
        ) -> io::Result<()> {
            let mut pending = vec![String::new()];
            while let Some(prefix) = pending.pop() {
                let dir = if prefix.is_empty() {
                    self.dir.try_clone()?
                } else {
                    match self.dir.open_dir_nofollow(&prefix) {
                        Ok(dir) => dir,
                        // Replaced or removed since it was listed (the actor's code runs
                        // meanwhile).
                        Err(_) => continue,
                    }
                };
                for entry in dir.entries()? {
                    let entry = entry?;
                    let kind = entry.file_type()?;
                    let Ok(leaf) = entry.file_name().into_string() else {
                        tracing::warn!(
                            dir = %prefix,
                            "a file name in the actor's mount is not UTF-8; it is not persisted"
                        );
                        continue;
                    };
                    let name = if prefix.is_empty() {
                        leaf
                    } else {
                        format!("{prefix}/{leaf}")
                    };
                    if kind.is_dir() {
                        visit(Kind::Dir, &name, &dir)?;
                        pending.push(name);
                    } else if kind.is_file() {
                        visit(Kind::File, &name, &dir)?;
                    } else {
                        visit(Kind::Other, &name, &dir)?;
                    }
                }
            }
            Ok(())
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Kind {
        File,
        Dir,
        Other,
    }

    fn scratch_name() -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        format!(
            "{}-{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn not_regular(name: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{name}` is not a regular file"),
        )
    }

    /// `O_NOFOLLOW` on a link fails with `ELOOP`; say what it means.
    fn link_error(name: &str, err: io::Error) -> io::Error {
        if err.raw_os_error() == Some(40) {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{name}` is a symbolic link, which the runner does not follow"),
            )
        } else {
            err
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod memory {
    use std::io;
    use std::path::{Path, PathBuf};

    use super::checked;
    use crate::disk;

    /// The mount: a path prefix in the in-memory disk, which has no links.
    #[derive(Debug)]
    pub(crate) struct Mount {
        root: PathBuf,
    }

    impl Mount {
        pub(crate) fn open(root: &Path) -> io::Result<Self> {
            Ok(Self {
                root: root.to_owned(),
            })
        }

        pub(crate) fn root(&self) -> &Path {
            &self.root
        }

        pub(crate) fn read(&self, name: &str) -> io::Result<Vec<u8>> {
            disk::read(&self.root.join(checked(name)?))
        }

        pub(crate) fn read_at_most(&self, name: &str, max: u64) -> io::Result<Vec<u8>> {
            let path = self.root.join(checked(name)?);
            let len = disk::len(&path)?;
            if len > max {
                return Err(super::too_large(name, len, max));
            }
            disk::read(&path)
        }

        pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
            disk::write(&self.root.join(checked(name)?), bytes)
        }

        pub(crate) fn remove_file(&self, name: &str) -> io::Result<()> {
            disk::remove_file(&self.root.join(checked(name)?))
        }

        pub(crate) fn list_files(&self) -> io::Result<Vec<String>> {
            let mut names: Vec<String> = disk::list_files(&self.root)?
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            names.sort();
            Ok(names)
        }

        pub(crate) fn remove_links(&self) -> io::Result<usize> {
            Ok(0)
        }
    }
}

/// Where a mount's writes are prepared: beside it, where the actor's code cannot reach.
#[cfg(not(target_arch = "wasm32"))]
fn scratch_path(root: &Path) -> std::path::PathBuf {
    let mut name = root.as_os_str().to_owned();
    name.push(".scratch");
    std::path::PathBuf::from(name)
}

/// Names that must be refused (shared by the tests of everything that takes one).
#[cfg(test)]
pub(crate) const BAD_NAMES: &[&str] = &[
    "",
    "/etc/passwd",
    "../x",
    "a/../../x",
    "a//b",
    "./a",
    "a\\b",
];

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn mount() -> (tempfile::TempDir, Mount) {
        let tmp = tempfile::tempdir().unwrap();
        let mount = Mount::open(&tmp.path().join("actor/files")).unwrap();
        (tmp, mount)
    }

    #[test]
    fn files_round_trip() {
        let (_tmp, mount) = mount();
        mount.write("notes/a.md", b"hello").unwrap();
        mount.write("b", b"1").unwrap();
        mount.write("b", b"22").unwrap();
        assert_eq!(mount.read("notes/a.md").unwrap(), b"hello");
        assert_eq!(mount.read("b").unwrap(), b"22");
        assert_eq!(mount.list_files().unwrap(), ["b", "notes/a.md"]);
        let root: Vec<_> = mount.read_dir("").unwrap();
        assert_eq!(
            root,
            [
                DirEntry {
                    name: "b".into(),
                    is_dir: false
                },
                DirEntry {
                    name: "notes".into(),
                    is_dir: true
                }
            ]
        );
        mount.remove_file("b").unwrap();
        assert_eq!(mount.read("b").unwrap_err().kind(), io::ErrorKind::NotFound);
        for bad in BAD_NAMES {
            assert_eq!(
                mount.write(bad, b"x").unwrap_err().kind(),
                io::ErrorKind::InvalidInput,
                "{bad}"
            );
        }
    }

    #[test]
    fn a_write_replaces_a_planted_link_instead_of_writing_through_it() {
        let (tmp, mount) = mount();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        symlink("../../outside/t", mount.root().join("x")).unwrap();
        mount.write("x", b"data").unwrap();
        assert!(
            !outside.join("t").exists(),
            "the write went through the link"
        );
        assert_eq!(mount.read("x").unwrap(), b"data");
    }

    #[test]
    fn links_are_never_followed_out() {
        let (tmp, mount) = mount();
        let secret = tmp.path().join("secret");
        std::fs::write(&secret, b"s3cr3t").unwrap();
        symlink(&secret, mount.root().join("abs")).unwrap();
        symlink("../../secret", mount.root().join("rel")).unwrap();
        std::fs::create_dir(mount.root().join("d")).unwrap();
        symlink(tmp.path(), mount.root().join("d/up")).unwrap();
        for name in ["abs", "rel", "d/up/secret"] {
            assert!(mount.read(name).is_err(), "{name} was read");
        }
        assert!(mount.write("d/up/new", b"x").is_err());
        assert!(!tmp.path().join("new").exists());
        assert!(mount.read_dir("d/up").is_err());
        assert_eq!(mount.list_files().unwrap(), Vec::<String>::new());
        assert_eq!(mount.remove_links().unwrap(), 3);
        assert!(secret.exists(), "removing a link removed its target");
        assert!(std::fs::symlink_metadata(mount.root().join("abs")).is_err());
    }
}
