//! Just enough of SQLite's WAL file format to ship whole committed transactions.
//!
//! The file is a 32-byte header followed by frames: a 24-byte frame header and one page. A
//! frame whose header has a non-zero "database size" field ends a transaction (a commit frame).
//! Frames carry the header's salts; frames with other salts are left over from before a
//! restart and are not part of the log.

/// Length of the WAL file header.
pub(crate) const HEADER_LEN: u64 = 32;
const FRAME_HEADER_LEN: u64 = 24;
const MAGIC_LE: u32 = 0x377f_0682;
const MAGIC_BE: u32 = 0x377f_0683;

/// Why WAL bytes cannot be shipped as whole commits of the chain's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// The header is shorter than 32 bytes.
    #[error("WAL header is {0} bytes, expected 32")]
    ShortHeader(usize),
    /// Not a WAL file.
    #[error("bad WAL magic {0:#x}")]
    Magic(u32),
    /// A page size SQLite never writes.
    #[error("bad WAL page size {0}")]
    PageSize(u32),
    /// The length does not end a frame.
    #[error("WAL length {0} is not on a frame boundary")]
    Misaligned(u64),
    /// The last frame could not be read whole.
    #[error("short read of the last WAL frame")]
    ShortFrame,
    /// The frame ending there carries another log's salts.
    #[error("the WAL frame ending at {0} belongs to another log")]
    ForeignFrame(u64),
    /// The frame ending there does not commit a transaction.
    #[error("the WAL frame ending at {0} is not a commit frame")]
    NotCommit(u64),
    /// The WAL was restarted (new salts) without the runner starting a new snapshot.
    #[error("the WAL was restarted outside a compaction")]
    Restarted,
    /// More WAL bytes than this platform can address at once.
    #[error("WAL too large")]
    TooLarge,
}

/// The parts of a WAL header that identify one log and its frame size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WalHeader {
    page_size: u32,
    salts: [u8; 8],
}

impl WalHeader {
    /// Parses the first 32 bytes of a WAL file.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, WalError> {
        let field = |at: usize| -> Result<u32, WalError> {
            bytes
                .get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
                .ok_or(WalError::ShortHeader(bytes.len()))
        };
        let magic = field(0)?;
        if magic != MAGIC_LE && magic != MAGIC_BE {
            return Err(WalError::Magic(magic));
        }
        let page_size = field(8)?;
        if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(WalError::PageSize(page_size));
        }
        let mut salts = [0; 8];
        salts.copy_from_slice(&bytes[16..24]);
        Ok(Self { page_size, salts })
    }

    fn frame_len(&self) -> u64 {
        FRAME_HEADER_LEN + u64::from(self.page_size)
    }

    /// Checks that `end` (a file length observed right after a commit) falls just after a
    /// commit frame of this log, given the frame that ends there (`last_frame`, header first).
    pub(crate) fn check_commit_end(&self, end: u64, last_frame: &[u8]) -> Result<(), WalError> {
        let frames = end.checked_sub(HEADER_LEN).unwrap_or(u64::MAX);
        if frames == 0 || frames == u64::MAX || !frames.is_multiple_of(self.frame_len()) {
            return Err(WalError::Misaligned(end));
        }
        if last_frame.len() as u64 != self.frame_len() {
            return Err(WalError::ShortFrame);
        }
        if last_frame[8..16] != self.salts {
            return Err(WalError::ForeignFrame(end));
        }
        if last_frame[4..8] == [0; 4] {
            return Err(WalError::NotCommit(end));
        }
        Ok(())
    }

    /// Length of the frame that ends at a commit.
    pub(crate) fn last_frame_len(&self) -> u64 {
        self.frame_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_of(db: &rusqlite::Connection, dir: &std::path::Path) -> Vec<u8> {
        let _ = db;
        std::fs::read(dir.join("t.db-wal")).unwrap()
    }

    #[test]
    fn every_commit_ends_on_a_commit_frame_of_the_current_log() {
        let dir = tempfile::tempdir().unwrap();
        let db = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
        db.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; PRAGMA cache_spill = OFF;
             CREATE TABLE t (v BLOB);",
        )
        .unwrap();
        for size in [10, 5000, 100_000] {
            db.execute("INSERT INTO t VALUES (zeroblob(?1))", [size])
                .unwrap();
            let wal = wal_of(&db, dir.path());
            let header = WalHeader::parse(&wal[..32]).unwrap();
            let end = wal.len() as u64;
            let last = &wal[(end - header.last_frame_len()) as usize..];
            header.check_commit_end(end, last).unwrap();
        }
    }

    #[test]
    fn a_non_commit_frame_or_foreign_salt_is_refused() {
        let mut header_bytes = vec![0u8; 32];
        header_bytes[..4].copy_from_slice(&MAGIC_LE.to_be_bytes());
        header_bytes[8..12].copy_from_slice(&512u32.to_be_bytes());
        header_bytes[16..24].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let header = WalHeader::parse(&header_bytes).unwrap();
        let mut frame = vec![0u8; 24 + 512];
        frame[8..16].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let end = 32 + 536;
        assert!(
            header.check_commit_end(end, &frame).is_err(),
            "not a commit"
        );
        frame[4..8].copy_from_slice(&1u32.to_be_bytes());
        header.check_commit_end(end, &frame).unwrap();
        frame[8] = 9;
        assert!(
            header.check_commit_end(end, &frame).is_err(),
            "foreign salt"
        );
        assert!(
            header.check_commit_end(end + 1, &frame).is_err(),
            "misaligned"
        );
        assert!(WalHeader::parse(&[0; 32]).is_err());
    }
}
