#!/usr/bin/env bash
# Sets up a Debian machine to build, test and demo edge-gatewayd: the OS packages the tests and the
# demo start for real (swtpm, mosquitto, libcoap, openssl, systemd-analyze, tpm2-tss), then `npm ci`
# and the build. Safe to run twice: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup.sh: run as root or install sudo" >&2; exit 1; }
  SUDO="sudo"
fi

packages=(
  build-essential python3 ca-certificates          # native npm modules (better-sqlite3, i2c-bus)
  openssl sqlite3                                  # openssl req/s_client/s_server, inspecting state.db
  systemd libsystemd0                              # sd_notify(3) and systemd-analyze
  swtpm swtpm-tools libtss2-dev libtss2-tcti-swtpm0 tpm2-tools   # TPM 2.0 simulator and tpm2-tss
  mosquitto mosquitto-clients                      # MQTT 5 broker for upstream tests
  libcoap3-bin                                     # coap-client-openssl / coap-server-openssl
  curl                                             # an independent HTTPS client for the EST server tests
  faketime                                         # boot-at-1970 tests (clock floor)
  strongswan-pki libstrongswan-standard-plugins    # pki --est/--estca: an independent EST client (ECDSA via the openssl plugin)
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing OS packages: ${missing[*]}"
  $SUDO apt-get update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "==> OS packages already installed"
fi

if ! command -v node >/dev/null || ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  echo "setup.sh: Node.js >= 20 is required (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "  Install Node.js 20 or newer (Debian 13: apt-get install nodejs npm) and run this again." >&2
  exit 1
fi

echo "==> npm ci"
npm ci --no-audit --no-fund
echo "==> npm run build"
npm run build
echo "==> setup done (node $(node --version))"
