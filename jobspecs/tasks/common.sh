# nbs task prelude, prepended to each phase script. The job carries every user value
# base64-encoded in the environment: Nomad interpolates dollar-brace expressions in task args
# and env, and base64 has neither "$" nor braces, so no request field can reach Nomad's
# interpolation, a shell parser or a template. These scripts never use the brace form of variables.
set -u
d() { printf %s "$1" | base64 -d; }
bah() { buildah --root "$NBS_STORAGE_ROOT" --runroot "$NBS_RUNROOT" --storage-driver "$NBS_STORAGE_DRIVER" "$@"; }
say() { printf '==> nbs: %s\n' "$*"; }
state="$NOMAD_ALLOC_DIR/nbs"
mkdir -p "$state"
secrets="$NOMAD_SECRETS_DIR/nbs"

# Secrets rendered for this task are masked in everything it prints, even when a build step
# echoes one: a filter reads the values from the files before any output passes through it.
if [ -d "$secrets" ] && [ -n "$(ls -A "$secrets")" ]; then
  fifo="$NOMAD_SECRETS_DIR/.nbs-output"
  rm -f "$fifo"
  mkfifo "$fifo"
  awk '
    FILENAME != "-" { if (length($0) >= 4) s[++n] = $0; next }
    {
      line = $0
      for (i = 1; i <= n; i++) {
        out = ""
        while ((p = index(line, s[i])) > 0) { out = out substr(line, 1, p - 1) "****"; line = substr(line, p + length(s[i])) }
        line = out line
      }
      print line
      fflush()
    }' "$secrets"/* - <"$fifo" &
  masker=$!
  exec >"$fifo" 2>&1
  rm -f "$fifo"
  finish() { exec >&- 2>&-; wait "$masker"; }
  trap 'rc=$?; finish; exit $rc' EXIT
else
  exec 2>&1
fi

# A secret file is removed once used: raw_exec does not isolate tasks, so a sibling could read it.
forget() { for f in "$@"; do rm -f "$secrets/$f"; done; }
set -f
