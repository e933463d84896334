#!/usr/bin/env bash
# cmake --install and the Debian package, checked without installing:
#   test_package.sh BUILD_DIR SOURCE_DIR
# - DESTDIR=... cmake --install puts every file in its FHS place;
# - cpack -G DEB builds wismo_<version>_<arch>.deb; dpkg-deb shows its
#   files, its dependencies (the shared libraries' packages, redis-server,
#   adduser), its conffile and maintainer scripts (service user, data
#   directory, the unit enabled and started);
# - the unit is hardened: systemd-analyze security --offline rates it 2.0
#   or lower; the man pages render without warnings; the shipped
#   configuration passes wismod -t.
set -euo pipefail

BUILD=$(cd "${1:?usage: $0 BUILD_DIR SOURCE_DIR}" && pwd)
SRC=$(cd "${2:?}" && pwd)
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

files=(usr/sbin/wismod usr/bin/wismoctl etc/wismo/wismo.ini
    lib/systemd/system/wismod.service
    usr/share/man/man8/wismod.8 usr/share/man/man1/wismoctl.1
    usr/share/man/man5/wismo.ini.5 usr/share/doc/wismo/wismo.example.ini)
for l in nl en de fr; do
    files+=("usr/share/wismo/templates/$l.sms" "usr/share/wismo/templates/$l.email")
done

echo "--- cmake --install"
DESTDIR=$work/root cmake --install "$BUILD" >"$work/install.out" 2>&1 ||
    fail "cmake --install: $(tail -5 "$work/install.out")"
for f in "${files[@]}"; do
    [ -f "$work/root/$f" ] || fail "cmake --install: no /$f"
done
[ -d "$work/root/var/lib/wismo" ] || fail "cmake --install: no /var/lib/wismo"
[ "$failures" -eq 0 ] && ok "cmake --install: ${#files[@]} files and /var/lib/wismo in their places"
[ -x "$work/root/usr/sbin/wismod" ] && "$work/root/usr/sbin/wismod" --version | grep -q '^wismod ' &&
    ok "the installed wismod runs: $("$work/root/usr/sbin/wismod" --version)" ||
    fail "installed wismod does not run"

echo "--- cpack -G DEB"
(cd "$BUILD" && cpack -G DEB -B "$work/pkg") >"$work/cpack.out" 2>&1 ||
    fail "cpack: $(tail -20 "$work/cpack.out")"
deb=$(ls "$work"/pkg/wismo_*.deb 2>/dev/null | head -n1)
if [ -z "$deb" ]; then
    fail "no .deb built: $(tail -20 "$work/cpack.out")"
    summary package
fi
ok "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"

dpkg-deb -I "$deb" >"$work/info"
dpkg-deb -c "$deb" >"$work/contents"
dpkg-deb -e "$deb" "$work/control"
[ "$(dpkg-deb -f "$deb" Package)" = wismo ] && ok "Package: wismo" || fail "package name"
depends=$(dpkg-deb -f "$deb" Depends)
for dep in libuv1 libcurl4 libjansson4 libhiredis0.14 libxml2 libpcre2-8-0 \
    libinih1 libhttp-parser2.9 libssl3 redis-server adduser; do
    grep -Eq "(^|, )$dep( |,|$)" <<<"$depends" || fail "Depends lacks $dep: $depends"
done
ok "Depends: $depends"
missing=0
for f in "${files[@]}"; do
    grep -q " \./$f\$" "$work/contents" || { fail "the .deb lacks /$f"; missing=1; }
done
grep -q ' \./var/lib/wismo/$' "$work/contents" || { fail "the .deb lacks /var/lib/wismo"; missing=1; }
[ "$missing" -eq 0 ] && ok "the .deb holds every file (${#files[@]} and /var/lib/wismo)"
grep -qx '/etc/wismo/wismo.ini' "$work/control/conffiles" &&
    ok "conffiles: /etc/wismo/wismo.ini" || fail "conffiles: $(cat "$work/control/conffiles" 2>&1)"
for s in postinst prerm postrm; do
    [ -x "$work/control/$s" ] && sh -n "$work/control/$s" || fail "$s missing or not a shell script"
done
grep -q 'adduser --system' "$work/control/postinst" &&
    grep -q 'install -d -m 0700 -o wismo -g wismo /var/lib/wismo' "$work/control/postinst" &&
    grep -q "deb-systemd-helper enable 'wismod.service'" "$work/control/postinst" &&
    grep -q 'deb-systemd-invoke "$action"' "$work/control/postinst" &&
    ok "postinst: creates the user and /var/lib/wismo, enables and starts wismod.service" ||
    fail "postinst: $(cat "$work/control/postinst")"
grep -q "deb-systemd-invoke stop 'wismod.service'" "$work/control/prerm" &&
    ok "prerm stops the service" || fail "prerm"
grep -q 'rm -rf /var/lib/wismo' "$work/control/postrm" &&
    ok "postrm: purge removes the data" || fail "postrm"

echo "--- the unit, the man pages, the shipped configuration"
dpkg-deb -x "$deb" "$work/x"
unit=$work/x/lib/systemd/system/wismod.service
for k in Type=notify ExecReload= ProtectSystem=strict ReadWritePaths=/var/lib/wismo \
    NoNewPrivileges=yes PrivateTmp=yes RestrictAddressFamilies= \
    SystemCallFilter=@system-service User=wismo; do
    grep -q "^$k" "$unit" || fail "the unit lacks $k"
done
grep -q '^ExecStart=/usr/sbin/wismod -c /etc/wismo/wismo.ini$' "$unit" &&
    ok "the unit runs /usr/sbin/wismod -c /etc/wismo/wismo.ini, hardened" || fail "ExecStart"
exposure=$(systemd-analyze security --offline=yes "$unit" 2>/dev/null |
    sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
if [ -n "$exposure" ] && awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
    ok "systemd-analyze security: exposure $exposure (<= 2.0)"
else
    fail "systemd-analyze security: exposure '${exposure}'"
fi
for m in man8/wismod.8 man1/wismoctl.1 man5/wismo.ini.5; do
    out=$(groff -mdoc -Tutf8 -ww -z "$work/x/usr/share/man/$m" 2>&1)
    [ -z "$out" ] || fail "$m: $out"
done
ok "man pages render without warnings"
rc=0
"$work/x/usr/sbin/wismod" -t -c "$work/x/etc/wismo/wismo.ini" >"$work/t.out" 2>&1 || rc=$?
[ "$rc" -eq 0 ] && ok "the shipped /etc/wismo/wismo.ini passes wismod -t" ||
    fail "wismod -t on the shipped configuration: exit $rc: $(cat "$work/t.out")"

summary package
