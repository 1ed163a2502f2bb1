#!/usr/bin/env bash
# Installs (or upgrades in place) edge-gatewayd on a gateway board running systemd, from the tarball
# `npm pack` made on a build machine. Run as root:
#
#   scripts/install-on-board.sh ./edge-gatewayd-<version>.tgz
#
# or straight from the tarball, without unpacking it first:
#
#   tar -xzOf edge-gatewayd-<version>.tgz package/scripts/install-on-board.sh | bash -s -- ./edge-gatewayd-<version>.tgz
#
# Safe to run again, and the way to upgrade: an existing /etc/edge-gatewayd/gateway.toml, the state
# database and the identity are kept; the unit is replaced and the service restarted, and its
# database migrations run on that start (all or nothing: a failed migration leaves the database as
# the previous version left it, and the unit failed with the reason in the journal).
#
# Environment:
#   EDGE_GATEWAYD_NODE        the Node.js (>= 24) the unit runs; default /usr/local/bin/node, which is
#                             what the unit's ExecStart= names (another path is linked there)
#   EDGE_GATEWAYD_NO_START=1  install and enable, but do not (re)start the service
#   EDGE_GATEWAYD_NPM_ARGS    extra arguments for `npm install` (e.g. --registry=... or --offline)
set -euo pipefail

readonly PACKAGE=edge-gatewayd
readonly PREFIX=/usr/local
readonly UNIT_NODE=/usr/local/bin/node
readonly MODULE_DIR="$PREFIX/lib/node_modules/$PACKAGE"
readonly CONFIG_DIR=/etc/edge-gatewayd
readonly CONFIG="$CONFIG_DIR/gateway.toml"
readonly UNIT_DIR=/etc/systemd/system
readonly MIN_NODE_MAJOR=24

