# nbs task prelude, prepended to each phase script. The job carries every user value
# base64-encoded in the environment: Nomad interpolates dollar-brace expressions in task args
# and env, and base64 has neither "$" nor braces, so no request field can reach Nomad's
# interpolation, a shell parser or a template. These scripts never use the brace form of variables.
# common.sh only defines: each phase script starts with nbs_init, which does what acting needs.
# "-" is an empty item of a list (render.ts: b64List).
d() { [ -n "$1" ] && [ "$1" != - ] || return 0; printf %s "$1" | base64 -d; }
# d_into NAME ITEM: NAME gets the decoded item whole. $(d …) drops trailing newlines, so a dot
# follows the text and a parameter expansion removes it; that expansion is put together at run
# time, since the scripts' own text never holds the brace form (it is only NAME that eval sees).
lb='{'
d_into() { _v=$(d "$2"; echo .); eval "$1=\"\$$lb""_v%.}\""; }
say() { printf '==> nbs: %s\n' "$*"; }
secrets="$NOMAD_SECRETS_DIR/nbs"

# The store driver: the build decides it for the allocation (prepare_store, below), and the
# tests and publish, which share the build's store, use the one it recorded (recorded_driver).
# The options are kept in a variable: Buildah runs several times a phase, and each read of the
# record would be a process more on the build's path.
use_driver() {
  driver=$1 layout=overlay
  case $1 in
    overlay) store_opts="--storage-driver overlay" ;;
    fuse-overlayfs) store_opts="--storage-driver overlay --storage-opt overlay.mount_program=/usr/bin/fuse-overlayfs" ;;
    *) driver=vfs layout=vfs store_opts="--storage-driver vfs" ;;
  esac
}
recorded_driver() {
  recorded=
  { read -r recorded <"$r_storage_driver"; } 2>/dev/null || :
  use_driver "$recorded"
}
# Buildah never gets the store lock's descriptor (9): a step's process that outlived its phase
# would otherwise hold the lock, and the store would never be pruned again.
bah() { buildah --root "$NBS_STORAGE_ROOT" --runroot "$NBS_RUNROOT" $store_opts "$@" 9>&-; }

# The Nomad servers, through the Task API of this task's client: the socket and the workload
# identity's token are in the secrets dir (the job asks for the token file). The token goes in a
# header file, never in an argument another process could read.
task_api() {
  hdr="$NOMAD_SECRETS_DIR/.nbs-api-header"
  if [ ! -f "$hdr" ]; then
    token=
    { read -r token <"$NOMAD_SECRETS_DIR/nomad_token"; } 2>/dev/null || :
    printf 'X-Nomad-Token: %s\n' "$token" >"$hdr"
  fi
  curl -sS --fail-with-body --max-time 20 --unix-socket "$NOMAD_SECRETS_DIR/api.sock" -H @"$hdr" "http://localhost$1" 2>&1
}

