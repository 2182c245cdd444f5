# Publish phase, a poststop task: Nomad runs it after success, failure and stop alike
# (observed on Nomad 2.0.5), so it pushes only when the build and every test left their marks.
cleanup() { bah rmi "$NBS_LOCAL_IMAGE" >/dev/null 2>&1; }
skip() {
  say "not publishing: $1"
  printf '%s\n' "$1" >"$state/publish.skipped"
  cleanup
  exit 0
}
[ -f "$state/build.ok" ] || skip "the build did not succeed"
for t in $NBS_TESTS; do
  rc=$(cat "$state/$t.exit" 2>/dev/null)
  [ -n "$rc" ] || skip "$t did not finish"
  [ "$rc" = 0 ] || skip "$t exited with $rc"
done
for dest in $NBS_B64_DESTS; do
  ref=$(d "$dest")
  say "pushing $ref"
  if ! bah push --tls-verify="$NBS_TLS_VERIFY" --digestfile "$state/digest" "$NBS_LOCAL_IMAGE" "docker://$ref"; then
    say "push to $ref failed"
    cleanup
    exit 1
  fi
  printf '%s\n' "$ref" >>"$state/published"
done
say "published $(cat "$state/digest")"
cleanup
exit 0
