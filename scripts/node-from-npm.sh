# shellcheck shell=bash
# Installing an official Node.js build from the npm registry (package node-linux-<cpu>: the same
# binaries as nodejs.org), sourced by setup.sh (this machine's CPU) and setup-arm64.sh (arm64 under
# QEMU) so both install the same way. Needs as_root and install_missing_packages (os-packages.sh).

# install_node_from_npm CPU VERSION HOME CHECK: unpacks node-linux-CPU@VERSION (an exact version) into
# HOME.new, runs `CHECK HOME.new/bin/node` (the new runtime must work here before it replaces
# anything), then swaps HOME.new into HOME. Returns non-zero, HOME untouched, when a step fails — also
# when called where `set -e` does not apply (in `if`, before `||`).
install_node_from_npm() {
  local cpu="$1" version="$2" home="$3" check="$4" download
  if ! command -v npm >/dev/null; then   # npm fetches the runtime from the npm registry
    install_missing_packages npm || return 1
  fi
  echo "==> installing Node.js $version ($cpu) from the npm registry into $home"
  download="$(mktemp -d)" || return 1
  if ! (cd "$download" && npm pack --silent "node-linux-$cpu@$version" >/dev/null) ||
    ! as_root rm -rf "$home.new" || ! as_root mkdir -p "$home.new" ||
    ! as_root tar -xzf "$download/node-linux-$cpu-$version.tgz" -C "$home.new" --strip-components=1; then
    rm -rf "$download"
    echo "$(basename "$0"): could not fetch and unpack node-linux-$cpu@$version from the npm registry" >&2
    return 1
  fi
  rm -rf "$download"
  if ! "$check" "$home.new/bin/node"; then
    echo "$(basename "$0"): the Node.js $version just unpacked in $home.new does not run here; $home is left as it was" >&2
    return 1
  fi
  as_root rm -rf "$home" && as_root mv "$home.new" "$home"
}
