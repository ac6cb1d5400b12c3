// The package root: what a Node program needs to run microVMs in-process (createVm, Vm; createSandbox for a
// machine to run commands in) or to supervise them in other tsvmm processes through their control sockets (VmClient). The same config schema as the YAML file (see
// configs/example.yaml), validated the same way; a Vm owns its KVM objects, threads and fds and gives them all
// back when it ends. What a Vm cannot do surfaces as a VmError with a code; the machine underneath stays internal.
export {
  checkConfigInput, validateConfig, parseConfigFile, toConfigInput, ConfigError, MachineConfigSchema,
} from './vmm/config';
export type {
  MachineConfig, MachineConfigInput, DeviceConfig, DeviceConfigInput, SerialConfig,
} from './vmm/config';
export type { MachineExit } from './vmm/exit-status';
export type { ExitReason, CounterName } from './vmm/vcpu-protocol';
export { HostError } from './vmm/preflight';
export { NativeAddonError } from './base/native';
export type { BalloonInfo, BalloonGuestStats } from './devices/balloon';
export type { InputEvent, InputKind } from './devices/input';
export type { RateLimiterConfig, TokenBucketConfig } from './devices/rate-limiter';
export { buildGuest, guestArtifactPath, resolveGuestArtifact } from './guest/build';
export { createLogger } from './log';
export { createVm, reserveVcpuThreads } from './api/create';
export type { CreateVmOptions } from './api/create';
export { restoreVm } from './api/restore';
export type { RestoreVmOptions } from './api/restore';
export { Vm, DEFAULT_STOP_TIMEOUT_MS } from './api/vm';
export type { VmState, VmExit, VmCounters, VmEvents, StopOptions } from './api/vm';
export { VmConsole } from './api/console';
export { VmError } from './api/errors';
export type { VmErrorCode } from './api/errors';
export type { DeviceErrorEvent } from './vmm/machine';
export { ApiServer, serveVm } from './api/server';
export type { ServeOptions } from './api/server';
export { ApiController } from './api/controller';
export type { ControllerState } from './api/controller';
export { VmClient, ApiClientError } from './api/client';
export type { ServerInfo, Action, RemoteExecOptions } from './api/client';
export type { RemoteFiles, RemoteOpenedFile, RemoteWriteOptions } from './api/remote-files';
export type { RemoteProcess, RemoteSpawnOptions } from './api/remote-process';
export type { VmFiles } from './api/vm-agent';
export type { VmDisplay, ServeWebOptions, WebConsole } from './api/vm-display';
export type { VmInput, KeyOptions, TypeOptions, PointerOptions } from './api/vm-input';
export type { KeyAction } from './api/input-keys';
export type { PointerButton, PointerButtons } from './api/input-pointer';
export { createSandbox, Sandbox } from './api/sandbox';
export type { SandboxOptions } from './api/sandbox';
export { restoreSandbox } from './api/sandbox-restore';
export type { RestoreSandboxOptions } from './api/sandbox-restore';
export { createPool, SandboxPool } from './api/pool';
export type { PoolOptions, PoolStats, AcquireOptions } from './api/pool';
export { AgentClient, AgentError, AgentProcess, DEFAULT_AGENT_PORT, PROTOCOL_VERSION } from './sandbox';
export type {
  AgentClientOptions, AgentErrorCode, AgentInfo, ExecOptions, ExecResult, FileStat, DirEntry, OpenedFile, SpawnOptions,
  WaitReadyOptions, WriteOptions,
} from './sandbox';
export { buildAgent, buildSandboxInitramfs } from './guest/agent';
