// The parts of Nomad's JSON this service reads and writes (names as in github.com/hashicorp/nomad/api).
// Nomad's *Time fields (SubmitTime, CreateTime, event Time) are Unix nanoseconds beyond
// Number.MAX_SAFE_INTEGER, so nothing here relies on them: StartedAt/FinishedAt are RFC 3339.

export interface Template {
  EmbeddedTmpl: string
  DestPath: string
  Envvars?: boolean
  ChangeMode?: string
  Perms?: string
  LeftDelim?: string
  RightDelim?: string
  /** Nomad 1.4 and later: a task that is not root can read a 0600 file only when it owns it. */
  Uid?: number
  Gid?: number
}

export interface Constraint {
  LTarget: string
  RTarget: string
  Operand: string
}

/** A placement preference, never a requirement: Weight in [-100, 100]. */
export interface Affinity extends Constraint {
  Weight: number
}

export interface RequestedDevice {
  Name: string
  Count: number
  Constraints?: Constraint[]
}

export interface Task {
  Name: string
  Driver: string
  Config: Record<string, unknown>
  Env?: Record<string, string>
  Resources?: { CPU?: number; MemoryMB?: number; Devices?: RequestedDevice[] }
  Lifecycle?: { Hook: 'prestart' | 'poststart' | 'poststop'; Sidecar: boolean }
  KillTimeout?: number
  KillSignal?: string
  LogConfig?: { MaxFiles?: number; MaxFileSizeMB?: number; Disabled?: boolean }
  Templates?: Template[]
  VolumeMounts?: { Volume: string; Destination: string; ReadOnly: boolean }[]
  Constraints?: Constraint[]
  Vault?: { Role?: string; ChangeMode?: string }
  Meta?: Record<string, string>
  User?: string
  Artifacts?: Artifact[]
  /** The workload identity: File writes its token to secrets/nomad_token, which the Task API takes. */
  Identity?: { Env?: boolean; File?: boolean }
}

/** A file the client fetches before the task starts (go-getter): checksum-verified, unpacked unless archive=false. */
export interface Artifact {
  GetterSource: string
  GetterOptions?: Record<string, string>
  GetterHeaders?: Record<string, string>
  RelativeDest?: string
}

export interface TaskGroup {
  Name: string
  Count: number
  Tasks: Task[]
  RestartPolicy?: { Attempts: number; Mode: string; Interval: number; Delay: number }
  ReschedulePolicy?: { Attempts: number; Unlimited: boolean; Interval?: number }
  /** LostAfter (ns): how long an allocation of a node that stopped heartbeating stays unknown before it is lost. */
  Disconnect?: { LostAfter?: number; Replace: boolean; Reconcile?: string }
  Affinities?: Affinity[]
  EphemeralDisk?: { SizeMB: number }
  Volumes?: Record<string, { Name: string; Type: string; Source: string; ReadOnly: boolean }>
  Constraints?: Constraint[]
}

export interface Job {
  ID: string
  Name: string
  Type: 'batch' | 'service' | 'system'
  Namespace?: string
  Datacenters: string[]
  NodePool?: string
  Meta?: Record<string, string>
  Constraints?: Constraint[]
  TaskGroups: TaskGroup[]
  Status?: 'pending' | 'running' | 'dead'
  Stop?: boolean
  ModifyIndex?: number
  JobModifyIndex?: number
}

export interface JobListStub {
  ID: string
  Name: string
  Status: string
  Stop: boolean
  Meta?: Record<string, string>
  ModifyIndex: number
}

export interface TaskEvent {
  Type: string
  DisplayMessage?: string
  ExitCode?: number
  Signal?: number
  DriverError?: string
  KillReason?: string
  DownloadError?: string
  Message?: string
  Details?: Record<string, string>
}

export interface TaskState {
  State: 'pending' | 'running' | 'dead'
  Failed: boolean
  StartedAt: string | null
  FinishedAt: string | null
  Events: TaskEvent[] | null
}

/** Nomad's AllocStateField for the client status: an enum the API sends as its number (seen on Nomad 2.0.5). */
export const ALLOC_STATE_CLIENT_STATUS = 0

export interface Allocation {
  ID: string
  JobID: string
  TaskGroup: string
  NodeID: string
  NodeName?: string
  ClientStatus: 'pending' | 'running' | 'complete' | 'failed' | 'lost' | 'unknown'
  DesiredStatus: 'run' | 'stop' | 'evict'
  TaskStates?: Record<string, TaskState> | null
  /** The servers' changes of ClientStatus, e.g. to unknown when the node stopped heartbeating. */
  AllocStates?: { Field: number; Value: string; Time: string }[] | null
  ModifyIndex: number
}

export interface AllocationMetric {
  NodesEvaluated?: number
  NodesFiltered?: number
  NodesAvailable?: Record<string, number> | null
  ClassFiltered?: Record<string, number> | null
  ConstraintFiltered?: Record<string, number> | null
  NodesExhausted?: number
  DimensionExhausted?: Record<string, number> | null
  ResourcesExhausted?: Record<string, { CPU?: number; MemoryMB?: number }> | null
}

export interface Evaluation {
  ID: string
  Status: string
  StatusDescription?: string
  TriggeredBy?: string
  FailedTGAllocs?: Record<string, AllocationMetric> | null
  ModifyIndex: number
}

export interface RegisterResponse {
  EvalID: string
  JobModifyIndex: number
  Warnings?: string
}

export interface Variable {
  Path: string
  Namespace?: string
  Items: Record<string, string>
  ModifyIndex?: number
}

export interface NodeListStub {
  ID: string
  Name: string
  NodePool?: string
  Status: string
  SchedulingEligibility: string
  NodeResources?: { Cpu?: { CpuShares?: number }; Memory?: { MemoryMB?: number } } | null
  ReservedResources?: { Cpu?: { CpuShares?: number }; Memory?: { MemoryMB?: number } } | null
}

export interface VariableMetadata {
  Path: string
  Namespace?: string
  ModifyIndex?: number
}
