//! The `jagspec` binary: see `jagspec --help`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    jagspec::run_cli()
}
