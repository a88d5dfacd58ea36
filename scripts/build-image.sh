#!/usr/bin/env bash
# Build the local host base image offline: debootstrap (minbase) from the Debian
# mirror already configured in this machine's apt sources, then `docker import`.
# The tag carries a hash of this recipe; an existing image with that tag is reused.
#
#   scripts/build-image.sh            build (or reuse) and print the image name
#   FLASKFLEET_IMAGE_REPO=name ...    use another repository name
set -euo pipefail

REPO="${FLASKFLEET_IMAGE_REPO:-flaskfleet/base}"
SUITE="${FLASKFLEET_SUITE:-bookworm}"
PACKAGES="systemd,systemd-sysv,dbus,openssh-server,python3,python3-apt,python3-venv,sudo,ca-certificates,curl,nginx,openssl,procps,iproute2,rsync"
CACHE_DIR="${FLASKFLEET_CACHE_DIR:-/var/cache/flaskfleet}"

log() { printf 'flaskfleet: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

recipe_hash() {
    { cat "$0"; echo "$PACKAGES $SUITE"; } | sha256sum | cut -c1-12
}

TAG="$(recipe_hash)"
IMAGE="$REPO:$TAG"

command -v docker >/dev/null || die "docker client not found: run scripts/docker-engine.sh first"
docker info >/dev/null 2>&1 || die "Docker engine is not running: run scripts/docker-engine.sh first"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    docker tag "$IMAGE" "$REPO:latest"
    log "reusing image $IMAGE"
    echo "$IMAGE"
    exit 0
fi

command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install -y debootstrap (make setup does this)"
[ "$(id -u)" = 0 ] || die "building the base image needs root (debootstrap); run as root or via sudo"

# The mirror comes from this machine's own apt configuration, never a fixed host.
find_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v suite="$SUITE" '
            /^[[:space:]]*$/ { if (uri != "" && has_suite) { print uri; exit } uri=""; has_suite=0; next }
            /^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { uri=$i; break } }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) has_suite=1 }
            END { if (uri != "" && has_suite) print uri }
        ' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v suite="$SUITE" '$1 == "deb" && $0 !~ /security/ {
            for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { if ($(i+1) == suite) print $i; break } }' "$f"
    done
}
MIRROR="${FLASKFLEET_MIRROR:-$(find_mirror | head -n1)}"
[ -n "$MIRROR" ] || die "no Debian mirror for '$SUITE' found in /etc/apt/sources.list(.d); set FLASKFLEET_MIRROR"

mkdir -p "$CACHE_DIR"
WORK="$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"

log "debootstrap $SUITE from $MIRROR (about a minute)"
if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
    tail -n 20 "$WORK/debootstrap.log" >&2
    die "debootstrap failed (mirror $MIRROR); see the lines above"
fi

# Configure the image: an 'admin' login user with passwordless sudo (as Debian's
# cloud images have), key-only SSH, host keys generated on first boot so every
# container has its own, and no units that make no sense in a container.
chroot "$ROOTFS" /bin/sh -eu <<'CHROOT'
useradd --create-home --shell /bin/bash --groups sudo admin
passwd -l admin >/dev/null
passwd -l root >/dev/null
echo 'admin ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/90-admin
chmod 0440 /etc/sudoers.d/90-admin
install -d -m 0700 -o admin -g admin /home/admin/.ssh
rm -f /etc/ssh/ssh_host_*
cat > /etc/ssh/sshd_config.d/10-flaskfleet.conf <<'SSHD'
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UseDNS no
SSHD
install -d /etc/systemd/system/ssh.service.d
cat > /etc/systemd/system/ssh.service.d/10-hostkeys.conf <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT
systemctl enable ssh.service >/dev/null 2>&1 || true
for unit in getty.target console-getty.service systemd-udevd.service systemd-udev-trigger.service \
            systemd-modules-load.service sys-kernel-config.mount sys-kernel-debug.mount \
            systemd-remount-fs.service apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service; do
    systemctl mask "$unit" >/dev/null 2>&1 || true
done
: > /etc/machine-id
echo 'localhost' > /etc/hostname
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
CHROOT
printf 'deb %s %s main\n' "$MIRROR" "$SUITE" > "$ROOTFS/etc/apt/sources.list"

log "importing into docker as $IMAGE"
tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    --change 'CMD ["/lib/systemd/systemd"]' \
    --change 'ENV container=docker' \
    --message "flaskfleet base image (recipe $TAG)" - "$IMAGE" >/dev/null
docker tag "$IMAGE" "$REPO:latest"
log "built $IMAGE"
echo "$IMAGE"
