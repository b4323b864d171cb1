//! Writing results: aligned human lines or tables, or JSON (NDJSON for event streams).
//!
//! Event streams are printed line by line as they arrive, never collected, so `replay` of a
//! large store runs in bounded memory.

use std::io::{self, BufWriter, Stdout, Write};

use annal_core::RecordedEvent;
use serde::Serialize;

/// Where command results go, in the mode the user asked for.
pub(crate) struct Output {
    json: bool,
    out: BufWriter<Stdout>,
}

impl Output {
    pub(crate) fn new(json: bool) -> Self {
        Self {
            json,
            out: BufWriter::new(io::stdout()),
        }
    }

    pub(crate) fn json(&self) -> bool {
        self.json
    }

    /// One event: an NDJSON line, or an aligned human line.
    pub(crate) fn event(&mut self, event: &RecordedEvent) -> anyhow::Result<()> {
        if self.json {
            serde_json::to_writer(&mut self.out, event)?;
            writeln!(self.out)?;
        } else {
            writeln!(
                self.out,
                "{:>8}  {:<24} v{:<6} {:<26} {}  {}",
                event.position.0,
                event.aggregate_id.as_str(),
                event.version.0,
                event.event_type.as_str(),
                format_time(event.timestamp),
                event.payload
            )?;
        }
        Ok(())
    }

    /// A result object: JSON, or the given human text.
    pub(crate) fn value(&mut self, value: &impl Serialize, human: &str) -> anyhow::Result<()> {
        if self.json {
            serde_json::to_writer(&mut self.out, value)?;
            writeln!(self.out)?;
        } else {
            writeln!(self.out, "{human}")?;
        }
        Ok(())
    }

    /// One JSON line, whatever the mode (for protocols such as `append --stdin`).
    pub(crate) fn json_line(&mut self, value: &impl Serialize) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        writeln!(self.out)?;
        Ok(())
    }

    /// Plain text for a person.
    pub(crate) fn text(&mut self, text: &str) -> anyhow::Result<()> {
        writeln!(self.out, "{text}")?;
        Ok(())
    }

    pub(crate) fn flush(&mut self) -> anyhow::Result<()> {
        self.out.flush()?;
        Ok(())
    }
}

/// Milliseconds since the epoch as RFC 3339 (UTC, milliseconds).
pub(crate) fn format_time(timestamp_ms: i64) -> String {
    let Ok(ms) = u64::try_from(timestamp_ms) else {
        return format!("{timestamp_ms}ms");
    };
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(time).to_string()
}

/// Whether `error` is, at its root, a write to a closed pipe. A JSON line's write error comes
/// wrapped in `serde_json::Error`, whose source chain skips the `io::Error` itself.
pub(crate) fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let io = cause.downcast_ref::<io::Error>().map(io::Error::kind);
        let json = cause
            .downcast_ref::<serde_json::Error>()
            .and_then(serde_json::Error::io_error_kind);
        io.or(json) == Some(io::ErrorKind::BrokenPipe)
    })
}
