#!/usr/bin/env bash
# The whole test suite. Installs what the end-to-end tests run against when it is missing
# (Debian's redis-server and prometheus-alertmanager), then runs `cargo test`. The tests start their own servers on free
# loopback ports and stop them by PID; nothing here starts a service.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} (Debian packages) for the end-to-end tests" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

cargo test "$@"
