// The bundle as a string: a separate module, imported only when /ui/app.js is first asked for, so that the CLI's
// other commands, run from source, do not pay for bundling.
import { uiBundle } from './bundle' with { type: 'macro' }

export const appJs: string = uiBundle()
