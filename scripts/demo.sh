#!/usr/bin/env bash
# `make demo`: two local hosts, the example app built on this machine and deployed with
# `invoke deploy --site` (flaskfleet.cloud.site: provision -> base -> nginx -> deploy), then its URLs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
APP="${FLASKFLEET_DEMO_APP:-hello}"
log() { printf 'flaskfleet-demo: %s\n' "$*" >&2; }

# The app's secrets: generated once, kept 0600 in the state dir as a dotenv file that
# `invoke deploy --env-file` reads (never on a command line, never printed).
secrets=".flaskfleet/demo-secrets.env"
if [ ! -f "$secrets" ]; then
    mkdir -p .flaskfleet
    (
        umask 077
        printf 'SECRET_KEY=%s\nHELLO_GREETING_SECRET=%s\n' \
            "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
            > "$secrets"
    )
fi

log "provisioning 2 local hosts and deploying examples/$APP (invoke deploy --site)"
invoke deploy --site -a "examples/$APP" -n "$APP" -H "app_$APP" --env-file "$secrets"

log "status through the same inventory:"
invoke status -H "app_$APP" -n "$APP"

urls="$(invoke hosts -H "app_$APP" --json | python -c 'import json, sys; print(*(h["url"] for h in json.load(sys.stdin)))')"
[ -n "$urls" ] || { log "no host found for app_$APP"; exit 1; }
for url in $urls; do
    body="$(curl -fsS --max-time 5 "$url")" || { log "$url did not answer"; exit 1; }
    release="$(printf '%s' "$body" | grep -o '[0-9]\{8\}T[0-9]\{6\}Z[^<" ]*' | head -n1)"
    log "$url answers 200, release ${release:-?}"
done
echo
echo "The example app is live:"
printf '  %s\n' $urls
echo "Try: invoke status -H app_$APP -n $APP | invoke run 'uptime' -H app_$APP | invoke rollback -n $APP -H app_$APP"
