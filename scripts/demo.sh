#!/usr/bin/env bash
# `make demo`: two local hosts, the example app built on this machine and deployed with
# flaskfleet.cloud.site (provision -> base -> nginx -> deploy), then its URL.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
APP="${FLASKFLEET_DEMO_APP:-hello}"
log() { printf 'flaskfleet-demo: %s\n' "$*" >&2; }

# The app's secrets: generated once, kept 0600 in the state dir, passed as a vars file
# (never on the command line, never printed).
secrets=".flaskfleet/demo-secrets.yml"
if [ ! -f "$secrets" ]; then
    umask 077
    python - "$secrets" <<'PY'
import secrets
import sys

with open(sys.argv[1], "w") as fh:
    fh.write("flask_app_env:\n")
    fh.write(f"  SECRET_KEY: {secrets.token_hex(32)}\n")
    fh.write(f"  HELLO_GREETING_SECRET: {secrets.token_urlsafe(16)}\n")
PY
fi

log "building the artifact of examples/$APP"
mkdir -p build/artifacts
artifact="$(python -m flaskfleet.artifact build "examples/$APP" --out build/artifacts --json |
    python -c 'import json, sys; print(json.load(sys.stdin)["path"])')"
log "artifact: $artifact"

log "provisioning 2 local hosts and deploying (ansible-playbook flaskfleet.cloud.site)"
ansible-playbook flaskfleet.cloud.site \
    -e provision_app="$APP" -e flask_app_name="$APP" -e flaskfleet_hosts="app_$APP" \
    -e flask_app_artifact="$artifact" -e @"$secrets"

log "status through the invoke tasks (same inventory):"
invoke status -H "app_$APP" -n "$APP"

urls="$(ansible-inventory --list | python -c '
import json, sys
inv = json.load(sys.stdin)
hv = inv.get("_meta", {}).get("hostvars", {})
for host in sorted(inv.get(sys.argv[1], {}).get("hosts", [])):
    ports = hv[host].get("flaskfleet_published_ports") or {}
    ports = ports.get("__ansible_unsafe", ports) if isinstance(ports, dict) else {}
    port = ports.get("80") or ports.get(80)
    if port:
        print(f"http://127.0.0.1:{port}/")
' "app_$APP")"
[ -n "$urls" ] || { log "no published HTTP port found for app_$APP"; exit 1; }
for url in $urls; do
    body="$(curl -fsS --max-time 5 "$url")" || { log "$url did not answer"; exit 1; }
    release="$(printf '%s' "$body" | grep -o '[0-9]\{8\}T[0-9]\{6\}Z[^<" ]*' | head -n1)"
    log "$url answers 200, release ${release:-?}"
done
echo
echo "The example app is live:"
printf '  %s\n' $urls
echo "Try: invoke status -H app_$APP -n $APP | invoke run 'uptime' -H app_$APP | invoke rollback -n $APP -H app_$APP"
