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
set --
if [ -f "$secrets/registry_password" ]; then
  auth="$NOMAD_SECRETS_DIR/nbs-auth.json"
  registry=$(d "$NBS_B64_REGISTRY")
  say "logging in to $registry as $(cat "$secrets/registry_username")"
  bah login --authfile "$auth" --tls-verify="$NBS_TLS_VERIFY" -u "$(cat "$secrets/registry_username")" --password-stdin "$registry" <"$secrets/registry_password" || {
    say "login to $registry failed: check the registry credentials the secrets.registry reference names"
    forget registry_username registry_password
    cleanup
    exit 1
  }
  forget registry_username registry_password
  set -- --authfile "$auth"
fi
for dest in $NBS_B64_DESTS; do
  ref=$(d "$dest")
  say "pushing $ref"
  if ! bah push "$@" --tls-verify="$NBS_TLS_VERIFY" --digestfile "$state/digest" "$NBS_LOCAL_IMAGE" "docker://$ref"; then
    say "push to $ref failed"
    rm -f "$NOMAD_SECRETS_DIR/nbs-auth.json"
    cleanup
    exit 1
  fi
  printf '%s\n' "$ref" >>"$state/published"
done
rm -f "$NOMAD_SECRETS_DIR/nbs-auth.json"
say "published $(cat "$state/digest")"
cleanup
exit 0
