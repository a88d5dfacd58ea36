#!/usr/bin/env bash
# Everything a fresh clone needs, idempotent: Debian packages, the Docker engine,
# the virtualenv at .venv/, the base image, the project's SSH key, and the
# collection installed into .collections/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
log() { printf 'flaskfleet: %s\n' "$*" >&2; }
start=$SECONDS

# 1. Debian packages (only what is missing).
PKGS=(debootstrap docker.io openssh-client rsync curl python3-venv git)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        log "missing Debian packages: ${missing[*]} (run: sudo apt-get install -y ${missing[*]})"
        exit 1
    fi
fi

# 2. Docker engine.
scripts/docker-engine.sh

# 3. Virtualenv with the pinned dev requirements (rebuilt when they change).
PY="${PYTHON:-python3}"
stamp=".venv/.flaskfleet-requirements"
want="$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "creating .venv (pip install -r requirements-dev.txt)"
    [ -x .venv/bin/python ] || "$PY" -m venv .venv
    # NOTE: the filter hides pip's notes about this machine's optional local indexes.
    { .venv/bin/python -m pip install -q --upgrade pip &&
      .venv/bin/python -m pip install -q -r requirements-dev.txt &&
      .venv/bin/python -m pip install -q --no-deps -e . ; } 2>&1 | { grep -v '^WARNING: Location' || true; }
    echo "$want" > "$stamp"
else
    log "reusing .venv"
fi

# 4. Base image (reused when its recipe has not changed).
scripts/build-image.sh >/dev/null

# 5. The project's SSH key for local hosts.
mkdir -p .flaskfleet
chmod 0700 .flaskfleet
if [ ! -f .flaskfleet/id_ed25519 ]; then
    ssh-keygen -q -t ed25519 -N '' -C "flaskfleet@$(hostname)" -f .flaskfleet/id_ed25519
    log "created SSH key .flaskfleet/id_ed25519"
fi
touch .flaskfleet/known_hosts

# 6. The collection, installed from a freshly built tarball.
scripts/install-collection.sh "$ROOT/.collections" >/dev/null

log "setup done in $((SECONDS - start)) s"
