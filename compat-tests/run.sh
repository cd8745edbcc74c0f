#!/usr/bin/env bash
# Runs the compat suite against a freshly built dynarock (release build, in-memory storage on a
# free loopback port), or against any endpoint given with --url (pytest arguments pass through).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

# The suite's Python packages live in compat-tests/.venv and the JavaScript SDK tests' in
# compat-tests/js/node_modules, both made on the first run (and again when their lists change).
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ] || [ "$here/requirements.txt" -nt "$venv/.installed" ]; then
  echo "Installing the compat suite's Python packages into compat-tests/.venv ..."
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
  touch "$venv/.installed"
fi
if [ ! -d "$here/js/node_modules" ] || [ "$here/js/package-lock.json" -nt "$here/js/node_modules/.package-lock.json" ]; then
  echo "Installing the JavaScript SDK tests' packages into compat-tests/js/node_modules ..."
  npm ci --prefix "$here/js" --no-audit --no-fund --loglevel=error
fi
# The aws CLI, and the Python that functions run on, come from the venv too.
export PATH="$venv/bin:$PATH"

if printf '%s\n' "$@" | grep -q -- '^--url'; then
  exec python -m pytest "$here" "$@"
fi

cargo build --release --manifest-path "$root/Cargo.toml" --bin dynarock
target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
# A function built with the stock Rust runtime client, in the same target directory.
CARGO_TARGET_DIR="$target_dir" cargo build --release --manifest-path "$here/functions/rust-echo/Cargo.toml"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
"$target_dir/release/dynarock" serve --in-memory --port "$port" --log-level warn --stream-shard-seconds 2 --function-retry-seconds 0.5 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -f "$log"' EXIT

for _ in $(seq 1 100); do
  if curl -sf "http://127.0.0.1:$port/" >/dev/null 2>&1; then break; fi
  if ! kill -0 $server 2>/dev/null; then cat "$log"; exit 1; fi
  sleep 0.1
done

DYNAROCK_BIN="$target_dir/release/dynarock" RUST_ECHO_BOOTSTRAP="$target_dir/release/bootstrap" python -m pytest "$here" --url "http://127.0.0.1:$port" "$@"
# The AWS SDK for JavaScript v3, with node's own test runner.
DYNAROCK_URL="http://127.0.0.1:$port" node --test --test-concurrency=1 "$here"/js/*.test.mjs
# The AWS SDK for Rust: its own workspace, built in the same (cached) target directory.
DYNAROCK_URL="http://127.0.0.1:$port" CARGO_TARGET_DIR="$target_dir" cargo test -q --manifest-path "$here/rust-sdk/Cargo.toml"
