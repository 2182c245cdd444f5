# runInImage: one command in a fresh container from an image a build left in this node's store
# (build.sh names it run-<build id>). Its output, exit code and whether it was cut short stay in
# the alloc dir for the server. The job carries no secrets. Errors: each step says why it stops.
nbs_init
echo "$NBS_RUN_STORAGE_DRIVER" >"$r_storage_driver"
open_store || { say "$store_error"; exit 3; }
hold_store
ctr=$(bah from --pull-never --name "nbs-$NOMAD_ALLOC_ID-run" "$NBS_RUN_IMAGE" 2>&1) || {
  say "image $NBS_RUN_IMAGE is not in this node's store: $ctr"
  printf '%s\n' "$ctr" | tail -n 1 >"$r_run_missing"
  exit 3
}
cleanup() { bah rm "$ctr" >/dev/null 2>&1; }
at_exit cleanup
trap 'exit 143' TERM INT

set -- run --isolation "$NBS_ISOLATION"
for e in $NBS_B64_RUN_ENV; do d_into e "$e"; set -- "$@" --env "$e"; done
set -- "$@" "$ctr" --
if [ -n "$NBS_B64_COMMAND" ]; then
  cmd=$(d "$NBS_B64_COMMAND")
  set -- "$@" /bin/sh -c "$cmd"
else
  for a in $NBS_B64_ARGV; do d_into arg "$a"; set -- "$@" "$arg"; done
fi
say "running in $NBS_RUN_IMAGE, at most $NBS_RUN_SECONDS s"
# timeout cannot run a shell function: bah's command line, spelled out.
rc=0
timeout -k 5 "$NBS_RUN_SECONDS" buildah --root "$NBS_STORAGE_ROOT" --runroot "$NBS_RUNROOT" $store_opts "$@" \
  >"$r_run_stdout" 2>"$r_run_stderr" 9>&- || rc=$?
for f in "$r_run_stdout" "$r_run_stderr"; do
  if [ "$(wc -c <"$f")" -gt "$NBS_RUN_OUTPUT_BYTES" ]; then
    head -c "$NBS_RUN_OUTPUT_BYTES" "$f" >"$f.cut" && mv "$f.cut" "$f"
    touch "$r_run_truncated"
  fi
done
echo "$rc" >"$r_run_exit"
say "exited with $rc"
