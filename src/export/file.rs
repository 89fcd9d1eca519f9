//! Delivery to a local file: the batch's NDJSON lines appended in one write, then fsynced,
//! so a cursor is never advanced past a line that is not on disk.

use super::format;
use crate::audit::AuditEvent;
use std::io::Write;
use std::path::Path;

/// Appends `events` to `path` (created if missing) and syncs it; blocking.
pub(crate) fn deliver(path: &Path, events: &[AuditEvent]) -> Result<(), String> {
    let shown = path.display();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open {shown}: {e}"))?;
    file.write_all(format::ndjson(events).as_bytes())
        .map_err(|e| format!("cannot write {shown}: {e}"))?;
    file.sync_data()
        .map_err(|e| format!("cannot sync {shown}: {e}"))
}
