# Build phase: fetch the repository at the ref, then buildah bud into the node's shared store.
# Errors: set -e, so a command that fails ends the build with its exit code; a failure the status
# explains says why first (say, infra), and bud's own exit code is kept apart (bud-rc).
nbs_init
set -e
prepare_store
hold_store
src="$NOMAD_ALLOC_DIR/src"
commit=

# The build's own name (NBS_LOCAL_IMAGE, run-<build id>) is a cache entry's, so the prune ages it
# out with them: the tests and publish use it, and runInImage starts from its image afterwards.
keys="$store_dir/nbs-cache-keys"
keep_run() {
  printf '%s %s %s\n' "$1" "$2" "$3" >"$r_run_image"
  [ -d "$keys" ] || mkdir -p "$keys"
  touch "$keys/$NBS_RUN_KEY"
}

# Two names: the build's own, and the cache name, which keeps the newest image of this repo and
# Dockerfile, so that its layers stay in the store for the next build to reuse. The tests'
# containers (common.sh: test_container) are made meanwhile, from the image ID; a test whose
# container is missing makes its own.
name_image() {
  made=
  for t in $NBS_TESTS; do
    bah from --pull-never --name "$(test_container "$t")" "$1" >/dev/null 2>&1 &
    made="$made $!"
  done
  names_rc=0
  names tag "$1" "$NBS_LOCAL_IMAGE" "$NBS_CACHE_IMAGE" >/dev/null || names_rc=$?
  [ -z "$made" ] || wait $made || :
  return "$names_rc"
}

# After the bud, or a failure before it: no secret of the build and no registry login stays.
forget_all() { rm -rf "$secrets" "$auth"; }

# Reuse: a build of a source this node built before, with the same settings (render.ts:
# settingsKeyOf) and store driver, would take every step from the cache and end in the image it
# made then. That image is named at once, without Buildah reading the Dockerfile again: an agent
# that changes only its tests gets them run in seconds. A record names the image of a tree, and of
# the commit that held it (the fetch can then be skipped: fetch_repo). A Dockerfile that ADDs from
# a URL is always built (what the URL serves may have changed), and has no record. A record goes
# when its image has.
inputs="$store_dir/nbs-inputs"
commit_record() { printf '%s\n' "$inputs/$NBS_SETTINGS_KEY-$commit-$driver"; }
# A record is written whole (another build may read it at that moment).
record() {
  [ -d "$inputs" ] || mkdir -p "$inputs"
  echo "$iid $total" >"$1.$NOMAD_ALLOC_ID" && mv -f "$1.$NOMAD_ALLOC_ID" "$1"
}
gone=
reuse_image() {
  iid= total=
  { read -r iid total <"$1"; } 2>/dev/null || :
  [ -n "$iid" ] || return 1
  if [ "$iid" != "$gone" ] && name_image "$iid" 2>/dev/null; then
    forget_all
    say "reusing image $iid: this node built it from the same $2 with the same settings, and Buildah would take every step from its cache (noCache: true builds again)"
    echo "$iid" >"$r_image_id"
    keep_run "$iid" "$total" "$total"
    touch "$keys/$NBS_CACHE_KEY" "$1" "$r_build_ok"
    [ -z "$commit" ] || [ -f "$(commit_record)" ] || record "$(commit_record)"
    say "built $NBS_LOCAL_IMAGE"
    exit 0
  fi
  rm -f "$1"
  [ "$iid" != "$gone" ] || return 1
  gone=$iid
  say "the image this node built from the same $2 is gone; building"
  # Containers made for the tests, if any, came from that image.
  for t in $NBS_TESTS; do ! has_container "$(test_container "$t")" || bah rm "$(test_container "$t")" >/dev/null 2>&1 || :; done
  return 1
}

