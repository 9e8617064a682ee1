#!/bin/sh
# Re-vendor Redoc's standalone bundle for the /api/docs page (web/static/vendor/redoc/).
# The files are committed, so CI and deployments never need npm; run this (with npm) only to
# move to another pinned version: ./packaging/vendor-redoc.sh [version]
set -eu
VERSION="${1:-2.5.4}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/web/static/vendor/redoc"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "redoc@$VERSION" >/dev/null)
tar -xzf "$WORK/redoc-$VERSION.tgz" -C "$WORK" package/bundles/redoc.standalone.js \
  package/bundles/redoc.standalone.js.LICENSE.txt package/LICENSE
mkdir -p "$DEST"
cp "$WORK/package/bundles/redoc.standalone.js" "$DEST/redoc.standalone.js"
cp "$WORK/package/bundles/redoc.standalone.js.LICENSE.txt" "$DEST/redoc.standalone.js.LICENSE.txt"
cp "$WORK/package/LICENSE" "$DEST/LICENSE"
printf 'redoc %s (npm: redoc@%s, bundles/redoc.standalone.js), MIT licence (LICENSE; bundled libraries: redoc.standalone.js.LICENSE.txt).\nRe-vendor with packaging/vendor-redoc.sh VERSION.\n' \
  "$VERSION" "$VERSION" > "$DEST/VERSION"
sha256sum "$DEST/redoc.standalone.js" | sed "s|$DEST/||" >> "$DEST/VERSION"
echo "vendored redoc $VERSION into $DEST"
