#!/bin/sh
# Installs the Debian packages named as arguments that are not installed yet:
# `apt-get update` once, then `apt-get install -y` of only the missing ones.
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
if [ "$(id -u)" != 0 ]; then
    echo "deps: missing packages ($missing) and not root: install them and retry" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || exit 1
# Package scripts may try to start services (prometheus on :9090); policy-rc.d
# stops that for this install only.
restore=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    restore=1
fi
apt-get install -y -qq --no-install-recommends $missing >/dev/null
rc=$?
[ $restore = 1 ] && rm -f /usr/sbin/policy-rc.d
exit $rc