# An uploaded source: Nomad's client fetched the archive into the task dir (the job's artifact
# block) and checked its sha256 against the upload's id. Its getter would have turned symlinks
# into empty files, so it is unpacked here. The server refused entries that leave the tree when
# the archive was uploaded; the names are checked again before anything is written.
unpack_source() {
  tree="uploaded directory"
  # The upload's sha256 is part of the settings key (render.ts: settingsKeyOf).
  source_tree=upload
  say "unpacking the uploaded source ($(wc -c <"$NBS_SOURCE_FILE") bytes)"
  bad=$(tar -tf "$NBS_SOURCE_FILE" | grep -m 1 -E '^/|(^|/)[.][.](/|$)') && {
    say "the uploaded source holds $bad, a path outside its directory: nothing was unpacked; upload the directory again"
    exit 2
  }
  mkdir -p "$src"
  tar -xf "$NBS_SOURCE_FILE" -C "$src" --no-same-owner --no-same-permissions
  # No set-user-ID or set-group-ID file from an upload reaches the build.
  find "$src" -type f -perm /6000 -exec chmod ug-s {} +
  # The unpacked tree is what the build uses; the client may have made the file the task's to keep.
  rm -f "$NBS_SOURCE_FILE" 2>/dev/null || true
  cd "$src"
}

# The source's commit into the clone: the default branch's or the ref's, one commit deep. (exec: the
# exit hook's signal reaches git itself.)
shallow_fetch() {
  if [ -z "$ref" ]; then exec git fetch -q --depth 1 "$repo" HEAD; fi
  exec git fetch -q --depth 1 "$repo" "$ref" 2>/dev/null
}

