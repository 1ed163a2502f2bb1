#!/usr/bin/env bash
# factory-ca.sh — the factory line's certificate authority kit (OpenSSL, ECDSA P-256).
#
#   factory-ca.sh init DIR            make a root CA and an intermediate (the factory signer) in DIR
#   factory-ca.sh sign DIR CSR OUT    issue a device certificate for a gateway's CSR (PEM or DER)
#   factory-ca.sh show DIR            print the CA certificates' subjects and validity
#
# Device certificate profile (the seeds'): subject CN=device-<serial>, serialNumber=<serial>;
# EKU clientAuth + serverAuth; KeyUsage digitalSignature; basicConstraints CA:FALSE; SAN and the
# device-type extension (1.3.6.1.4.1.12345.1.1) copied from the CSR. Whatever else the CSR asks for
# (a CA flag, other usages) is overridden by this profile.
#
# Environment: ROOT_DAYS (default 9125), INTERMEDIATE_DAYS (7300), DEVICE_DAYS (7300),
#              CA_NAME (default "edge-gatewayd factory").
# Keep root.key offline in production: only intermediate.* is needed on the line.
set -euo pipefail

die() { echo "factory-ca.sh: $*" >&2; exit 1; }
usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
command -v openssl >/dev/null || die "openssl not found: apt-get install openssl (or run scripts/setup.sh)"

ROOT_DAYS=${ROOT_DAYS:-9125}
INTERMEDIATE_DAYS=${INTERMEDIATE_DAYS:-7300}
DEVICE_DAYS=${DEVICE_DAYS:-7300}
CA_NAME=${CA_NAME:-edge-gatewayd factory}

write_profiles() { # $1 = dir
  cat >"$1/profiles.cnf" <<'CNF'
[root_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[intermediate_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[device]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth, serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
}

cmd_init() {
  local dir=${1:-}
  [ -n "$dir" ] || usage 2
  [ -e "$dir/root.key" ] && die "$dir already holds a CA (root.key exists); refusing to overwrite it"
  mkdir -p "$dir"
  chmod 700 "$dir"
  write_profiles "$dir"
  (
    umask 077
    openssl ecparam -name prime256v1 -genkey -noout -out "$dir/root.key"
    openssl ecparam -name prime256v1 -genkey -noout -out "$dir/intermediate.key"
  )
  openssl req -new -x509 -key "$dir/root.key" -sha256 -days "$ROOT_DAYS" \
    -subj "/O=$CA_NAME/CN=$CA_NAME root CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$dir/root.crt"
  openssl req -new -key "$dir/intermediate.key" -subj "/O=$CA_NAME/CN=$CA_NAME signer" -out "$dir/intermediate.csr"
  openssl x509 -req -in "$dir/intermediate.csr" -CA "$dir/root.crt" -CAkey "$dir/root.key" -sha256 \
    -days "$INTERMEDIATE_DAYS" -set_serial "0x$(openssl rand -hex 16)" \
    -extfile "$dir/profiles.cnf" -extensions intermediate_ca -out "$dir/intermediate.crt" 2>/dev/null ||
    die "openssl could not sign the intermediate CA"
  rm -f "$dir/intermediate.csr"
  cat "$dir/intermediate.crt" "$dir/root.crt" >"$dir/chain.pem"
  openssl verify -CAfile "$dir/root.crt" "$dir/intermediate.crt" >/dev/null
  echo "factory CA ready in $dir: root.crt, intermediate.crt (the signer), chain.pem"
}

cmd_sign() {
  local dir=${1:-} csr=${2:-} out=${3:-}
  [ -n "$dir" ] && [ -n "$csr" ] && [ -n "$out" ] || usage 2
  [ -f "$dir/intermediate.key" ] || die "$dir is not a factory CA (no intermediate.key); run: $0 init $dir"
  [ -f "$csr" ] || die "CSR $csr not found"
  local form=PEM
  grep -q 'BEGIN CERTIFICATE REQUEST' "$csr" || form=DER
  openssl req -inform "$form" -in "$csr" -noout -verify 2>/dev/null ||
    die "CSR $csr does not verify (its self-signature is bad, or it is not a CSR)"
  local subject cn serial
  subject=$(openssl req -inform "$form" -in "$csr" -noout -subject -nameopt RFC2253)
  cn=$(sed -n 's/.*CN=\([^,]*\).*/\1/p' <<<"$subject")
  serial=$(sed -n 's/.*serialNumber=\([^,]*\).*/\1/p' <<<"$subject")
  [[ $cn =~ ^device-[0-9A-Fa-f]+$ ]] || die "CSR subject CN must be device-<serial in hex>, found: ${cn:-none} ($subject)"
  [ "$cn" = "device-$serial" ] || die "CSR serialNumber ($serial) does not match its CN ($cn)"
  [ -f "$dir/profiles.cnf" ] || write_profiles "$dir"
  openssl x509 -req -inform "$form" -in "$csr" -CA "$dir/intermediate.crt" -CAkey "$dir/intermediate.key" \
    -sha256 -days "$DEVICE_DAYS" -set_serial "0x$(openssl rand -hex 16)" -copy_extensions copy \
    -extfile "$dir/profiles.cnf" -extensions device -out "$out" 2>/dev/null ||
    die "openssl could not sign $csr with $dir/intermediate.key"
  openssl verify -CAfile "$dir/root.crt" -untrusted "$dir/intermediate.crt" "$out" >/dev/null
  echo "issued $out for $cn"
}

cmd_show() {
  local dir=${1:-}
  [ -n "$dir" ] || usage 2
  for cert in root intermediate; do
    openssl x509 -in "$dir/$cert.crt" -noout -subject -enddate
  done
}

case "${1:-}" in
  init) shift; cmd_init "$@" ;;
  sign) shift; cmd_sign "$@" ;;
  show) shift; cmd_show "$@" ;;
  -h|--help|help) usage 0 ;;
  *) usage 2 ;;
esac
