# The layer cache prune, a part of the publish phase (src/jobs/scripts.ts puts it before
# publish.sh, which calls it once it is done). It keeps the layer cache within NBS_CACHE_MAX_MB
# and NBS_CACHE_MAX_AGE_HOURS. Only the last phase using the node's store prunes it (an exclusive
# lock, never waited for): with no build in flight, every container left in the store is a
# leftover of a killed or timed-out build.
prune() {
  # flock converts the shared lock: it drops it first, then takes the exclusive one if it can.
  flock -n -x 9 || {
    say "cache: other builds are using the store; the last of them prunes it"
    return 0
  }
  keys="$store_dir/nbs-cache-keys"
  entries=0
  forget_entry() {
    bah rmi "localhost/nbs-cache/$1:latest" >/dev/null 2>&1
    rm -f "$keys/$1"
    entries=$((entries + 1))
  }
  # Reuse records (build.sh) age like the entries: one unused as long names an image that is
  # likely gone, and a record is only a file.
  inputs="$store_dir/nbs-inputs"
  for f in $(find "$keys" "$inputs" -type f -mmin +"$((NBS_CACHE_MAX_AGE_HOURS * 60))" 2>/dev/null); do
    case $f in
      "$inputs"/*) rm -f "$f" ;;
      *) forget_entry "$(basename "$f")" ;;
    esac
  done
  # With no build in flight, a container in the store is a leftover of a killed or timed-out
  # build. The store's own list says whether there is one, without starting Buildah. Each is
  # removed by ID: `rm --all` takes only Buildah's working containers, and one that a kill caught
  # inside `buildah from` has no builder state yet (seen on the dev store: it stayed for ever).
  containers=0
  # (Both drivers' lists: fuse-overlayfs keeps overlay's. No glob: the scripts run with set -f.)
  if grep -qs '"id"' "$NBS_STORAGE_ROOT/overlay-containers/containers.json" "$NBS_STORAGE_ROOT/vfs-containers/containers.json"; then
    ids=$(bah containers --all --quiet 2>/dev/null)
    [ -z "$ids" ] || containers=$(bah rm $ids 2>/dev/null | wc -l)
  fi
  pulled="$store_dir/nbs-cache-registries"
  grew="$store_dir/nbs-store-grew"
  # Unnamed images, pulled names and size come only from a build that committed or pulled layers
  # (build.sh marks it), an entry forgotten or a leftover removed: otherwise the store is as the
  # last prune left it, and walking it (du) would only cost time.
  if [ "$entries" = 0 ] && [ "$containers" = 0 ] && [ ! -f "$grew" ]; then
    say "cache: nothing to prune (no new layers, no leftover container, no entry older than $NBS_CACHE_MAX_AGE_HOURS h)"
    return 0
  fi
  rm -f "$grew"
  images=0
  # Layers pulled from a cache.registry come as images named after it (build.sh lists those
  # repositories). Unnamed, they are the layers of the entries built on them, bounded with those.
  if [ -f "$pulled" ]; then
    for ref in $(bah images --format '{{.Name}}:{{.Tag}}' | awk 'NR == FNR { r[$0] = 1; next } { n = $0; sub(/:[^:]*$/, "", n); if (n in r) print }' "$pulled" -); do
      bah rmi "$ref" >/dev/null 2>&1 && images=$((images + 1))
    done
    sort -u -o "$pulled" "$pulled"
  fi
  drop_dangling() {
    while n=$(bah rmi --prune 2>/dev/null | wc -l) && [ "$n" -gt 0 ]; do images=$((images + n)); done
  }
  drop_dangling
  while [ "$(du -sm "$NBS_STORAGE_ROOT" | cut -f1)" -gt "$NBS_CACHE_MAX_MB" ]; do
    oldest=$(ls -tr "$keys" 2>/dev/null | head -n 1)
    [ -n "$oldest" ] || break
    forget_entry "$oldest"
    drop_dangling
  done
  say "cache: pruned $containers leftover container(s), $entries cache entr(ies), $images image(s); store $(du -sm "$NBS_STORAGE_ROOT" | cut -f1) MB (limit $NBS_CACHE_MAX_MB MB)"
}
