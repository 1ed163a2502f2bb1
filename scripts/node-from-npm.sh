# shellcheck shell=bash
# Installing an official Node.js build from the npm registry (package node-linux-<cpu>: the same
# binaries as nodejs.org), sourced by setup.sh (this machine's CPU) and setup-arm64.sh (arm64 under
# QEMU) so both install the same way. Needs as_root and install_missing_packages (os-packages.sh).

# install_node_from_npm CPU VERSION HOME CHECK: unpacks node-linux-CPU@VERSION into HOME.new, runs
# `CHECK HOME.new/bin/node` (the new runtime must work here before it replaces anything), then
# swaps HOME.new into HOME.
install_node_from_npm() {
  local cpu="$1" version="$2" home="$3" check="$4"
  if ! command -v npm >/dev/null; then   # npm fetches the runtime from the npm registry
    install_missing_packages npm
  fi
  echo "==> installing Node.js $version ($cpu) from the npm registry into $home"
  download="$(mktemp -d)"
  trap 'rm -rf "$download"' EXIT   # also when a step below fails
  (cd "$download" && npm pack --silent "node-linux-$cpu@$version" >/dev/null)
  as_root rm -rf "$home.new"
  as_root mkdir -p "$home.new"
  as_root tar -xzf "$download/node-linux-$cpu-$version.tgz" -C "$home.new" --strip-components=1
  rm -rf "$download"
  "$check" "$home.new/bin/node"
  as_root rm -rf "$home"
  as_root mv "$home.new" "$home"
}