# The node's store is the layer cache, shared by every build on the node: its cache volume.
# Docker mounts it at NBS_STORE_DIR. raw_exec cannot mount a volume: the build asks the servers
# where the volume is on its node, and the tasks after it read that from the alloc dir. Returns
# non-zero with store_error set when the node has no such volume or the servers do not answer.
open_store() {
  if [ -z "$NBS_STORE_DIR" ] && [ -f "$r_store_dir" ]; then read -r NBS_STORE_DIR <"$r_store_dir"; fi
  if [ -z "$NBS_STORE_DIR" ]; then
    node=$(task_api "/v1/node/$NBS_NODE_ID") || {
      store_error="the Nomad servers did not say where node $NBS_NODE_ID keeps host volume $NBS_CACHE_VOLUME ($(printf %s "$node" | tail -n 1))"
      return 1
    }
    NBS_STORE_DIR=$(printf %s "$node" | sed -n 's/.*"HostVolumes":{.*"'"$NBS_CACHE_VOLUME"'":{[^}]*"Path":"\([^"]*\)".*/\1/p')
    [ -n "$NBS_STORE_DIR" ] || {
      store_error="node $(printf %s "$node" | grep -o '"Name":"[^"]*"' | head -n 1 | cut -d '"' -f 4) has no host volume $NBS_CACHE_VOLUME: declare it in the client's configuration (client { host_volume \"$NBS_CACHE_VOLUME\" { path = ... } }), or set NBS_CACHE_VOLUME to one it has"
      return 1
    }
    echo "$NBS_STORE_DIR" >"$r_store_dir"
  fi
  store_dir=$NBS_STORE_DIR
  NBS_STORAGE_ROOT=$store_dir/storage
  NBS_RUNROOT=$store_dir/run
  recorded_driver
}

# The container a test runs in: the build makes it while it names the image, the test uses it, and
# publish removes it beside its push. Removing or making one is a Buildah run of about 0.1 s, which
# would otherwise sit between the build's end and the test's command, and after the test.
test_container() { printf 'nbs-%s-%s' "$NOMAD_ALLOC_ID" "$1"; }
# Whether the store has a container of that name: its own list says so without starting Buildah.
has_container() { grep -qs "\"$1\"" "$NBS_STORAGE_ROOT/$layout-containers/containers.json"; }

# Each phase holds a shared lock on the store for its whole run; the prune (publish.sh) takes it
# alone or not at all, so it never removes a layer or a container that a build in flight uses.
hold_store() { exec 9>>"$store_dir/nbs-store.lock" && flock -s 9; }

# Image names change only here, one Buildah at a time on the node: Buildah 1.28 writes an image's
# whole list of names from what it read moments before, so two builds naming the same image at
# once (every build of an unchanged repo ends in the same cached image) drop each other's names,
# and a build fails with `locating just-written image ...: image not known`.
names() ( exec 8>>"$store_dir/nbs-names.lock" && flock -x 8 && bah "$@" 8>&- )

# What runs when the script exits, the last registered first (a phase's own clean-up before the
# masker's finish, which closes the output): one EXIT trap, that a phase never replaces.
exit_hooks=
at_exit() { exit_hooks="$1; $exit_hooks"; }

# A secret file is removed once used: raw_exec does not isolate tasks, so a sibling could read it.
forget() { [ ! -d "$secrets" ] || (cd "$secrets" && rm -f "$@"); }

# The image registry's login, for publish and for a build that shares its cache there: the
# secrets.registry credentials become an auth file of the task's own, and are forgotten.
auth="$NOMAD_SECRETS_DIR/nbs-auth.json"
registry_login() {
  registry=$(d "$NBS_B64_REGISTRY")
  say "logging in to $registry as $(cat "$secrets/registry_username")"
  bah login --authfile "$auth" --tls-verify="$NBS_TLS_VERIFY" -u "$(cat "$secrets/registry_username")" --password-stdin "$registry" <"$secrets/registry_password" || {
    say "login to $registry failed: check the registry credentials the secrets.registry reference names"
    forget registry_username registry_password
    return 1
  }
  forget registry_username registry_password
}

# A failure of the node, not of the request: the status reads the marker and says infrastructure.
infra() {
  say "$1"
  printf '%s\n' "$1" >"$r_infrastructure"
  exit "$r_infrastructure_exit"
}

# The build's first step: the cache volume must be writable by this task's user, and the store
# driver is decided once for the allocation, said in the log. Native overlay where this kernel
# lets this user mount it (rootless overlay needs Linux 5.13 or later), fuse-overlayfs where the
# task can open /dev/fuse, vfs otherwise (it copies the whole root filesystem for every layer).
# Docker passes a device with the node's mode: fuse-overlayfs as uid 1000 needs it 0666 there
# (udev's default; a node without udev may have 0600).
prepare_store() {
  uid=$(id -u)
  open_store || infra "$store_error"
  fuse_ok() { [ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ]; }
  { { [ -d "$NBS_STORAGE_ROOT" ] && [ -d "$NBS_RUNROOT" ] || mkdir -p "$NBS_STORAGE_ROOT" "$NBS_RUNROOT"; } && [ -w "$NBS_STORAGE_ROOT" ] && [ -w "$NBS_RUNROOT" ]; } 2>/dev/null ||
    infra "the cache volume $NBS_CACHE_VOLUME (at $store_dir on node $NBS_NODE_ID) is not writable by uid $uid: on each node, make the host volume's directory writable by uid $uid (chown -R $uid DIR), or set NBS_CACHE_VOLUME to a volume that is"
  case $NBS_STORAGE_DRIVER in
    auto)
      err=
      # Native overlay, once it worked for this user on this store and kernel, is not probed
      # again: the probe is a Buildah run on every build's path.
      known="$store_dir/nbs-overlay-ok-$uid"
      kernel= probed=
      read -r kernel </proc/sys/kernel/osrelease
      { read -r probed <"$known"; } 2>/dev/null || :
      use_driver overlay
      if [ "$probed" = "$kernel" ]; then
        why="native overlay works here (probed by an earlier build on this kernel)"
      elif err=$(bah images 2>&1 >/dev/null); then
        echo "$kernel" >"$known"
        why="native overlay works here"
      else
        # Buildah's own words: native overlay can also fail on a store that should allow it (its
        # directories chowned to root by a buildah run as root on the node), and every build
        # then pays for the fallback; the log must say so.
        err=$(printf '%s\n' "$err" | grep -m 1 '^Error: ' || printf '%s\n' "$err" | tail -n 1)
        if fuse_ok && use_driver fuse-overlayfs && bah images >/dev/null 2>&1; then
          why="native overlay does not work here ($err); /dev/fuse does"
        else
          use_driver vfs
          why="neither native overlay ($err) nor /dev/fuse works here for uid $uid"
        fi
      fi
      ;;
    overlay | fuse-overlayfs | vfs)
      [ "$NBS_STORAGE_DRIVER" != fuse-overlayfs ] || fuse_ok ||
        infra "fuse-overlayfs needs /dev/fuse, which uid $uid cannot open here: give the nodes /dev/fuse (modprobe fuse) with mode 0666, or set NBS_STORAGE_DRIVER to overlay or vfs"
      use_driver "$NBS_STORAGE_DRIVER"
      why="NBS_STORAGE_DRIVER"
      err=$(bah images 2>&1 >/dev/null) || infra "storage driver $NBS_STORAGE_DRIVER does not work here ($(printf %s "$err" | tail -n 1)): set NBS_STORAGE_DRIVER to auto or vfs"
      ;;
  esac
  echo "$driver" >"$r_storage_driver"
  say "storage driver $driver ($why), store $NBS_STORAGE_ROOT"
}

