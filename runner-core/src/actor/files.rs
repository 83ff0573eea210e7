//! The actor's mounted files, through the confined mount the runner persists from
//! ([`crate::disk::Mount`]), so one API works on every target (on `wasm32` there is no
//! `std::fs`) and no name reaches outside the actor's files, by spelling or by link.

use std::io;
use std::path::Path;

use super::definition::ActionError;
use crate::disk::{self, Mount};

/// The actor's files: named by relative, `/`-separated paths (`notes/today.md`). They are
/// persisted with the actor: changes are uploaded with the writes of the action that made
/// them. Unlike the database, a file write is not undone if the action fails.
#[derive(Debug)]
pub struct Files<'a> {
    root: &'a Path,
}

impl<'a> Files<'a> {
    pub(crate) fn new(root: &'a Path) -> Self {
        Self { root }
    }

    /// The content of `name`, or `None` if there is no such file.
    pub fn read(&self, name: &str) -> Result<Option<Vec<u8>>, ActionError> {
        match self.mount(name)?.read(name) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(io_error("read", name, &err)),
        }
    }

    /// Creates or replaces `name` with `bytes`.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> Result<(), ActionError> {
        self.mount(name)?
            .write(name, bytes.as_ref())
            .map_err(|err| io_error("write", name, &err))
    }

    /// Removes `name`; `false` if there was no such file.
    pub fn remove(&self, name: &str) -> Result<bool, ActionError> {
        match self.mount(name)?.remove_file(name) {
            Ok(()) => Ok(true),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(io_error("remove", name, &err)),
        }
    }

    /// Every file's name, sorted.
    pub fn list(&self) -> Result<Vec<String>, ActionError> {
        Mount::open(self.root)
            .and_then(|mount| mount.list_files())
            .map_err(|err| io_error("list", "", &err))
    }

    /// The mount, once `name` is known to be a valid name.
    fn mount(&self, name: &str) -> Result<Mount, ActionError> {
        if !disk::is_valid_name(name) {
            return Err(ActionError::user(
                "invalid_file_name",
                disk::invalid_name(name).to_string(),
            ));
        }
        Mount::open(self.root).map_err(|err| io_error("open", name, &err))
    }
}

fn io_error(action: &str, name: &str, err: &io::Error) -> ActionError {
    ActionError::internal(format!("{action} actor file `{name}`: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_and_names_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::new(dir.path());
        assert_eq!(files.read("notes/a.md").unwrap(), None);
        files.write("notes/a.md", "hello").unwrap();
        files.write("b.txt", [1, 2, 3]).unwrap();
        assert_eq!(
            files.read("notes/a.md").unwrap().as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(files.list().unwrap(), ["b.txt", "notes/a.md"]);
        assert!(files.remove("b.txt").unwrap());
        assert!(!files.remove("b.txt").unwrap());
        assert_eq!(files.list().unwrap(), ["notes/a.md"]);
        for bad in crate::disk::mount::BAD_NAMES {
            let err = files.write(bad, "x").unwrap_err();
            assert_eq!(err.code, "invalid_file_name", "{bad}");
        }
    }
}
