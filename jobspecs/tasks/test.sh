# Test phase, one task per command: run it in a fresh container from the built image (the build
# made it; publish removes it) and record its exit code where the publish task looks for it.
# Errors: each step checks its own; no container to run in exits 125 (as `buildah run` would), and
# otherwise the task exits with the command's code.
nbs_init
mark="$r_test_exit"
open_store || { say "$store_error"; exit 125; }
hold_store
ctr=$(test_container "$NOMAD_TASK_NAME")
has_container "$ctr" || bah from --pull-never --name "$ctr" "$NBS_LOCAL_IMAGE" >/dev/null || {
  say "could not create a container from $NBS_LOCAL_IMAGE"
  exit 125
}
# A test that ran to its end leaves the container to publish; one stopped on the way removes it.
ended=
cleanup() { [ -n "$ended" ] || bah rm "$ctr" >/dev/null 2>&1; }
at_exit cleanup
trap 'exit 143' TERM INT

set -- run --isolation "$NBS_ISOLATION"
for e in $NBS_B64_TEST_ENV; do d_into e "$e"; set -- "$@" --env "$e"; done
set -- "$@" "$ctr" --
case "$NBS_TEST_MODE" in
  shell)
    cmd=$(d "$NBS_B64_COMMAND")
    say "test $NOMAD_TASK_NAME: /bin/sh -c $cmd"
    set -- "$@" /bin/sh -c "$cmd"
    ;;
  exec)
    shown=
    for a in $NBS_B64_ARGV; do
      d_into arg "$a"
      set -- "$@" "$arg"
      shown="$shown $arg"
    done
    say "test $NOMAD_TASK_NAME:$shown"
    ;;
  entrypoint)
    # The image's ENTRYPOINT followed by its CMD, one element a line.
    argv=$(bah inspect --type image --format '{{range .OCIv1.Config.Entrypoint}}{{println .}}{{end}}{{range .OCIv1.Config.Cmd}}{{println .}}{{end}}' "$NBS_LOCAL_IMAGE")
    [ -n "$argv" ] || { say "the image has no ENTRYPOINT or CMD to run as a test"; echo 2 >"$mark"; exit 2; }
    nl='
'
    old_ifs=$IFS
    IFS=$nl
    for a in $argv; do set -- "$@" "$a"; done
    IFS=$old_ifs
    say "test $NOMAD_TASK_NAME: the image's entrypoint: $(printf '%s ' $argv)"
    ;;
esac
bah "$@"
rc=$?
ended=1
echo "$rc" >"$mark"
say "test $NOMAD_TASK_NAME exited with $rc"
exit "$rc"
