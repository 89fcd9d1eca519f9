//! `cargo test` runs the whole conformance suite against the reference target, so CI gates
//! on it. A `harness = false` test that speaks enough of libtest's command line to live
//! beside the other test binaries: `cargo test <filter>` selects checks by id, feature or
//! scenario text, `--list` lists them (as nextest expects), libtest's other flags are
//! accepted and ignored, and the last line is libtest's `test result:` line.

use jagspec::suite::{Outcome, SuiteOptions, TargetSpec, checks, report, run};
use std::process::ExitCode;

/// libtest flags that take a value: their value is not a filter.
const FLAGS_WITH_VALUES: [&str; 7] = [
    "--test-threads",
    "--format",
    "--color",
    "--logfile",
    "--skip",
    "-Z",
    "--report-time",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut filter = None;
    let mut list = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--list" => list = true,
            flag if FLAGS_WITH_VALUES.contains(&flag) => {
                iter.next();
            }
            flag if flag.starts_with('-') => {}
            text => filter = Some(text.to_owned()),
        }
    }
    let options = SuiteOptions {
        name: filter,
        ..SuiteOptions::default()
    };
    if list {
        match checks(&options) {
            Ok(all) => {
                for c in all {
                    println!("{}: test", c.id);
                }
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let report = match runtime.block_on(run(&TargetSpec::Reference, &options, |c| {
        println!("{}", report::console_line(c));
    })) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", report.summary_line());
    let s = report.summary;
    // A skipped check against the reference means the reference lacks a role the features
    // use: that is a defect here, so it fails too.
    let ok = report.passed() && s.skipped == 0 && s.warned == 0;
    let failed: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.outcome != Outcome::Pass)
        .map(|c| c.id.as_str())
        .collect();
    if !failed.is_empty() {
        println!("\nnot passed against the reference: {}", failed.join(", "));
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; 0 filtered out; finished in {:.2}s",
        if ok { "ok" } else { "FAILED" },
        s.passed,
        s.failed + s.warned + s.skipped,
        report.duration_ms as f64 / 1000.0
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
