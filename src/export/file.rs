//! Delivery to a local file: the batch's NDJSON lines appended in one write, then fsynced,
//! so a cursor is never advanced past a line that is not on disk.
//!
//! A crash (or `kill -9`) in the middle of a write can leave the file ending in part of a
//! line. Those events were not recorded as delivered, so they are sent again; before
//! appending, the torn tail is cut back to the last complete line, or the next line would
//! be glued to it and both would be unreadable.

use super::format;
use crate::audit::AuditEvent;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// How far back a torn tail is searched for the last newline, per read.
const TAIL_CHUNK: u64 = 64 * 1024;

/// Appends `events` to `path` (created if missing) and syncs it; blocking.
pub(crate) fn deliver(path: &Path, events: &[AuditEvent]) -> Result<(), String> {
    let shown = path.display();
    let mut file = open_nonblocking(
        std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true),
        path,
    )
    .map_err(|e| format!("cannot open {shown}: {e}"))?;
    cut_torn_tail(&mut file).map_err(|e| format!("cannot repair the end of {shown}: {e}"))?;
    file.write_all(format::ndjson(events).as_bytes())
        .map_err(|e| format!("cannot write {shown}: {e}"))?;
    file.sync_data()
        .map_err(|e| format!("cannot sync {shown}: {e}"))
}

/// Truncates `file` after its last `\n` when it does not end with one.
fn cut_torn_tail(file: &mut File) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    if len == 0 || last_byte(file, len)? == b'\n' {
        return Ok(());
    }
    let mut end = len;
    let mut chunk = Vec::new();
    while end > 0 {
        let start = end.saturating_sub(TAIL_CHUNK);
        chunk.resize(usize::try_from(end - start).unwrap_or(0), 0);
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return file.set_len(start + i as u64 + 1);
        }
        end = start;
    }
    file.set_len(0)
}

/// Whether `path` is a non-empty file that does not end with a newline (unreadable or
/// missing: no).
pub(crate) fn ends_torn(path: &Path) -> bool {
    let Ok(mut file) = open_nonblocking(File::options().read(true), path) else {
        return false;
    };
    match file.metadata() {
        Ok(m) if m.len() > 0 => last_byte(&mut file, m.len()).is_ok_and(|b| b != b'\n'),
        _ => false,
    }
}

/// Opens `path` without ever waiting (`O_NONBLOCK`: a FIFO swapped in after the admin
/// API's check would otherwise block until a writer comes), never through a symlink
/// (`O_NOFOLLOW`), and only a regular file.
fn open_nonblocking(options: &mut std::fs::OpenOptions, path: &Path) -> std::io::Result<File> {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(options, libc::O_NONBLOCK | libc::O_NOFOLLOW);
    let file = options.open(path)?;
    if file.metadata()?.is_file() {
        Ok(file)
    } else {
        Err(std::io::Error::other("not a regular file"))
    }
}

fn last_byte(file: &mut File, len: u64) -> std::io::Result<u8> {
    let mut b = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut b)?;
    Ok(b[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(text: &[u8]) -> Vec<u8> {
        let path = std::env::temp_dir().join(format!(
            "jagspec-torn-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::write(&path, text).unwrap();
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .unwrap();
        cut_torn_tail(&mut file).unwrap();
        let out = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        out
    }

    #[test]
    fn a_torn_last_line_is_cut_back_to_the_last_complete_line_and_whole_files_are_untouched() {
        assert_eq!(cut(b""), b"");
        assert_eq!(cut(b"{\"a\":1}\n"), b"{\"a\":1}\n");
        assert_eq!(cut(b"{\"a\":1}\n{\"b\":"), b"{\"a\":1}\n");
        assert_eq!(cut(b"{\"b\":"), b"");
        let mut long = b"{\"a\":1}\n".to_vec();
        long.extend(std::iter::repeat_n(b'x', 3 * TAIL_CHUNK as usize + 17));
        assert_eq!(cut(&long), b"{\"a\":1}\n");
    }
}
