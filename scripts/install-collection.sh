#!/usr/bin/env bash
# Build the collection tarball and install it into a collections path.
#   scripts/install-collection.sh [COLLECTIONS_PATH]   (default: .collections)
# Prints the path of the built tarball.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="${1:-$PWD/.collections}"
BIN="${VIRTUAL_ENV:-$PWD/.venv}/bin"
mkdir -p build "$DEST"
rm -f build/flaskfleet-cloud-*.tar.gz
"$BIN/ansible-galaxy" collection build --force --output-path build . >/dev/null
TARBALL="$(ls build/flaskfleet-cloud-*.tar.gz)"
ANSIBLE_COLLECTIONS_PATH="$DEST" "$BIN/ansible-galaxy" collection install --force --offline -p "$DEST" "$TARBALL" >/dev/null
echo "$PWD/$TARBALL"
