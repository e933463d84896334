#!/bin/sh
# Installs a wismo .deb into a clean Debian 12 root made with debootstrap
# and runs wismod -t there (not part of the tests: it needs root, network
# access to a Debian mirror and a few minutes).
#
#   contrib/deb-smoke.sh build-release/wismo_0.1.0_amd64.deb [ROOT]
#
# ROOT (default /var/tmp/wismo-bookworm) is made once and reused.
set -eu

deb=$(readlink -f "${1:?usage: $0 PACKAGE.deb [ROOT]}")
root=${2:-/var/tmp/wismo-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

command -v debootstrap >/dev/null || {
    echo "deb-smoke: apt-get install debootstrap" >&2
    exit 1
}
if [ ! -x "$root/usr/bin/apt-get" ]; then
    debootstrap --variant=minbase bookworm "$root" "$mirror"
fi
mount -t proc proc "$root/proc"
trap 'umount "$root/proc"' EXIT
cp "$deb" "$root/tmp/"
chroot "$root" sh -ec "
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq /tmp/$(basename "$deb") >/dev/null
    dpkg -s wismo | sed -n 's/^\(Status\|Version\): /  /p'
    wismod --version
    getent passwd wismo
    stat -c '%U:%G %a %n' /var/lib/wismo /etc/wismo/wismo.ini
    runuser -u wismo -- wismod -t -c /etc/wismo/wismo.ini
    man -w wismod wismoctl wismo.ini 2>/dev/null || true
"
echo "deb-smoke: wismo installs on a clean Debian 12 and its configuration passes wismod -t"
