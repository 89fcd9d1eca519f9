#!/usr/bin/env bash
# The syslog exporter against a real rsyslogd: installs rsyslog when it is missing (Debian
# or Ubuntu, as root or with passwordless sudo), then runs the ignored integration test
# that starts its own `rsyslogd -n` on a loopback port with a config in a temporary
# directory and parses every message back (tests/it/exporters_syslog.rs).
#
# Installing the package may start the system's rsyslog service where systemd runs; its
# stock config listens on no TCP port and the test uses its own daemon, so it does not
# matter. Set JAGSPEC_RSYSLOGD to use another rsyslogd binary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

find_rsyslogd() {
  if [[ -n "${JAGSPEC_RSYSLOGD:-}" ]]; then
    echo "$JAGSPEC_RSYSLOGD"
  elif command -v rsyslogd >/dev/null 2>&1; then
    command -v rsyslogd
  elif [[ -x /usr/sbin/rsyslogd ]]; then
    echo /usr/sbin/rsyslogd
  fi
}

rsyslogd=$(find_rsyslogd)
if [[ -z "$rsyslogd" ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo)
  else
    echo "syslog: rsyslogd is not installed and installing it needs root (or passwordless sudo);" \
      "install the rsyslog package, or set JAGSPEC_RSYSLOGD to an rsyslogd binary" >&2
    exit 2
  fi
  command -v apt-get >/dev/null 2>&1 || {
    echo "syslog: rsyslogd is not installed and there is no apt-get to install it with;" \
      "install rsyslog, or set JAGSPEC_RSYSLOGD to an rsyslogd binary" >&2
    exit 2
  }
  echo "syslog: installing rsyslog"
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends rsyslog >/dev/null
  rsyslogd=$(find_rsyslogd)
  [[ -n "$rsyslogd" ]] || { echo "syslog: rsyslog installed but no rsyslogd found" >&2; exit 2; }
fi
[[ -x "$rsyslogd" ]] || { echo "syslog: $rsyslogd is not executable" >&2; exit 2; }
export JAGSPEC_RSYSLOGD="$rsyslogd"
echo "syslog: $("$rsyslogd" -v | head -1 | tr -s ' \t' ' ') at $rsyslogd"

# Exactly the ignored rsyslog test(s) of the syslog module; refuse to pass on zero.
filter="exporters_syslog::"
listed=$(cargo test --locked --test it "$filter" -- --ignored --list)
count=$(grep -c ': test$' <<<"$listed" || true)
echo "syslog: $count test(s) selected by '$filter' with --ignored"
if [[ "$count" -lt 1 ]]; then
  echo "syslog: the filter selects no test; was it renamed?" >&2
  exit 1
fi
cargo test --locked --test it "$filter" -- --ignored --nocapture