fetch_repo() {
  tree=repository
  repo=$(d "$NBS_B64_REPO")
  ref=$(d "$NBS_B64_REF")
  # No terminal to ask for a password on: a missing credential is an error, not a hang.
  export GIT_TERMINAL_PROMPT=0
  git init -q "$src"
  cd "$src"
  helper=
  if [ -f "$secrets/git_password" ]; then
    # An inline credential helper reads the token from the secrets dir: it never appears in a URL,
    # an argument or the environment. Inline, because Nomad mounts secrets/ noexec (conformance:
    # secrets-noexec) and a helper file there could not run.
    export NBS_GIT_SECRETS="$secrets"
    helper=1
    git config credential.helper '!f() { test "$1" = get && printf "username=%s\npassword=%s\n" "$(cat "$NBS_GIT_SECRETS/git_username")" "$(cat "$NBS_GIT_SECRETS/git_password")"; }; f'
  fi
  # An SSH clone trusts the host keys the request named (secrets.gitKnownHosts) and no others: not
  # the node's known_hosts files, not a key first seen now. Only the operator can allow the latter
  # (NBS_SSH_HOST_KEY_CHECKING=off), and then only for a request that named no host keys.
  if [ -f "$secrets/git_known_hosts" ]; then
    say "ssh: the Git server's host key must be one of secrets.gitKnownHosts ($(grep -c . "$secrets/git_known_hosts") lines)"
    ssh_hosts="-o UserKnownHostsFile='$secrets/git_known_hosts' -o StrictHostKeyChecking=yes"
  elif [ "$NBS_SSH_HOST_KEY_CHECKING" = off ]; then
    ssh_hosts="-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=accept-new"
  else
    ssh_hosts="-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes"
  fi
  export GIT_SSH_COMMAND="ssh -o BatchMode=yes -o GlobalKnownHostsFile=/dev/null $ssh_hosts"
  [ ! -f "$secrets/git_ssh_key" ] || GIT_SSH_COMMAND="$GIT_SSH_COMMAND -i '$secrets/git_ssh_key' -o IdentitiesOnly=yes"
  if [ -z "$ref" ]; then say "fetching $repo (default branch)"; else say "fetching $repo at $ref"; fi
  # The shallow fetch runs as a process of its own, so that it can start at once, beside ls-remote
  # below: a new commit, an agent's usual rebuild, then waits for nothing (45 ms of 300 here).
  (shallow_fetch) &
  fetching=$!
  # A build that ends before the fetch (an image reused; ls-remote failed, and said why) stops it.
  # $fetching is emptied once the fetch is reaped: no later process with its PID is signalled.
  at_exit '[ -z "$fetching" ] || kill "$fetching" 2>/dev/null || :'
  # A repository this node built with these settings (its cache entry is there): the ref may name a
  # commit the node has the image of, and then the build ends without the fetch. ls-remote reads
  # only the refs; it fails as the fetch would, with the same words. The ref is resolved as the fetch
  # resolves it (the first of ref, refs/ref, refs/tags/ref, refs/heads/ref, refs/remotes/ref),
  # an annotated tag to its commit; a commit ID is no ref and is fetched.
  if [ -n "$NBS_SETTINGS_KEY" ] && [ -f "$keys/$NBS_CACHE_KEY" ]; then
    want=$ref
    [ -n "$want" ] || want=HEAD
    refs=$(git ls-remote "$repo" "$want" "$want^{}")
    commit=$(printf '%s\n' "$refs" | awk -v r="$want" '
      { id[$2] = $1 }
      END {
        n = split(r " refs/" r " refs/tags/" r " refs/heads/" r " refs/remotes/" r, c, " ")
        for (i = 1; i <= n; i++) {
          if ((c[i] "^{}") in id) { print id[c[i] "^{}"]; exit }
          if (c[i] in id) { print id[c[i]]; exit }
        }
      }')
    # (The clone's credential helper stays: no build step reads this clone, and its secrets go.)
    if [ -n "$commit" ] && [ -f "$(commit_record)" ]; then
      say "commit $commit"
      echo "$commit" >"$r_commit"
      # The fetch goes on meanwhile: a reused image ends the build, and the exit hook stops the
      # fetch; a gone one needs it. (A stopped git can leave its lock files behind: no git runs
      # in this clone after one was stopped.)
      reuse_image "$(commit_record)" "commit ($commit)" || :
    fi
  fi
  fetched=0
  wait "$fetching" || fetched=$?
  fetching=
  if [ "$fetched" != 0 ]; then
    # The default branch's fetch said why it failed; a ref's was quiet, for this.
    [ -n "$ref" ] || exit "$fetched"
    # A shallow fetch names branches, tags and (where the server allows it) commits; a short
    # commit id needs the whole history.
    say "shallow fetch of $ref failed; fetching the whole history"
    git fetch -q --tags "$repo" '+refs/heads/*:refs/remotes/origin/*'
    git rev-parse -q --verify "$ref^{commit}" >FETCH_REF || git rev-parse -q --verify "origin/$ref^{commit}" >FETCH_REF || {
      say "ref $ref is not a branch, tag or commit of $repo"
      exit 2
    }
    git update-ref FETCH_HEAD "$(cat FETCH_REF)"
    rm -f FETCH_REF
  fi
  git checkout -q FETCH_HEAD
  [ -z "$helper" ] || git config --unset credential.helper
  forget git_username git_password git_ssh_key git_known_hosts
  { read -r commit; read -r source_tree; } <<EOF
$(git rev-parse HEAD 'HEAD^{tree}')
EOF
  say "commit $commit"
  echo "$commit" >"$r_commit"
}

if [ -n "$NBS_SOURCE_FILE" ]; then unpack_source; else fetch_repo; fi

# The context and the Dockerfile must stay inside the clone (or the unpacked upload). A repo can
# commit symlinks (ctx -> /, proc -> /proc) that a plain [ -d ] or [ -f ] follows out of it, and
# the build would read the node's files. Both are resolved here, and Buildah gets only the
# resolved paths. (Messages go to stderr: stdout is the resolved path the caller captures.)
clone=$(pwd -P)
inside() {
  resolved=$(realpath -e -- "$2" 2>/dev/null) || { say "$1 $3 does not exist in the $tree" >&2; exit 2; }
  case $resolved in
    "$clone" | "$clone"/*) printf '%s\n' "$resolved" ;;
    *)
      say "$1 $3 leaves the $tree: it resolves outside it (through a symlink or ..); give a path inside the $tree" >&2
      exit 2
      ;;
  esac
}
ctx=$(d "$NBS_B64_CONTEXT")
[ -n "$ctx" ] || ctx=.
ctx_path=$(inside context "$ctx" "$ctx")
[ -d "$ctx_path" ] || { say "context $ctx is not a directory in the $tree"; exit 2; }
df=$(d "$NBS_B64_DOCKERFILE")
if [ -z "$df" ]; then
  if [ -e "$ctx_path/Dockerfile" ] || [ -L "$ctx_path/Dockerfile" ]; then df=Dockerfile; elif [ -e "$ctx_path/Containerfile" ] || [ -L "$ctx_path/Containerfile" ]; then df=Containerfile; else
    say "no Dockerfile or Containerfile in $ctx"
    exit 2
  fi
fi
df_path=$(inside dockerfile "$ctx_path/$df" "$df (in $ctx)")
[ -f "$df_path" ] || { say "dockerfile $df (in $ctx) is not a file in the $tree"; exit 2; }


reuse=
if [ -n "$NBS_SETTINGS_KEY" ] && ! grep -qiE '^[[:space:]]*ADD[[:space:]].*[a-z]+://' "$df_path"; then
  reuse="$inputs/$NBS_SETTINGS_KEY-$source_tree-$driver"
  reuse_image "$reuse" "$tree ($source_tree)" || :
fi

# The image is built without a name and named afterwards under the names lock (common.sh).
# --force-rm: a failed step leaves no working container behind.
# No --iidfile: with it, Buildah 1.28 says no "--> ID" for a layer it commits, and both the
# runInImage image of a failed build and the prune's "the store grew" come from those lines. The
# image ID is the last thing a build that succeeded prints.
set -- bud --isolation "$NBS_ISOLATION" --layers --force-rm --tls-verify="$NBS_TLS_VERIFY" -f "$df_path"
if [ "$NBS_NO_CACHE" = 1 ]; then
  say "noCache: every step runs again"
  set -- "$@" --no-cache
fi
target=$(d "$NBS_B64_TARGET")
[ -z "$target" ] || set -- "$@" --target "$target"
for a in $NBS_B64_BUILD_ARGS; do d_into a "$a"; set -- "$@" --build-arg "$a"; done
for id in $NBS_BUILD_SECRET_IDS; do set -- "$@" --secret "id=$id,src=$secrets/build_$id"; done
cache_registry=$(d "$NBS_B64_CACHE_REGISTRY")
if [ -n "$cache_registry" ]; then
  say "cache.registry $cache_registry: layers this node lacks are pulled from there, new ones pushed"
  if [ -f "$secrets/registry_password" ]; then
    registry_login || { forget_all; exit 1; }
    set -- "$@" --authfile "$auth"
  fi
  # What the prune (publish.sh) must unname: the layers pulled from there arrive named after it.
  printf '%s\n' "$cache_registry" >>"$store_dir/nbs-cache-registries"
  touch "$store_dir/nbs-store-grew"
  [ "$NBS_NO_CACHE" = 1 ] || set -- "$@" --cache-from "$cache_registry"
  set -- "$@" --cache-to "$cache_registry"
fi
set -- "$@" "$ctx_path"
# Where each stage's steps start in the Dockerfile, said when the build fails: Buildah 1.28 numbers
# the steps (STEP 2/4, [2/2] STEP 1/3) but names no line, and the status names the failing step's.
# A step is a line that is not a comment, blank, the rest of a continued line or a heredoc's body.
step_lines() {
  awk '
    body != "" { if ($0 == body || $0 ~ "^[ \t]*" body "$") body = ""; next }
    cont && /^[ \t]*(#|$)/ { next }
    cont { cont = /\\[ \t]*$/; next }
    /^[ \t]*(#|$)/ { next }
    {
      cont = /\\[ \t]*$/
      if (match($0, /<<-?["\047]?[A-Za-z_][A-Za-z0-9_]*/)) { body = substr($0, RSTART, RLENGTH); sub(/^<<-?["\047]?/, "", body) }
    }
    toupper($1) == "FROM" { n++; at[n] = NR; next }
    n > 0 { at[n] = at[n] " " NR }
    END { for (s = 1; s <= n; s++) printf "==> nbs: stage %d of %d: its steps start on Dockerfile lines %s\n", s, n, at[s] }
  ' "$1"
}
say "buildah $*"
# Buildah says each step (STEP n/m) and each layer it commits (--> ID). The last layer is the image
# runInImage starts from: the built image, or after a failed step the last one that succeeded.
# Its words are kept while it runs (tee: Debian's awk, mawk, would hold a stream's lines back in
# its buffer and the log would show nothing of a step until it ended), in the secrets tmpfs, since
# a step may print a build secret that only the log's masker hides, and read once it has ended.
bud_log="$NOMAD_SECRETS_DIR/nbs-bud.log"
{
  rc=0
  bah "$@" 2>&1 || rc=$?
  echo "$rc" >"$NOMAD_TASK_DIR/bud-rc"
} | tee "$bud_log"
read -r rc <"$NOMAD_TASK_DIR/bud-rc"
steps="$NOMAD_TASK_DIR/bud-steps"
# Buildah's words, read once: the last layer it committed, with its step and the step count
# (bud-steps: the image runInImage starts from after a failed step); the image ID, the last thing
# a build that succeeded prints; and whether the store grew. A step other than FROM that Buildah
# did not take from the cache ("--> Using cache" right after its STEP line) committed a layer, and
# a failed build may leave some behind: the next prune then looks at the store's size and its
# unnamed images. A build taken wholly from the cache added nothing, and the prune has nothing to
# look at. (A multi-stage build numbers the steps of each stage: [2/2] STEP 1/3.)
if ! awk -v rc="$rc" -v steps="$steps" -v iidfile="$r_image_id" '
  { sub(/^\[[0-9]+\/[0-9]+\] /, "") }
  /^STEP [0-9]+\/[0-9]+: / { split($2, a, "/"); step = a[1]; total = a[2] + 0; if (open) grew = 1; open = toupper($3) != "FROM"; next }
  /^--> Using cache / { open = 0 }
  /^--> / { id = $NF; last = step }
  /^[0-9a-f]+$/ && length($0) == 64 { image = $0 }
  END {
    if (id != "") print id, last, total >steps
    if (rc == 0) print image >iidfile
    exit (rc != 0 || grew || open)
  }' "$bud_log"; then touch "$store_dir/nbs-store-grew"; fi
forget_all
rm -f "$bud_log"
if [ "$rc" != 0 ]; then
  step_lines "$df_path"
  if [ -s "$steps" ]; then
    read -r last_id last_step total <"$steps"
    if names tag "$last_id" "$NBS_LOCAL_IMAGE" >/dev/null 2>&1; then
      keep_run "$last_id" "$last_step" "$total"
      say "kept the image after step $last_step of $total for runInImage"
    fi
  fi
  exit "$rc"
fi
iid=
read -r iid <"$r_image_id" || :
[ -n "$iid" ] || { say "Buildah ended with success but printed no image ID"; exit 1; }
name_image "$iid"
total=0
[ ! -s "$steps" ] || read -r _ _ total <"$steps"
keep_run "$iid" "$total" "$total"
# When the cache entry was last used: the prune forgets the least recently used first.
touch "$keys/$NBS_CACHE_KEY" "$r_build_ok"
if [ -n "$reuse" ]; then
  record "$reuse"
  [ -z "$commit" ] || record "$(commit_record)"
fi
say "built $NBS_LOCAL_IMAGE"
