#!/usr/bin/env bash
# Remove every local host flaskfleet created (containers labelled flaskfleet.managed=true)
# and the recorded host keys. Leaves the base image and the venv in place.
set -euo pipefail
cd "$(dirname "$0")/.."
ids="$(docker ps -aq --filter label=flaskfleet.managed=true 2>/dev/null || true)"
if [ -n "$ids" ]; then
    # shellcheck disable=SC2086
    docker rm -f $ids >/dev/null
    echo "flaskfleet: removed $(echo "$ids" | wc -l) local host(s)"
fi
: > .flaskfleet/known_hosts 2>/dev/null || true
