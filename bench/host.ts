// Facts about the machine a report was taken on.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { isPvmHost } from '../src/vmm/host-quirks';
import { fioVersion } from './fio';
import { qemuVersion } from '../test/helpers/qemu';
import type { MachineFacts } from './table';

export function machineFacts(): MachineFacts {
  const cpus = os.cpus();
  let model = cpus[0]?.model.trim() ?? 'unknown';
  if (model === 'unknown' || model === '') {
    const m = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    model = m?.[1]?.trim() ?? 'unknown';
  }
  const qemu = qemuVersion();
  const fio = fioVersion();
  return {
    cpuModel: model,
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    kvmPvm: isPvmHost(),
    node: process.version,
    ...(qemu ? { qemu } : {}),
    ...(fio ? { fio } : {}),
  };
}
