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
# The one thing the bundle loads from elsewhere: the sidebar's "API docs by Redocly" logo from its CDN.
# The page loads nothing from another origin (and its CSP would refuse it, with a console error), so
# that image becomes an empty local SVG. A version without this URL stops here: check it by hand.
LOGO='https://cdn.redoc.ly/redoc/logo-mini.svg'
BLANK="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/%3E"
grep -q "src:\"$LOGO\"" "$DEST/redoc.standalone.js" || { echo "the Redocly logo URL moved: check the bundle" >&2; exit 1; }
sed -i "s|src:\"$LOGO\"|src:\"$BLANK\"|" "$DEST/redoc.standalone.js"
cp "$WORK/package/bundles/redoc.standalone.js.LICENSE.txt" "$DEST/redoc.standalone.js.LICENSE.txt"
cp "$WORK/package/LICENSE" "$DEST/LICENSE"
printf 'redoc %s (npm: redoc@%s, bundles/redoc.standalone.js), MIT licence (LICENSE; bundled libraries: redoc.standalone.js.LICENSE.txt).\nChanged: the sidebar logo from cdn.redoc.ly is an empty data: SVG (nothing loads from another origin).\nRe-vendor with packaging/vendor-redoc.sh VERSION.\n' \
  "$VERSION" "$VERSION" > "$DEST/VERSION"
sha256sum "$DEST/redoc.standalone.js" | sed "s|$DEST/||" >> "$DEST/VERSION"
echo "vendored redoc $VERSION into $DEST"
