// The operations a surface may call: the in-process service and the HTTP client both provide them.
import type { BuildService } from './build-service'

export type BuildApi = Pick<
  BuildService,
  'submitJob' | 'getStatus' | 'getLogs' | 'followLogs' | 'killJob' | 'cleanup' | 'listJobs' | 'waitForJob' | 'serverInfo' | 'uploadSource' | 'runInImage'
>
