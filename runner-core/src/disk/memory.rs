//! `wasm32`: the disk as a map of in-memory files, one per isolate (a Worker isolate runs one
//! thread, so a thread-local map is the isolate's disk). SQLite's files live here too, through
//! [`super::vfs`].

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use sqlite_wasm_rs::utils::{MemChunksFile, VfsFile as _};

/// Chunk size of files the runner writes: SQLite's default page size, so a restored database
/// is read a page per chunk.
const CHUNK: usize = 4096;

thread_local! {
    static FILES: RefCell<BTreeMap<String, MemChunksFile>> = const { RefCell::new(BTreeMap::new()) };
}

fn name(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} does not exist", path.display()),
    )
}

/// Runs `f` on the file map. `f` must not call back into this module.
pub(super) fn with_files<R>(f: impl FnOnce(&mut BTreeMap<String, MemChunksFile>) -> R) -> R {
    FILES.with(|files| f(&mut files.borrow_mut()))
}

/// The whole content of the file at `path`.
pub(crate) fn read(path: &Path) -> io::Result<Vec<u8>> {
    with_files(|files| {
        let file = files.get(&name(path)).ok_or_else(|| not_found(path))?;
        let mut bytes = vec![0; file.size().unwrap_or(0)];
        file.read(&mut bytes, 0).map_err(vfs_error)?;
        Ok(bytes)
    })
}

/// Fills `buf` from the file at `path`, starting at `offset`.
pub(crate) fn read_exact_at(path: &Path, buf: &mut [u8], offset: u64) -> io::Result<()> {
    with_files(|files| {
        let file = files.get(&name(path)).ok_or_else(|| not_found(path))?;
        let offset = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        if offset.saturating_add(buf.len()) > file.size().unwrap_or(0) {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        file.read(buf, offset).map_err(vfs_error)?;
        Ok(())
    })
}

/// Replaces (or creates) the file at `path` with `bytes`.
pub(crate) fn write(path: &Path, bytes: impl AsRef<[u8]>) -> io::Result<()> {
    let mut file = MemChunksFile::new(CHUNK);
    file.write(bytes.as_ref(), 0).map_err(vfs_error)?;
    with_files(|files| files.insert(name(path), file));
    Ok(())
}

/// Moves a file, replacing whatever is at `to`.
pub(crate) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    with_files(|files| {
        let file = files.remove(&name(from)).ok_or_else(|| not_found(from))?;
        files.insert(name(to), file);
        Ok(())
    })
}

/// Removes the file at `path`.
pub(crate) fn remove_file(path: &Path) -> io::Result<()> {
    with_files(|files| files.remove(&name(path)).map(drop)).ok_or_else(|| not_found(path))
}

/// The length of the file at `path`.
pub(crate) fn len(path: &Path) -> io::Result<u64> {
    with_files(|files| files.get(&name(path)).map(|f| f.size().unwrap_or(0) as u64))
        .ok_or_else(|| not_found(path))
}

/// Directories are implied by the files under them: nothing to create.
pub(crate) fn create_dir_all(_path: &Path) -> io::Result<()> {
    Ok(())
}

/// Removes every file under `dir`.
pub(crate) fn remove_dir_all(dir: &Path) -> io::Result<()> {
    let prefix = format!("{}/", name(dir).trim_end_matches('/'));
    with_files(|files| files.retain(|name, _| !name.starts_with(&prefix)));
    Ok(())
}

/// Every file under `dir`, as paths relative to it.
pub(crate) fn list_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let prefix = format!("{}/", name(dir).trim_end_matches('/'));
    Ok(with_files(|files| {
        files
            .range(prefix.clone()..)
            .map(|(name, _)| name)
            .take_while(|name| name.starts_with(&prefix))
            .map(|name| PathBuf::from(&name[prefix.len()..]))
            .collect()
    }))
}

fn vfs_error(err: sqlite_wasm_rs::utils::VfsError) -> io::Error {
    io::Error::other(format!("{err:?}"))
}
