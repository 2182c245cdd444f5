#!/bin/sh
# The dev registry's library/debian:SUITE-slim, laid out by mmdebstrap from Debian packages:
#   sh debian.sh OUT.tar [SUITE]
# minbase (Essential packages and apt) without documentation, man pages and translations, as
# Debian's own -slim images are made (debuerreotype's slimify excludes); the excludes stay in
# the image's dpkg configuration, so packages installed later in a build are slim too. No
# container registry is needed: packages come from Debian's mirror (the host's apt sources for
# this suite, or NBS_BUILDER_MIRROR, as for images/builder/), the image is made by buildah.
set -eu
out=$1
suite=${2:-bookworm}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/nbs-debian.XXXXXX")
b() { buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs "$@"; }
trap 'b rm -a >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

mirror=${NBS_BUILDER_MIRROR:-}
if [ -z "$mirror" ]; then
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    if [ -s "$f" ] && grep -q "^[^#]*\b$suite\b" "$f"; then mirror=$f; break; fi
  done
fi

# Merged /usr as debootstrap makes it (the hook installs usr-is-merged): without it apt picks
# usrmerge for init-system-helpers, which brings all of perl (+50 MB, seen on bookworm).
# Device nodes are left out of the tar (--skip=output/dev): the container runtime makes /dev.
mmdebstrap --variant=minbase --format=tar \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/groff/*' \
  --dpkgopt='path-exclude=/usr/share/linda/*' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --skip=output/dev \
  "$suite" "$work/rootfs.tar" ${mirror:+"$mirror"}

ctr=$(b from scratch)
b add "$ctr" "$work/rootfs.tar" /
b config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash \
  --label org.opencontainers.image.title="debian:$suite-slim" \
  --label org.opencontainers.image.description="Debian $suite minbase without docs or translations (mmdebstrap), for the Nomad Build Service dev stack" \
  "$ctr"
b commit --format oci --disable-compression=false --rm "$ctr" "oci-archive:$out" >/dev/null