say() { printf '==> %s\n' "$*"; }
die() {
  printf 'install-on-board: %s\n' "$1" >&2
  [ $# -gt 1 ] && printf '  %s\n' "${@:2}" >&2
  exit 1
}

[ $# -eq 1 ] || die "usage: $0 <edge-gatewayd-VERSION.tgz>"
tarball=$(readlink -f -- "$1") || die "$1: no such file"
[ -f "$tarball" ] || die "$1: no such file" "make it with \`npm pack\` on a build machine"
[ "$(id -u)" -eq 0 ] || die "run as root (it installs users, files under /etc and /usr/local and a systemd unit)"
[ -d /run/systemd/system ] || die "systemd is not running on this machine (no /run/systemd/system)"
command -v npm >/dev/null || die "npm is missing" "install Node.js ${MIN_NODE_MAJOR}+ with its npm"

# The runtime: the unit runs $UNIT_NODE (the DTLS/TLS engine is the runtime's own OpenSSL, and the
# native modules are built for exactly this Node.js).
node=${EDGE_GATEWAYD_NODE:-$UNIT_NODE}
[ -x "$node" ] || die "$node is not an executable Node.js" \
  "install Node.js ${MIN_NODE_MAJOR} or 26 (e.g. the official tarball under /opt) and link its bin/node to $UNIT_NODE," \
  "or set EDGE_GATEWAYD_NODE to it"
node_version=$("$node" -p 'process.versions.node') || die "$node does not run"
[ "${node_version%%.*}" -ge "$MIN_NODE_MAJOR" ] ||
  die "$node is Node.js $node_version; edge-gatewayd needs ${MIN_NODE_MAJOR} or newer" \
    "(Debian's /usr/bin/node may be 20, which is no longer supported: its OpenSSL 3.0 ends 2026-09-07)"
node=$(readlink -f -- "$node")
if [ "$(readlink -f -- "$UNIT_NODE" 2>/dev/null)" != "$node" ]; then
  say "linking $UNIT_NODE -> $node"
  ln -sfn -- "$node" "$UNIT_NODE"
fi
say "runtime: $UNIT_NODE (Node.js $node_version)"

# Native modules (better-sqlite3, koffi, i2c-bus) are built against this runtime's headers: an
# official Node.js build ships them beside bin/ (include/node/node.h); otherwise node-gyp fetches them.
npm_args=(--global --prefix "$PREFIX" --no-audit --no-fund --allow-scripts=better-sqlite3,i2c-bus,koffi)
node_home=$(dirname -- "$(dirname -- "$node")")
if [ -f "$node_home/include/node/node.h" ]; then
  npm_args+=(--nodedir="$node_home")
fi
# npm and node-gyp run on the same runtime (their `#!/usr/bin/env node` finds it first).
export PATH="$(dirname -- "$UNIT_NODE"):$PATH"

previous=$( [ -f "$MODULE_DIR/package.json" ] && "$node" -p "require('$MODULE_DIR/package.json').version" || true)
say "npm install ${tarball##*/}${previous:+ (replacing $previous)}"
# shellcheck disable=SC2086 # EDGE_GATEWAYD_NPM_ARGS is a list of arguments
npm install "${npm_args[@]}" ${EDGE_GATEWAYD_NPM_ARGS:-} "$tarball"
version=$("$node" -p "require('$MODULE_DIR/package.json').version")
(cd "$MODULE_DIR" && "$node" -e "require('better-sqlite3'); require('koffi'); require('i2c-bus')") ||
  die "the native modules of $MODULE_DIR do not load in Node.js $node_version (see above)" \
    "a build toolchain (build-essential, python3) and the runtime's headers are needed to build them"

say "system user (systemd-sysusers)"
install -m 0644 "$MODULE_DIR/systemd/edge-gatewayd.sysusers" /usr/lib/sysusers.d/edge-gatewayd.conf
systemd-sysusers /usr/lib/sysusers.d/edge-gatewayd.conf

say "UDP receive buffer for the sensor endpoint (sysctl.d: net.core.rmem_max)"
install -m 0644 "$MODULE_DIR/systemd/edge-gatewayd.sysctl" /usr/lib/sysctl.d/60-edge-gatewayd.conf
# A container cannot set it (its /proc/sys is read-only): then it applies where the host sets it.
systemd-sysctl /usr/lib/sysctl.d/60-edge-gatewayd.conf 2>/dev/null ||
  say "net.core.rmem_max not applied here (a container?); the daemon warns if its receive buffer is capped"

install -d -m 0750 -g edge-gatewayd "$CONFIG_DIR"
if [ -e "$CONFIG" ]; then
  say "keeping $CONFIG"
else
  say "installing the example configuration as $CONFIG"
  install -m 0640 -g edge-gatewayd "$MODULE_DIR/config/gateway.example.toml" "$CONFIG"
fi
"$PREFIX/bin/gatewayctl" config check "$CONFIG" ||
  die "$CONFIG is invalid: fix it (every key is described in $MODULE_DIR/config/gateway.example.toml) and run this again"

say "systemd unit"
install -m 0644 "$MODULE_DIR/systemd/edge-gatewayd.service" "$UNIT_DIR/edge-gatewayd.service"
systemctl daemon-reload
systemctl enable edge-gatewayd.service
if [ "${EDGE_GATEWAYD_NO_START:-0}" = 1 ]; then
  say "installed $PACKAGE $version (not started: EDGE_GATEWAYD_NO_START=1)"
  exit 0
fi
# restart: starts it when stopped, and runs the new version (and its migrations) after an upgrade.
# It returns once the daemon sent READY=1, or fails.
if ! systemctl restart edge-gatewayd.service; then
  systemctl --no-pager --lines=0 status edge-gatewayd.service >&2 || true
  die "edge-gatewayd $version did not start" "the reason: journalctl -u edge-gatewayd -n 30 -o cat"
fi
"$PREFIX/bin/gatewayctl" status
say "installed $PACKAGE $version${previous:+ (was $previous)}"
