#!/bin/sh
# mmdebstrap customize hook: runs on the host, as root, with the image's root filesystem in $1.
set -eu
root=$1
here=$(dirname "$0")

# Inside Docker without CAP_SYS_ADMIN a setuid-root newuidmap cannot write uid_map; file
# capabilities (what Fedora's buildah image ships) can, within Docker's default bounding set.
for pair in newuidmap:cap_setuid newgidmap:cap_setgid; do
  bin=$root/usr/bin/${pair%%:*}
  chmod u-s "$bin"
  setcap "${pair#*:}=ep" "$bin"
done

# The task user Nomad's docker driver runs as (task `user = "build"`), and the subordinate
# ids its rootless Buildah maps image files to.
echo 'build:x:1000:1000:nbs builder:/home/build:/bin/sh' >>"$root/etc/passwd"
echo 'build:x:1000:' >>"$root/etc/group"
echo 'build:!:19000::::::' >>"$root/etc/shadow"
echo 'build:100000:65536' >"$root/etc/subuid"
echo 'build:100000:65536' >"$root/etc/subgid"
install -d -o 1000 -g 1000 -m 0755 "$root/home/build"

install -m 0644 "$here/storage.conf" "$root/etc/containers/storage.conf"
install -m 0644 "$here/containers.conf" "$root/etc/containers/containers.conf"

# Nothing a build needs: package caches, logs, the documentation dpkg was told to skip.
rm -rf "$root"/var/cache/* "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/usr/share/doc/*/changelog*
