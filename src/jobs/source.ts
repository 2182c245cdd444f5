// Where an uploaded source reaches the build task: Nomad's client fetches it into the task dir
// (artifact RelativeDest), byte for byte (archive=false), and build.sh unpacks it from there.
export const SOURCE_DIR = 'nbs-source'
/** The last part of the URL path, which Nomad's getter keeps as the file's name. */
export const SOURCE_FILE = 'archive'
export const SOURCE_DEST = `local/${SOURCE_DIR}`
