#!/usr/bin/env bash
# Builds Ory Hydra v2.3.0 from the Go module proxy into target/peers/bin/hydra (gitignored), the
# identity peer of bench/auth; skipped when that binary already says it is v2.3.0. Called by
# scripts/bench-peers.sh (`make bench-peers`); README.md beside this file explains why it is
# built this way. The output of the last build is kept in target/peers/hydra-build.log, which
# bench/auth quotes when the binary is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
BIN="$ROOT/target/peers/bin"
LOG="$ROOT/target/peers/hydra-build.log"
MODULE=github.com/ory/hydra/v2
VERSION=v2.3.0
CLIENT_MODULE=github.com/ory/hydra-client-go/v2
CLIENT_VERSION=v2.2.1
GO_MIN=22  # go.mod says go 1.22

hydra_built() {
  [ -x "$BIN/hydra" ] && "$BIN/hydra" version 2>/dev/null | grep -q "^Version:[[:space:]]*$VERSION\$"
}

if hydra_built; then
  echo "[peers] hydra $VERSION already built in ${BIN#"$ROOT"/}"
  exit 0
fi

t0=$(date +%s)
mkdir -p "$BIN"
: >"$LOG"
exec 3>&1
exec >>"$LOG" 2>&1
fail() { echo "[peers] $*"; echo "[peers] hydra build failed: $* (log: ${LOG#"$ROOT"/})" >&3; exit 1; }

GO="${GO:-$(command -v go || true)}"
if [ -z "$GO" ] && [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go; fi
if [ -z "$GO" ]; then
  echo "[peers] no go found: installing Debian's golang package" >&3
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends golang-go
  GO="$(command -v go || true)"
  [ -n "$GO" ] || fail "Debian's golang-go installed no go"
fi
goversion=$("$GO" env GOVERSION) || fail "$GO env GOVERSION failed"
minor=$(echo "$goversion" | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
[ "${minor:-0}" -ge "$GO_MIN" ] ||
  fail "$GO is $goversion, older than go1.$GO_MIN, which Hydra $VERSION needs"

echo "[peers] building hydra $VERSION with $goversion (a minute or two)" >&3
# The module's own source from the proxy (GOFLAGS=-mod=mod: no vendor dir or workspace of ours).
dir=$(GOFLAGS=-mod=mod "$GO" mod download -json "$MODULE@$VERSION" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || fail "go mod download $MODULE@$VERSION failed"
[ -n "$dir" ] && [ -f "$dir/go.mod" ] || fail "go mod download $MODULE@$VERSION gave no source dir"

# Built as the main module, in a copy of its own directory: as a dependency its go.mod's
# replace directives are ignored and it does not compile. The replace of hydra-client-go/v2
# points at ./internal/httpclient, a nested module the module zip leaves out: dropped, the
# published v2.2.1 is required instead.
work="$ROOT/target/peers/hydra-build"
rm -rf "$work"
cp -r "$dir" "$work"
chmod -R u+w "$work"
trap 'rm -rf "$work"' EXIT
cd "$work"
"$GO" mod edit -dropreplace="$CLIENT_MODULE" -require="$CLIENT_MODULE@$CLIENT_VERSION"
# As Ory's release does (Makefile, .goreleaser.yml), the version goes in with -X.
GOFLAGS="-mod=mod -buildvcs=false" "$GO" build -trimpath \
  -ldflags "-X $MODULE/driver/config.Version=$VERSION" -o "$BIN/hydra.new" . ||
  fail "go build of $MODULE@$VERSION failed"
mv "$BIN/hydra.new" "$BIN/hydra"
hydra_built || fail "$BIN/hydra does not report version $VERSION"
msg="[peers] hydra $VERSION built in $(($(date +%s) - t0)) s"
echo "$msg"
echo "$msg" >&3
