#!/usr/bin/env bash
# Interop: the official MCP python SDK + PyJWT complete the Cross App Access chain against
# `jagspec serve`. Needs the debug jagspec binary where cargo puts it (run `cargo build`
# first; CARGO_TARGET_DIR and cargo's config are honoured) or $JAGSPEC_BIN.
set -euo pipefail

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
t0=$(now)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
# Where cargo builds: CARGO_TARGET_DIR, build.target-dir in a config, or target/.
target=$(cd "$root" && cargo metadata --format-version 1 --no-deps \
  | "$python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin="${JAGSPEC_BIN:-$target/debug/jagspec}"
venv="$target/interop-venv"
req="$here/python/requirements.txt"
out="$target/interop"
manifest="$out/manifest.json"
log="$out/serve.log"

if [[ ! -x "$bin" ]]; then
  echo "interop: $bin not found or not executable; run 'cargo build' first (or set JAGSPEC_BIN)" >&2
  exit 2
fi

# --- the venv: created once, reinstalled only when requirements.txt (or the python) changes
export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi
stamp="$venv/.interop-requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1) $("$venv/bin/python" -c 'import platform; print(platform.python_version())')"
if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
  echo "interop: installing $req into $venv"
  rm -f "$stamp"
  "$venv/bin/python" -m pip install -q -r "$req"
  cp "$req" "$venv/.interop-requirements.txt"
  echo "$want" >"$stamp"
fi
t_venv=$(now)

# --- the mock ecosystem, always stopped on exit
mkdir -p "$out"
rm -f "$manifest"
"$bin" serve --manifest "$manifest" >"$log" 2>&1 &
server_pid=$!
stop_server() {
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

deadline=$((SECONDS + 20))
until [[ -s "$manifest" ]]; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "interop: jagspec serve exited before writing $manifest:" >&2
    cat "$log" >&2
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    echo "interop: no manifest at $manifest after 20 s:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.05
done
t_ready=$(now)
echo "interop: jagspec serve (pid $server_pid) ready, manifest $manifest"

rc=0
"$venv/bin/python" "$here/python/xaa_interop.py" "$manifest" || rc=$?
t_end=$(now)

echo "interop: timing: venv $(secs "$t0" "$t_venv") s, server ready $(secs "$t_venv" "$t_ready") s," \
  "checks $(secs "$t_ready" "$t_end") s, total $(secs "$t0" "$t_end") s"
if ((rc != 0)); then
  echo "interop: FAILED (exit $rc); server log: $log" >&2
fi
exit "$rc"
