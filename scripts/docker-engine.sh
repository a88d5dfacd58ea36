#!/usr/bin/env bash
# Make sure a Docker engine answers. On Debian as root: install docker.io and
# start dockerd in the background when needed. Never uses --privileged.
set -euo pipefail

log() { printf 'flaskfleet: %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
    log "Docker engine is running"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    log "Docker engine is not reachable and we are not root."
    log "Install and start it yourself, e.g.: sudo apt-get install -y docker.io && sudo systemctl start docker"
    log "then add yourself to the 'docker' group (or run as root) and try again."
    exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        log "dockerd is missing and this is not a Debian-like system: install Docker Engine, then retry."
        exit 1
    fi
    log "installing docker.io from the Debian archive"
    export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
    apt-get update -qq
    apt-get install -y -qq docker.io >/dev/null
fi

# NOTE: many systemd containers at once need more inotify instances, or new
# containers exit 255 without a word.
if [ "$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo 0)" -lt 8192 ]; then
    sysctl -q -w fs.inotify.max_user_instances=8192 || log "could not raise fs.inotify.max_user_instances"
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
    log "starting dockerd in the background (log: /var/log/flaskfleet-dockerd.log)"
    # setsid: its own session, so stopping the command that started it (Ctrl-C, a killed CI job) never
    # takes the engine and every host container down with it.
    setsid nohup dockerd >/var/log/flaskfleet-dockerd.log 2>&1 < /dev/null &
fi

for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
        log "Docker engine is running"
        exit 0
    fi
    sleep 1
done
log "dockerd did not answer within 60 s; see /var/log/flaskfleet-dockerd.log"
exit 1
