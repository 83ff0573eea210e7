//! `tracing` to the Worker's console (what `wrangler tail` and the dashboard show).

use std::io::Write;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the subscriber once per isolate; later calls do nothing.
pub(crate) fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // No timestamps: the host's log records carry them, and the fmt layer's clock is the one
    // `std` clock that panics on wasm32.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time()
        .with_writer(Console)
        .try_init();
}

#[derive(Clone, Copy)]
struct Console;

/// One log record, written to `console.log` when the formatter is done with it.
struct Line(Vec<u8>);

impl<'a> MakeWriter<'a> for Console {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line(Vec::new())
    }
}

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        web_sys::console::log_1(&text.trim_end().into());
    }
}
