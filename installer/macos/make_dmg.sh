#!/usr/bin/env bash
# The .app that build.spec makes, in a compressed disk image with a link to /Applications:
#   pyinstaller --noconfirm build.spec && installer/macos/make_dmg.sh   ->  dist/RET-Desktop-<version>.dmg
# macOS only (hdiutil). The app is not signed or notarised here.
set -euo pipefail
cd "$(dirname "$0")/../.."
version="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' ret_desktop/__init__.py)"
app="dist/RET Desktop.app"
[ -d "$app" ] || { echo "make_dmg: $app not found: run pyinstaller build.spec first" >&2; exit 2; }
staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"
dmg="dist/RET-Desktop-$version.dmg"
rm -f "$dmg"
hdiutil create -volname "RET Desktop $version" -srcfolder "$staging" -fs HFS+ -format UDZO -ov "$dmg"
echo "$dmg"
