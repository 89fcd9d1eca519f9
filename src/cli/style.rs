//! How the commands colour what they print on a terminal. The report model and the
//! renderings stay plain text; colour is added here, at the last step, and
//! [`super::write_stdout`] writes through `anstream`, which strips it unless standard
//! output is a terminal that wants it (`NO_COLOR` off; `CLICOLOR_FORCE` forces it).

use crate::suite::Outcome;
use anstyle::{AnsiColor, Style};

/// A check or a chain that passed.
const GOOD: Style = AnsiColor::Green.on_default();
/// A failure: what a reader must not miss.
const BAD: Style = AnsiColor::Red.on_default().bold();
/// Tolerated, but not what jagspec expects.
const WARN: Style = AnsiColor::Yellow.on_default();
/// Not judged.
const SKIP: Style = Style::new().dimmed();

/// `text` in `style`.
fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// A suite console line (`pass  …`, `FAIL  …`) with its mark coloured by the outcome.
pub(crate) fn check_line(outcome: Outcome, line: &str) -> String {
    let style = match outcome {
        Outcome::Pass => GOOD,
        Outcome::Fail => BAD,
        Outcome::Warn => WARN,
        Outcome::Skip => SKIP,
    };
    // The mark is the line's first word; the finding below it stays plain.
    let end = line.find(' ').unwrap_or(line.len());
    format!("{}{}", paint(style, &line[..end]), &line[end..])
}

/// The suite's summary line, its verdict (`— PASS` or `— FAIL`, last) coloured.
pub(crate) fn summary_line(passed: bool, line: &str) -> String {
    let verdict = if passed { "PASS" } else { "FAIL" };
    match line.strip_suffix(verdict) {
        Some(rest) => format!("{rest}{}", paint(if passed { GOOD } else { BAD }, verdict)),
        None => line.to_owned(),
    }
}

/// A line that starts with `mark` (`✓`, `OK:`, `FAILED`), the mark coloured good or bad.
pub(crate) fn marked(good: bool, mark: &str, line: &str) -> String {
    match line.strip_prefix(mark) {
        Some(rest) => format!("{}{rest}", paint(if good { GOOD } else { BAD }, mark)),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_mark_and_the_verdict_are_coloured_and_stripping_gives_the_plain_line() {
        let line = "FAIL  F — S [AS-01] (3 ms)\n      expected x";
        let styled = check_line(Outcome::Fail, line);
        assert_eq!(
            styled,
            "\u{1b}[1m\u{1b}[31mFAIL\u{1b}[0m  F — S [AS-01] (3 ms)\n      expected x"
        );
        assert_eq!(anstream::adapter::strip_str(&styled).to_string(), line);
        let summary = summary_line(true, "3 checks: 3 passed (1 ms) — PASS");
        assert!(summary.ends_with("\u{1b}[32mPASS\u{1b}[0m"), "{summary:?}");
        assert_eq!(
            anstream::adapter::strip_str(&summary).to_string(),
            "3 checks: 3 passed (1 ms) — PASS"
        );
        assert_eq!(marked(true, "✓", "   x"), "   x");
    }
}
