#!/bin/sh
# The dev registry's library/busybox, from the host's static busybox (Debian's busybox-static):
#   sh busybox.sh OUT.tar
# A root filesystem of /bin/busybox, a link per applet, /etc/passwd and /etc/group with root and
# nobody, and /tmp; made into an OCI archive by buildah from scratch, so no registry is needed.
set -eu
out=$1
work=$(mktemp -d "${TMPDIR:-/var/tmp}/nbs-busybox.XXXXXX")
b() { buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs "$@"; }
trap 'b rm -a >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

root=$work/rootfs
mkdir -p "$root/bin" "$root/etc" "$root/root" "$root/tmp"
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
# Relative links: `busybox --install -s` would point them at this temporary folder.
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$work/rootfs.tar" .

ctr=$(b from scratch)
b add "$ctr" "$work/rootfs.tar" /
b config --env PATH=/bin --cmd sh \
  --label org.opencontainers.image.title=busybox \
  --label org.opencontainers.image.description="The host's static busybox (Debian busybox-static), for the Nomad Build Service dev stack" \
  "$ctr"
b commit --format oci --disable-compression=false --rm "$ctr" "oci-archive:$out" >/dev/null
