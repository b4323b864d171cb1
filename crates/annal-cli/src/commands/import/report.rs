//! What an import did, printed the same way for every format: events imported, events already
//! stored (same id), bad records skipped with their reasons, and snapshots.

use serde::Serialize;

use crate::output::Output;

/// The outcome of one import.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Report {
    /// The source format, as `--format` spells it.
    pub(crate) format: &'static str,
    /// Events newly stored.
    pub(crate) imported: u64,
    /// Events whose id was already stored in the same place: a re-run of an earlier import.
    pub(crate) skipped_existing: u64,
    /// Records not imported, each naming its line or rowid and the reason.
    pub(crate) skipped_bad: Vec<String>,
    /// Snapshots newly stored (seed databases only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) snapshots_imported: Option<u64>,
    /// Snapshots already stored as they are in the source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) snapshots_existing: Option<u64>,
}

impl Report {
    pub(crate) fn new(format: &'static str) -> Self {
        Self {
            format,
            ..Self::default()
        }
    }

    pub(crate) fn print(&self, out: &mut Output) -> anyhow::Result<()> {
        let mut human = format!(
            "imported {} event(s); skipped {} already stored (same id)",
            self.imported, self.skipped_existing
        );
        if let (Some(imported), Some(existing)) = (self.snapshots_imported, self.snapshots_existing)
        {
            human.push_str(&format!(
                "; imported {imported} snapshot(s), {existing} already stored"
            ));
        }
        if !self.skipped_bad.is_empty() {
            human.push_str(&format!(
                "; skipped {} bad record(s):",
                self.skipped_bad.len()
            ));
            for reason in &self.skipped_bad {
                human.push_str(&format!("\n  {reason}"));
            }
        }
        out.value(self, &human)
    }
}
