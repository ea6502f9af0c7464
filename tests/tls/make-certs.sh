#!/bin/sh
# make-certs.sh DIR: the certificates the TLS tests use, made afresh in DIR
# with certtool (gnutls-bin): a CA; two server certificates for 127.0.0.1
# and localhost (server, and server2 to rotate to); client certificates
# signed by the CA (sync.internal, dashboard.internal, an expired one) and
# one signed by another CA (wrong). ECDSA P-256 keys: quick to make.
set -eu
dir="$1"
mkdir -p "$dir"
cd "$dir"

key() { certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile "$1.key" 2>/dev/null; }

# ca NAME: a self-signed CA.
ca() {
  key "$1"
  cat >"$1.tmpl" <<T
cn = "inboxd test $1"
ca
cert_signing_key
expiration_days = 30
T
  certtool --generate-self-signed --load-privkey "$1.key" --template "$1.tmpl" \
    --outfile "$1.pem" 2>/dev/null
}

# leaf NAME CA KIND [dates]: a certificate signed by CA; KIND server or client.
leaf() {
  name="$1" ca="$2" kind="$3"
  key "$name"
  {
    echo "cn = \"$name\""
    echo "serial = $(od -An -N4 -tu4 /dev/urandom | tr -d ' ')"
    if [ "$kind" = server ]; then
      echo 'dns_name = "localhost"'
      echo 'ip_address = "127.0.0.1"'
      echo 'tls_www_server'
    else
      echo "dns_name = \"$name\""
      echo 'tls_www_client'
    fi
    echo 'signing_key'
    if [ "${4:-}" = expired ]; then
      echo 'activation_date = "2020-01-01 00:00:00 UTC"'
      echo 'expiration_date = "2020-12-31 00:00:00 UTC"'
    else
      echo 'expiration_days = 30'
    fi
  } >"$name.tmpl"
  certtool --generate-certificate --load-privkey "$name.key" --load-ca-certificate "$ca.pem" \
    --load-ca-privkey "$ca.key" --template "$name.tmpl" --outfile "$name.pem" 2>/dev/null
}

ca ca
ca otherca
leaf server ca server
leaf server2 ca server
leaf sync.internal ca client
leaf dashboard.internal ca client
leaf expired.internal ca client expired
leaf wrong.internal otherca client
