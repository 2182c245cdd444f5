# nbs task prelude, prepended to each phase script. The job carries every user value
# base64-encoded in the environment: Nomad interpolates dollar-brace expressions in task args and env, and
# base64 has neither "$" nor braces, so no request field can reach Nomad's interpolation,
# a shell parser or a template. These scripts never use the brace form of variables.
set -u
exec 2>&1
d() { printf %s "$1" | base64 -d; }
bah() { buildah --root "$NBS_STORAGE_ROOT" --runroot "$NBS_RUNROOT" --storage-driver "$NBS_STORAGE_DRIVER" "$@"; }
say() { printf '==> nbs: %s\n' "$*"; }
state="$NOMAD_ALLOC_DIR/nbs"
mkdir -p "$state"
set -f
