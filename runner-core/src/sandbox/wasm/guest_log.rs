//! A guest's stdout and stderr, as lines in the runner's log (target `actor`), so a panic
//! message or a debugging `eprintln!` reaches the operator. Writes never block or fail: a
//! guest cannot stall on its output, and lines past [`MAX_LINE`] are cut.

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// The longest line logged; the rest of a longer one is dropped.
const MAX_LINE: usize = 4096;
/// What one write may carry.
const WRITE_PERMIT: usize = 64 * 1024;

/// Which stream a guest wrote to.
#[derive(Debug, Clone, Copy)]
pub(super) struct GuestLog(pub(super) &'static str);

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LineWriter {
            stream: self.0,
            line: Vec::new(),
        })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only the WASI p2 interface is linked; nothing reaches this one.
        Box::new(tokio::io::sink())
    }
}

struct LineWriter {
    stream: &'static str,
    line: Vec<u8>,
}

impl LineWriter {
    /// Adds `bytes`; returns the lines they complete.
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &byte in bytes {
            if byte == b'\n' {
                lines.extend(self.take());
            } else if self.line.len() < MAX_LINE {
                self.line.push(byte);
            }
        }
        lines
    }

    /// The pending partial line, if any.
    fn take(&mut self) -> Option<String> {
        if self.line.is_empty() {
            return None;
        }
        let text = String::from_utf8_lossy(&self.line).trim_end().to_owned();
        self.line.clear();
        Some(text)
    }

    fn log(&self, line: &str) {
        tracing::info!(target: "actor", stream = self.stream, "{line}");
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        for line in self.push(&bytes) {
            self.log(&line);
        }
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        // Writers flush after every write, often mid-line: lines end at '\n' (or on drop).
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LineWriter {
    async fn ready(&mut self) {}
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if let Some(line) = self.take() {
            self.log(&line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_cut_into_lines_and_long_lines_are_capped() {
        let mut writer = LineWriter {
            stream: "stderr",
            line: Vec::new(),
        };
        assert!(writer.push(b"thread 'main' panicked").is_empty());
        assert_eq!(
            writer.push(b" at src/lib.rs:1\nnext"),
            ["thread 'main' panicked at src/lib.rs:1"]
        );
        assert_eq!(writer.push(b"\n\n"), ["next"]);
        let long = vec![b'x'; MAX_LINE * 2];
        let lines = writer.push(&[long.as_slice(), b"\n"].concat());
        assert_eq!(lines[0].len(), MAX_LINE);
        assert_eq!(writer.take(), None);
    }
}
