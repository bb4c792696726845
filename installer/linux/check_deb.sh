#!/usr/bin/env bash
# Install the .deb as a user would, run the self-test from the installed path, remove it again and
# check that nothing of the program is left while the user's data stays. Needs root (CI runs as root).
#   installer/linux/check_deb.sh dist/ret-desktop_<version>_amd64.deb
set -euo pipefail
deb="$(realpath "$1")"
fail() { echo "check_deb: FAILED: $*" >&2; exit 1; }

lintian --fail-on error "$deb"

apt-get install -y --no-install-recommends "$deb"
[ "$(command -v ret-desktop)" = /usr/bin/ret-desktop ] || fail "ret-desktop is not on PATH as /usr/bin/ret-desktop"
# Every library of the installed program resolves (from the bundle or a package in Depends:).
if find /opt/ret-desktop -type f \( -name '*.so*' -o -name ret-desktop \) -exec env LD_LIBRARY_PATH=/opt/ret-desktop/_internal ldd {} + 2>/dev/null | grep 'not found'; then
    fail "the installed program misses libraries"
fi
(cd /tmp && ret-desktop selftest)

# Data of a user (a real account in the default data folder), which removing the package must keep;
# in a throw-away home, so that no real data is touched.
export HOME="$(mktemp -d)"
unset XDG_DATA_HOME XDG_CONFIG_HOME XDG_STATE_HOME RET_DATA_DIR
data="$HOME/.local/share/RET Desktop"
echo "check-deb password 1" | ret-desktop users add check-deb-user --password-stdin
[ -f "$data/ret_app.db" ] || fail "no data folder at $data"
files="$(dpkg-query -L ret-desktop | grep -v '^/\.$')"

apt-get purge -y ret-desktop
dpkg-query -W ret-desktop 2>/dev/null | grep -q . && fail "dpkg still lists ret-desktop"
left="$(while read -r path; do  # a file of ours, or an empty folder no other package owns
    if [ -f "$path" ] || [ -L "$path" ]; then echo "$path"
    elif [ -d "$path" ] && [ -z "$(ls -A "$path")" ] && ! dpkg-query -S "$path" >/dev/null 2>&1; then echo "$path"; fi
done <<<"$files")"
[ -z "$left" ] || fail "left behind after purge: $left"
[ ! -e /opt/ret-desktop ] || fail "/opt/ret-desktop is still there"
[ ! -e /usr/bin/ret-desktop ] || fail "/usr/bin/ret-desktop is still there"
[ -f "$data/ret_app.db" ] || fail "removing the package deleted the user's data in $data"
echo "check_deb: installed, self-tested, purged; nothing left, user data kept ($data)"
