//! The local disk an actor's data lives on while it runs: its SQLite database (with the WAL the
//! shipper reads), its mounted files, and the marker of a clean stop.
//!
//! - Native: the filesystem (`std::fs`).
//! - `wasm32` (Cloudflare Workers): there is no filesystem, so the "disk" is a map of in-memory
//!   files per isolate ([`memory`]), and SQLite reads and writes the same map through a VFS
//!   ([`vfs`]). The persistence code sees one API on both targets, so the WAL it ships is the
//!   WAL SQLite wrote, byte for byte.
//!
//! Paths are plain paths on both targets; on `wasm32` directories are implied by the files
//! under them.

use std::io;
use std::path::{Path, PathBuf};

#[cfg(target_arch = "wasm32")]
mod memory;
pub(crate) mod mount;
#[cfg(target_arch = "wasm32")]
mod vfs;

pub(crate) use mount::{Mount, invalid_name, is_valid_name};
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native::*;

#[cfg(target_arch = "wasm32")]
pub(crate) use memory::{
    create_dir_all, len, list_files, read, read_exact_at, remove_dir_all, remove_file, rename,
    write,
};

/// Opens (creating if needed) the SQLite database at `path` on this disk.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn open_database(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    rusqlite::Connection::open(path)
}

/// Opens (creating if needed) the SQLite database at `path` on this disk.
#[cfg(target_arch = "wasm32")]
pub(crate) fn open_database(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    vfs::open(path)
}

/// Whether a stopped actor's local copy stays on this disk, so that its next start here skips
/// the download. Not on `wasm32`: there the disk is the isolate's memory, which is small (128 MB
/// on Workers) and shared by every actor the isolate hosts.
pub(crate) const KEEPS_STOPPED_ACTORS: bool = cfg!(not(target_arch = "wasm32"));

/// Removes `path` if it exists.
pub(crate) fn remove_if_present(path: &Path) -> io::Result<()> {
    match remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// Whether a file exists at `path`.
pub(crate) fn is_file(path: &Path) -> bool {
    len(path).is_ok()
}

fn restoring(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".restoring");
    PathBuf::from(tmp)
}

/// A file written in pieces under a temporary name, which takes its real name only at
/// [`PartialFile::finish`]: so a large download never has to be held in memory whole, and
/// `path` is never half-written. Dropped unfinished, the temporary file is removed. No fsync:
/// the local copy is a cache, trusted again only after a clean stop writes its marker, so a
/// power loss here means a fresh download, not a torn database.
#[derive(Debug)]
pub(crate) struct PartialFile {
    path: PathBuf,
    tmp: PathBuf,
    #[cfg(not(target_arch = "wasm32"))]
    file: Option<std::fs::File>,
    /// On `wasm32` the disk is memory anyway: the pieces gather here.
    #[cfg(target_arch = "wasm32")]
    bytes: Vec<u8>,
}

impl PartialFile {
    /// Starts writing what will become `path`.
    pub(crate) fn create(path: &Path) -> io::Result<Self> {
        let tmp = restoring(path);
        Ok(Self {
            path: path.to_owned(),
            #[cfg(not(target_arch = "wasm32"))]
            file: Some(std::fs::File::create(&tmp)?),
            #[cfg(target_arch = "wasm32")]
            bytes: Vec::new(),
            tmp,
        })
    }

    /// Appends `bytes`.
    pub(crate) fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            use std::io::Write as _;
            match &mut self.file {
                Some(file) => file.write_all(bytes),
                None => Err(io::ErrorKind::BrokenPipe.into()),
            }
        }
        #[cfg(target_arch = "wasm32")]
        {
            self.bytes.extend_from_slice(bytes);
            Ok(())
        }
    }

    /// Gives the file its real name.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        drop(self.file.take());
        #[cfg(target_arch = "wasm32")]
        write(&self.tmp, std::mem::take(&mut self.bytes))?;
        rename(&self.tmp, &self.path)
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Drop for PartialFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = remove_file(&self.tmp);
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::io::{self, Read as _, Seek as _, SeekFrom};
    use std::path::Path;

    pub(crate) use std::fs::{create_dir_all, read, remove_file, rename, write};

    /// The length of the file at `path`.
    pub(crate) fn len(path: &Path) -> io::Result<u64> {
        let meta = std::fs::metadata(path)?;
        if meta.is_file() {
            Ok(meta.len())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                "not a regular file",
            ))
        }
    }

    /// Fills `buf` from `path` at `offset` (without the Unix-only `pread` extension).
    pub(crate) fn read_exact_at(path: &Path, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut file = std::fs::File::open(path)?;
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(buf)
    }

    /// Removes `dir` and everything under it; an absent directory is fine.
    pub(crate) fn remove_dir_all(dir: &Path) -> io::Result<()> {
        match std::fs::remove_dir_all(dir) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }
}
