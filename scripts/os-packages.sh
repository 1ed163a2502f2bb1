# shellcheck shell=bash
# Installing the Debian packages a setup script needs, sourced by setup.sh and setup-arm64.sh so both
# install the same way: only what is missing (so a second run changes nothing), `apt-get update` first,
# as root through sudo when not root.

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Runs a command as root; fails with what to do when that needs sudo and there is none.
as_root() {
  if [ -n "$SUDO" ] && ! command -v sudo >/dev/null; then
    echo "$(basename "$0"): this step needs root: run it as root or install sudo" >&2
    exit 1
  fi
  $SUDO "$@"
}

# install_missing_packages PACKAGE...: installs those of the named packages dpkg does not have.
install_missing_packages() {
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing OS packages: ${missing[*]}"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  else
    echo "==> OS packages already installed"
  fi
}
