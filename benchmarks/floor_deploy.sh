#!/bin/sh
# The deploy floor: the on-host steps of a flaskfleet release with nothing around them,
# ONE ssh session per host, all hosts in parallel.
#
#   benchmarks/floor_deploy.sh ARTIFACT PORTS_FILE
#     ARTIFACT    an artifact built by flaskfleet.artifact (manifest.json + wheels/)
#     PORTS_FILE  one SSH port on ADDRESS per line
#   env: SSH_KEY, KNOWN_HOSTS (required), SSH_USER (admin), ADDRESS (127.0.0.1)
#
# Per host, in that one session (artifact on stdin): upload, unpack, build the venv offline
# (--without-pip + the system's bundled pip wheel, --no-index, then compileall, as the release
# module does), write gunicorn's settings and the release marker, start the release's unit,
# health-check it through its own socket, point nginx's upstream at it and reload, swap
# `current` by rename, let the old release drain (2 s, as the role's default) and stop it, prune
# to 5 releases. The host must have been set up once by site.yml (app user, unit template,
# nginx site, env file), like for every other deploy method. No lock, no rollback, no checks
# beyond the health check: that is what makes it the floor.
set -eu

[ $# -eq 2 ] || { echo "usage: $0 ARTIFACT PORTS_FILE" >&2; exit 2; }
ARTIFACT=$1
PORTS=$2
: "${SSH_KEY:?set SSH_KEY}" "${KNOWN_HOSTS:?set KNOWN_HOSTS}"
SSH_USER=${SSH_USER:-admin}
ADDRESS=${ADDRESS:-127.0.0.1}

# app, release id, WSGI entry point and requirement come from the artifact's manifest.
read_manifest() {
    tar -xzOf "$ARTIFACT" manifest.json | python3 -c '
import json, sys
m = json.load(sys.stdin)
print(m["app"], m["release_id"], m["wsgi"], m["requirement"])'
}
set -- $(read_manifest)
APP=$1 ID=$2 WSGI=$3 REQ=$4

REMOTE=$(cat <<'EOS'
set -eu
app=$1 id=$2 wsgi=$3 req=$4
root=/srv/$app
rel=$root/releases/$id
part=$root/releases/.$id.partial
art=$root/artifacts/$id.tar.gz
umask 022
# 1. upload: the artifact is this session's stdin
install -d -m 0750 -g "$app" "$root/artifacts"
cat > "$art.tmp" && mv "$art.tmp" "$art"
# 2. unpack
rm -rf "$part" && mkdir "$part" && tar -xzf "$art" -C "$part"
# 3. offline venv: no pip inside, the bundled pip wheel runs from outside, no index
pipwhl=$(ls /usr/lib/python3*/ensurepip/_bundled/pip-*.whl /usr/share/python-wheels/pip-*.whl 2>/dev/null | head -n1)
python3 -m venv --without-pip "$part/venv"
"$part/venv/bin/python" "$pipwhl/pip" install -q --disable-pip-version-check --no-index \
    --find-links "$part/wheels" --no-compile --no-cache-dir "$req"
grep -rlI -- "$part" "$part/venv/bin" "$part/venv/pyvenv.cfg" | xargs -r sed -i "s#$part#$rel#g"
"$part/venv/bin/python" -m compileall -q -f -j 0 -s "$part" -p "$rel" "$part/venv/lib"
install -d -m 0750 -o "$app" -g "$app" "$root/shared/data"
ln -s ../../shared/data "$part/data"
cat > "$part/gunicorn.conf.py" <<CONF
wsgi_app = "$wsgi"
bind = ["unix:/run/$app/$id/gunicorn.sock"]
umask = 0o007
workers = 2
threads = 1
worker_class = "sync"
timeout = 30
graceful_timeout = 20
preload_app = True
accesslog = "-"
errorlog = "-"
capture_output = True
proc_name = "flaskfleet-$app@$id"
CONF
printf '{"app": "%s", "release_id": "%s", "wsgi": "%s", "requirement": "%s", "venv": "%s/venv"}\n' \
    "$app" "$id" "$wsgi" "$req" "$rel" > "$part/.flaskfleet-release.json"
chgrp -R "$app" "$part"
mv "$part" "$rel"
# 4. start the release beside the live one
systemctl start "flaskfleet-$app@$id.service"
# 5. health check through the release's own socket
sock=/run/$app/$id/gunicorn.sock
i=0
until curl -fsS -o /dev/null --max-time 5 --unix-socket "$sock" http://localhost/healthz 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "$id unhealthy" >&2; exit 1; }; sleep 0.1
done
# 6. switch nginx: rewrite the upstream file, test, reload gracefully
old=$(basename "$(readlink "$root/current" 2>/dev/null || echo none)")
up=/etc/nginx/flaskfleet/$app-upstream.conf
printf 'upstream flaskfleet_%s {\n    server unix:%s;\n}\n' "$app" "$sock" > "$up.tmp" && mv "$up.tmp" "$up"
nginx -t -q && systemctl reload nginx
# 7. swap current atomically, drain and stop the old release, prune
ln -sfn "releases/$id" "$root/.current.tmp" && mv -T "$root/.current.tmp" "$root/current"
systemctl enable -q "flaskfleet-$app@$id.service"
if [ "$old" != none ] && [ "$old" != "$id" ]; then
    sleep 2
    systemctl disable -q --now "flaskfleet-$app@$old.service"
fi
ls "$root/releases" | grep -E '^[0-9]{8}T[0-9]{6}Z' | sort | head -n -5 | while read -r r; do
    rm -rf "${root:?}/releases/$r" "$root/artifacts/$r.tar.gz"
done
EOS
)
CODE=$(printf '%s\n' "$REMOTE" | base64 -w0)

# One session per host: the artifact goes in on stdin, the script as sudo's argument.
export ARTIFACT SSH_KEY KNOWN_HOSTS SSH_USER ADDRESS APP ID WSGI REQ CODE
xargs -P "$(wc -l < "$PORTS")" -I{} sh -c '
    ssh -i "$SSH_KEY" -o IdentitiesOnly=yes -o BatchMode=yes -o LogLevel=ERROR \
        -o UserKnownHostsFile="$KNOWN_HOSTS" -o StrictHostKeyChecking=yes -p "$1" "$SSH_USER@$ADDRESS" \
        "sudo -n sh -c \"\$(echo $CODE | base64 -d)\" floor $APP $ID \"$WSGI\" $REQ" < "$ARTIFACT" \
    || { echo "port $1: deploy failed" >&2; exit 255; }' sh {} < "$PORTS"
