// The package root: what a Node program needs to run microVMs in-process. The same config schema as the YAML file
// (see configs/example.yaml), validated the same way; a Machine owns its KVM objects, threads and fds and gives
// them all back when it ends.
export { validateConfig, parseConfigFile, ConfigError } from './vmm/config';
export type { MachineConfig, DeviceConfig, SerialConfig } from './vmm/config';
export { Machine } from './vmm/machine';
export type { MachineOptions } from './vmm/machine';
export type { MachineExit } from './vmm/exit-status';
export type { ExitReason, CounterName } from './vmm/vcpu-protocol';
export { BootError } from './vmm/boot/errors';
export { KvmError } from './vmm/kvm-vm';
export { BalloonError } from './devices/balloon';
export type { BalloonInfo, BalloonGuestStats } from './devices/balloon';
export { buildGuest, guestArtifactPath, resolveGuestArtifact } from './guest/build';
export { createLogger } from './log';
