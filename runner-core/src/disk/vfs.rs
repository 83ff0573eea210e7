//! `wasm32`: a SQLite VFS over the in-memory disk ([`super::memory`]), so the database and its
//! WAL are files the persistence code can read and write like any other.
//!
//! It has no shared-memory methods: databases open with `locking_mode = EXCLUSIVE`, which
//! keeps the WAL index in the connection's heap (the runner holds one connection per actor).
//! Locks are no-ops: an isolate is one thread, and each actor has one connection.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sqlite_wasm_rs::WasmOsCallback;
use sqlite_wasm_rs::utils::{
    MemChunksFile, OsCallback, SQLiteIoMethods, SQLiteVfs, SQLiteVfsFile, VfsError, VfsResult,
    VfsStore, ffi, register_vfs, registered_vfs,
};

use super::memory::with_files;

const VFS_NAME: &str = "rivet-disk";
/// WAL files grow by whole frames; big chunks keep the number of allocations low.
const WAL_CHUNK: usize = 64 << 10;

/// Opens the database at `path` through this VFS, registering it on first use.
pub(super) fn open(path: &Path) -> rusqlite::Result<Connection> {
    let registered = registered_vfs(VFS_NAME).map_err(register_error)?;
    if registered.is_none() {
        register_vfs::<DiskIo, DiskVfs>(VFS_NAME, (), false).map_err(register_error)?;
    }
    let db = Connection::open_with_flags_and_vfs(path, OpenFlags::default(), VFS_NAME)?;
    // Before the first read: WAL mode without shared memory needs the exclusive lock.
    db.execute_batch("PRAGMA locking_mode = EXCLUSIVE;")?;
    Ok(db)
}

fn register_error(err: sqlite_wasm_rs::utils::RegisterVfsError) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(ffi::SQLITE_ERROR),
        Some(format!("registering the {VFS_NAME} VFS: {err}")),
    )
}

fn file_name(file: &SQLiteVfsFile) -> String {
    // SAFETY: SQLite passes back a file it opened through this VFS, whose name `xOpen` stored
    // and which stays valid until `xClose`.
    #[allow(
        unsafe_code,
        reason = "reading the name SQLite's xOpen stored in the file handle"
    )]
    let name = unsafe { file.name() };
    name.to_owned()
}

struct DiskStore;

impl VfsStore<MemChunksFile, ()> for DiskStore {
    fn add_file(_vfs: *mut ffi::sqlite3_vfs, file: &str, flags: i32) -> VfsResult<()> {
        let new = if flags & ffi::SQLITE_OPEN_MAIN_DB != 0 {
            // The first write (a whole page) sets the chunk size to the page size.
            MemChunksFile::waiting_for_write()
        } else if flags & ffi::SQLITE_OPEN_WAL != 0 {
            MemChunksFile::new(WAL_CHUNK)
        } else {
            MemChunksFile::default()
        };
        with_files(|files| files.insert(file.to_owned(), new));
        Ok(())
    }

    fn contains_file(_vfs: *mut ffi::sqlite3_vfs, file: &str) -> VfsResult<bool> {
        Ok(with_files(|files| files.contains_key(file)))
    }

    fn delete_file(_vfs: *mut ffi::sqlite3_vfs, file: &str) -> VfsResult<()> {
        match with_files(|files| files.remove(file)) {
            Some(_) => Ok(()),
            None => Err(VfsError::new(
                ffi::SQLITE_IOERR_DELETE_NOENT,
                format!("{file} does not exist"),
            )),
        }
    }

    fn with_file<F: Fn(&MemChunksFile) -> VfsResult<i32>>(
        vfs_file: &SQLiteVfsFile,
        f: F,
    ) -> VfsResult<i32> {
        let name = file_name(vfs_file);
        with_files(|files| match files.get(&name) {
            Some(file) => f(file),
            None => Err(missing(&name)),
        })
    }

    fn with_file_mut<F: Fn(&mut MemChunksFile) -> VfsResult<i32>>(
        vfs_file: &SQLiteVfsFile,
        f: F,
    ) -> VfsResult<i32> {
        let name = file_name(vfs_file);
        with_files(|files| match files.get_mut(&name) {
            Some(file) => f(file),
            None => Err(missing(&name)),
        })
    }
}

fn missing(name: &str) -> VfsError {
    VfsError::new(ffi::SQLITE_IOERR, format!("{name} was removed while open"))
}

struct DiskIo;

impl SQLiteIoMethods for DiskIo {
    type File = MemChunksFile;
    type AppData = ();
    type Store = DiskStore;

    const VERSION: ::core::ffi::c_int = 1;
}

struct DiskVfs;

impl SQLiteVfs<DiskIo> for DiskVfs {
    const VERSION: ::core::ffi::c_int = 1;

    fn sleep(dur: Duration) {
        WasmOsCallback::sleep(dur);
    }

    fn random(buf: &mut [u8]) {
        WasmOsCallback::random(buf);
    }

    fn epoch_timestamp_in_ms() -> i64 {
        WasmOsCallback::epoch_timestamp_in_ms()
    }
}
