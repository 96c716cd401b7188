#!/usr/bin/env bash
# Installs the Debian packages the project needs, only when something is missing.
set -euo pipefail

need=()
have_pg() { command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }
have_pg || need+=(postgresql postgresql-contrib)
# PL/Python runs the SQL `metrics` function (it decodes chunks with the native core). Debian
# names it by PostgreSQL's major version, known once PostgreSQL is installed (below).
have_plpython() { ls /usr/lib/postgresql/*/lib/plpython3.so >/dev/null 2>&1; }
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
command -v curl >/dev/null 2>&1 || need+=(curl)  # tests/ingest/test_influx.py posts with the real curl
command -v cargo >/dev/null 2>&1 || { echo "cargo (Rust) is required: https://rustup.rs" >&2; exit 1; }
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)  # the console's vendor files (npm ci)
# Debian's Prometheus: the real remote write sender in tests/ingest/test_remote_write.py.
[ -x /usr/bin/prometheus ] || need+=(prometheus)
# Debian's Chromium, driven by Playwright in the console's tests (`make test` sets this).
if [ "${HEARTH_WITH_BROWSER:-0}" = 1 ]; then
  [ -x /usr/bin/chromium ] || need+=(chromium)
fi

if [ ${#need[@]} -eq 0 ] && have_plpython; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
install() {
  echo "[setup] installing Debian packages: $*"
  $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
[ ${#need[@]} -eq 0 ] || install "${need[@]}"
have_plpython || install "postgresql-plpython3-$(ls /usr/lib/postgresql | sort -n | tail -1)"
# Debian starts a cluster, a redis and a prometheus service of its own; ours are private, so
# stop theirs.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
$SUDO service redis-server stop >/dev/null 2>&1 || true
$SUDO service prometheus stop >/dev/null 2>&1 || true