# The task's set-up, called first by each phase script: unset variables are errors; the results
# folder; the rendered secrets moved into a folder of the task's own and masked in all it prints;
# the one EXIT trap; then no pathname expansion (set -f): the scripts split lists (base64 items,
# test names, container ids) unquoted, and an item must never turn into file names.
nbs_init() {
  # Where Nomad collects no output of a phase task (raw_exec, render.ts: LogConfig.Disabled; starting
  # its log collector is most of what a task start costs), the task writes its log where the
  # collector would, and Nomad's logs API reads it from there. stderr joins stdout either way.
  if [ -n "$NBS_OWN_LOG" ]; then
    log="$NOMAD_ALLOC_DIR/logs/$NOMAD_TASK_NAME"
    : >>"$log.stderr.0"
    exec >>"$log.stdout.0" 2>&1
  else
    exec 2>&1
  fi
  set -u
  # state and the r_* file names come from the result contract (src/jobs/results.ts).
  [ -d "$state" ] || mkdir -p "$state"

  # Templates render each secret as secrets/nbs.<name>: a folder Nomad made for them would be
  # root-owned, and the build user could not remove a used secret from it. They move into a
  # folder of the task's own, made only when there is one: a task without secrets starts no
  # process for them.
  has_secrets=
  for f in "$NOMAD_SECRETS_DIR"/nbs.*; do
    [ -e "$f" ] || continue
    [ -n "$has_secrets" ] || mkdir -p -m 700 "$secrets"
    has_secrets=1
    mv -f "$f" "$secrets/$(basename "$f" | cut -c5-)"
  done
  trap 'rc=$?; eval "$exit_hooks"; exit $rc' EXIT

  # Secrets rendered for this task are masked in everything it prints, even when a build step
  # echoes one: a filter reads the values from the files before any output passes through it.
  if [ -n "$has_secrets" ]; then
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
    at_exit finish
  fi
  set -f
}
