#!/usr/bin/env bash
# The peers bench/peers compares Hearth's ingest with (`make bench-peers`), each step skipped
# when already done:
# - Prometheus 2.42, Debian's package; its system service is stopped and disabled (the bench
#   runs its own instance on a private data dir and a free port);
# - VictoriaMetrics v1.151.0, built from the Go module proxy into target/peers/bin (gitignored);
# - Unleash 8.2.0 (npm `unleash-server`, for bench/flags), installed with npm into
#   target/peers/unleash (gitignored); its install scripts are not run (none is needed: they
#   are telemetry and optional native SSH helpers);
# - Ory Hydra v2.3.0 (for bench/auth), built from the Go module proxy into target/peers/bin by
#   bench/peers/hydra/build.sh (its README says why it is built that way).
# Prints how long each step took.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$ROOT/target/peers/bin"
VM_MODULE=github.com/VictoriaMetrics/VictoriaMetrics
VM_VERSION=v1.151.0
PROM_SERIES=2.42
UNLEASH_VERSION=8.2.0
UNLEASH_DIR="$ROOT/target/peers/unleash"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

prometheus_version() {
  dpkg-query -W -f='${Version}' prometheus 2>/dev/null || true
}

t0=$(date +%s)
case "$(prometheus_version)" in
  "$PROM_SERIES".*) echo "[peers] prometheus $(prometheus_version) already installed" ;;
  *)
    echo "[peers] installing Debian's prometheus ($PROM_SERIES expected)"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    case "$(prometheus_version)" in
      "$PROM_SERIES".*) ;;
      *) echo "[peers] Debian gave prometheus $(prometheus_version), not $PROM_SERIES.x" >&2; exit 1 ;;
    esac
    echo "[peers] prometheus $(prometheus_version) installed in $(($(date +%s) - t0)) s"
    ;;
esac
# The package starts a system instance where services may start; ours is private.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
$SUDO service prometheus stop >/dev/null 2>&1 || true

t1=$(date +%s)
vm_built() {
  [ -x "$BIN/victoria-metrics" ] &&
    "$GO" version -m "$BIN/victoria-metrics" 2>/dev/null | grep -q "mod[[:space:]]*$VM_MODULE[[:space:]]*$VM_VERSION"
}
if vm_built; then
  echo "[peers] victoria-metrics $VM_VERSION already built in ${BIN#"$ROOT"/}"
else
  [ -x "$GO" ] || { echo "[peers] go is required to build VictoriaMetrics (Go 1.26)" >&2; exit 1; }
  echo "[peers] building victoria-metrics $VM_VERSION from the Go module proxy (a few minutes)"
  mkdir -p "$BIN"
  GOBIN="$BIN" GOFLAGS=-mod=mod "$GO" install "$VM_MODULE/app/victoria-metrics@$VM_VERSION"
  vm_built || { echo "[peers] $BIN/victoria-metrics is not $VM_VERSION" >&2; exit 1; }
  echo "[peers] victoria-metrics $VM_VERSION built in $(($(date +%s) - t1)) s"
fi

t2=$(date +%s)
unleash_version() {
  node -p "require('$UNLEASH_DIR/node_modules/unleash-server/package.json').version" 2>/dev/null || true
}
if [ "$(unleash_version)" = "$UNLEASH_VERSION" ]; then
  echo "[peers] unleash-server $UNLEASH_VERSION already installed in ${UNLEASH_DIR#"$ROOT"/}"
else
  command -v npm >/dev/null 2>&1 || { echo "[peers] npm (Node.js) is required for unleash-server" >&2; exit 1; }
  echo "[peers] installing unleash-server $UNLEASH_VERSION with npm (a minute or two)"
  mkdir -p "$UNLEASH_DIR"
  npm install --prefix "$UNLEASH_DIR" --no-audit --no-fund --omit=dev --ignore-scripts \
    --loglevel=error "unleash-server@$UNLEASH_VERSION" >/dev/null
  [ "$(unleash_version)" = "$UNLEASH_VERSION" ] || { echo "[peers] $UNLEASH_DIR has no unleash-server $UNLEASH_VERSION" >&2; exit 1; }
  echo "[peers] unleash-server $UNLEASH_VERSION installed in $(($(date +%s) - t2)) s"
fi

# Hydra last: bench/auth reports a failed build (its log) as a failed peer, with Hearth's
# own figures still measured.
bash "$ROOT/bench/peers/hydra/build.sh"
