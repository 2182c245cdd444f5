# Publish phase, a poststop task: Nomad runs it after success, failure and stop alike
# (observed on Nomad 2.0.5), so it pushes only when the build and every test left their marks,
# and the servers still want the allocation to run.
# A build stopped before it chose the store driver (prepare_store) put nothing in the store, and
# a guessed driver would open another store than the builds use: the next build's publish prunes.
# Errors: each step checks its own; declining to push exits 0 (publish.skipped says why), and only
# a failed push or login fails the task.
nbs_init
store_open=
removing=
if [ -f "$r_storage_driver" ] && open_store; then
  hold_store
  store_open=1
  # The tests' containers go while this phase decides and pushes.
  ctrs=
  for t in $NBS_TESTS; do ! has_container "$(test_container "$t")" || ctrs="$ctrs $(test_container "$t")"; done
  if [ -n "$ctrs" ]; then
    bah rm $ctrs >/dev/null 2>&1 &
    removing=$!
  fi
fi
# The build's own name stays (runInImage starts from it) until the prune (prune.sh) ages it out.
cleanup() {
  [ -n "$store_open" ] || { say "cache: the build stopped before it opened the store; nothing of it to remove"; return 0; }
  [ -z "$removing" ] || wait "$removing" || :
  prune
}
skip() {
  say "not publishing: $1"
  printf '%s\n' "$1" >"$r_skipped"
  cleanup
  exit 0
}
[ -f "$r_build_ok" ] || skip "the build did not succeed"
for t in $NBS_TESTS; do
  rc=
  { read -r rc <"$state/$t$r_exit_suffix"; } 2>/dev/null || :
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
digest=
{ read -r digest <"$r_digest"; } 2>/dev/null || :
say "published $digest"
cleanup
exit 0
