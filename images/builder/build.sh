#!/bin/sh
# Builds the project's builder image from Debian packages into an OCI archive:
#   sh build.sh OUT.tar [SUITE]
# Run as root (mmdebstrap's root mode: the hook sets file capabilities), in the folder that
# holds this definition. No container registry is needed: packages come from Debian's
# mirror (the host's apt sources, or NBS_BUILDER_MIRROR), the image is made by buildah from scratch.
# CNI plugins (a dependency of containers-common) are left out: chroot isolation, which the
# phase scripts use, shares the task's network and never calls them.
set -eu
out=$1
suite=${2:-bookworm}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/var/tmp}/nbs-builder.XXXXXX")
trap 'buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs rm -a >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# The host's Debian sources when they are for this suite, so a machine that reaches Debian
# through its own mirror builds the same way apt installs.
mirror=${NBS_BUILDER_MIRROR:-}
if [ -z "$mirror" ]; then
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    if [ -s "$f" ] && grep -q "^[^#]*\b$suite\b" "$f"; then mirror=$f; break; fi
  done
fi

packages=$(sed -e 's/#.*//' "$here/packages.txt" | tr -s ' \n' ',' | sed -e 's/^,//' -e 's/,$//')
mmdebstrap --mode=root --variant=essential --format=tar \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/lib/cni/*' \
  --include="$packages" \
  --customize-hook="$here/customize.sh" \
  --skip=output/dev \
  "$suite" "$work/rootfs.tar" ${mirror:+"$mirror"}

b() { buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs "$@"; }
ctr=$(b from scratch)
b add "$ctr" "$work/rootfs.tar" /
# No VOLUME: Nomad removes containers without their anonymous volumes, so each one would leak.
b config --user build --workingdir /home/build \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env BUILDAH_ISOLATION=chroot \
  --cmd /bin/sh \
  --label org.opencontainers.image.title=nbs-builder \
  --label org.opencontainers.image.description="Rootless Buildah, git and ssh for Nomad Build Service tasks" \
  "$ctr"
b commit --format oci --disable-compression=false --rm "$ctr" "oci-archive:$out"
