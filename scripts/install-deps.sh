#!/bin/sh
# Installs the Debian packages ragd needs to build, test and benchmark.
# Idempotent: when every package is already installed, apt is not called.
set -e
PKGS="build-essential pkg-config clang libclang-rt-14-dev
 libmicrohttpd-dev libjansson-dev libsqlite3-dev sqlite3 libcurl4-openssl-dev
 libutf8proc-dev libpcre2-dev libfriso-dev friso-dict libopencc-dev opencc
 libstemmer-dev libpoppler-glib-dev libxml2-dev libcmark-gfm-dev
 libcmark-gfm-extensions-dev libopenblas-dev libssl-dev
 libhnswlib-dev wrk curl python3 python3-numpy"
# Node.js (for the openai npm client in end-to-end tests) may come from
# elsewhere; only ask apt for it when no node is on the PATH.
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi
echo "install-deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing
