// Loading a new machine's guest: the kernel, initrd and command line into RAM (with ACPI tables when on), then one
// configured vCPU per config.vcpus. A restored machine skips this: its RAM and vCPUs come from the snapshot.
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import { prepareBoot } from './boot';
import { ConfigError, type MachineConfig } from './config';
import { withQuirkCmdline, type HostQuirks } from './host-quirks';
import type { KvmVm } from './kvm-vm';
import { acpiPlatform } from './machine-platform';
import { Vcpu } from './vcpu';
import { configureVcpu } from './vcpu-setup';
import type { VirtioDevices } from './virtio-devices';
import { native } from '../base/native';

/** Loads the guest described by `config` into `vm` and returns its vCPUs, configured and not started. */
export function loadGuest(vm: KvmVm, config: MachineConfig, virtio: VirtioDevices, quirks: HostQuirks,
  log: Logger): Vcpu[] {
  if (quirks.reason) log.info({ cmdline: quirks.cmdline }, `host quirks on: ${quirks.reason}`);
  const max = vm.maxVcpus();
  if (config.vcpus > max) throw new ConfigError('vcpus', `${config.vcpus} is more than this host's KVM allows (${max})`);
  // With ACPI the DSDT lists the virtio devices: on the command line too, a kernel would probe each one twice.
  const virtioParams = config.acpi === 'on' ? [] : virtio.attached.map((a) => a.cmdline);
  const cmdline = withQuirkCmdline([config.cmdline, ...virtioParams].join(' '), quirks);
  const boot = prepareBoot(vm.memory, {
    kernel: fs.readFileSync(config.kernel),
    initrd: config.initrd ? fs.readFileSync(config.initrd) : undefined,
    cmdline,
    vcpus: config.vcpus,
    memBytes: config.memory,
    protocol: config.boot,
    acpi: config.acpi === 'on' ? acpiPlatform(config, virtio.attached.length) : undefined,
  });
  log.info({ protocol: boot.protocol, cmdline }, 'guest loaded');
  const supported = native().getSupportedCpuid(vm.kvmFd);
  const vcpus: Vcpu[] = [];
  for (let i = 0; i < config.vcpus; i++) {
    const v = new Vcpu(vm, i);
    vcpus.push(v);
    configureVcpu(v, config.vcpus, boot, supported, quirks);
  }
  return vcpus;
}
