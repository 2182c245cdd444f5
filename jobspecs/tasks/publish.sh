# Publish phase, a poststop task: Nomad runs it after success, failure and stop alike
# (observed on Nomad 2.0.5), so it pushes only when the build and every test left their marks,
# and the servers still want the allocation to run.
# A build stopped before it chose the store driver (prepare_store) put nothing in the store, and
# a guessed driver would open another store than the builds use: the next build's publish prunes.
store_open=
if [ -f "$r_storage_driver" ] && open_store; then
  hold_store
  store_open=1
fi
# The build's own name stays (runInImage starts from it) until the prune ages it out.
cleanup() {
  [ -n "$store_open" ] || { say "cache: the build stopped before it opened the store; nothing of it to remove"; return 0; }
  prune
}

# Keeps the layer cache within NBS_CACHE_MAX_MB and NBS_CACHE_MAX_AGE_HOURS. Only the last phase
# using the node's store prunes it (an exclusive lock, never waited for): with no build in
# flight, every container left in the store is a leftover of a killed or timed-out build.
prune() {
  flock -u 9
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
  for f in $(find "$keys" -type f -mmin +"$((NBS_CACHE_MAX_AGE_HOURS * 60))" 2>/dev/null); do forget_entry "$(basename "$f")"; done
  # With no build in flight, a container in the store is a leftover of a killed or timed-out
  # build. The store's own list says whether there is one, without starting Buildah. Each is
  # removed by ID: `rm --all` takes only Buildah's working containers, and one that a kill caught
  # inside `buildah from` has no builder state yet (seen on the dev store: it stayed for ever).
  containers=0
  # (Both drivers' lists: fuse-overlayfs keeps overlay's. No glob: the scripts run with set -f.)
  if cat "$NBS_STORAGE_ROOT/overlay-containers/containers.json" "$NBS_STORAGE_ROOT/vfs-containers/containers.json" 2>/dev/null | grep -q '"id"'; then
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
skip() {
  say "not publishing: $1"
  printf '%s\n' "$1" >"$r_skipped"
  cleanup
  exit 0
}
[ -f "$r_build_ok" ] || skip "the build did not succeed"
for t in $NBS_TESTS; do
  rc=$(cat "$state/$t$r_exit_suffix" 2>/dev/null)
  [ -n "$rc" ] || skip "$t did not finish"
  [ "$rc" = 0 ] || skip "$t exited with $rc"
done
# The fence: a node cut off from the servers cannot tell whether the server has already failed
# the build (NBS_NODE_LOST_GRACE) and stopped its job, nor can a stopped job's poststop task know
# that it was stopped: either pushes nothing, so the registry never holds a tag of a build that
# does not read SUCCEEDED.
alloc=$(task_api "/v1/allocation/$NOMAD_ALLOC_ID") ||
  skip "the Nomad servers could not confirm that this build should still run ($(printf %s "$alloc" | tail -n 1)); a node cut off from them never pushes"
case $alloc in
  *'"DesiredStatus":"run"'*) ;;
  *) skip "the job was stopped before the push: Nomad no longer wants this allocation to run" ;;
esac
set --
if [ -f "$secrets/registry_password" ]; then
  registry_login || { cleanup; exit 1; }
  set -- --authfile "$auth"
fi
# A stop while pushing lets the current push finish (the status then lists exactly what was
# pushed) and pushes no further tag.
stopping=
trap 'stopping=1' TERM INT
# Buildah retries network errors itself, but not a registry that lost a blob another build was
# pushing to the same repository at that moment (docker-registry then refuses the manifest:
# "blob unknown to registry"). A failed push goes once more: the blob is there by then.
push() { bah push "$@" --tls-verify="$NBS_TLS_VERIFY" --digestfile "$r_digest" "$NBS_LOCAL_IMAGE" "docker://$ref"; }
for dest in $NBS_B64_DESTS; do
  [ -z "$stopping" ] || { say "stopped: not pushing the remaining tags"; break; }
  ref=$(d "$dest")
  say "pushing $ref"
  pushed=
  push "$@" && pushed=1
  if [ -z "$pushed" ] && [ -z "$stopping" ]; then
    say "push to $ref failed; trying once more"
    push "$@" && pushed=1
  fi
  if [ -z "$pushed" ]; then
    say "push to $ref failed"
    rm -f "$auth"
    cleanup
    exit 1
  fi
  printf '%s\n' "$ref" >>"$r_published"
done
rm -f "$auth"
say "published $(cat "$r_digest")"
cleanup
exit 0
