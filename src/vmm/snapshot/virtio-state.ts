// The virtio devices in a snapshot: one state.bin section per device, `virtioN` for devices[N], as JSON: its
// type, its transport's state (registers and queue indices) and the device model's own state. Every device type
// opts in here: a type added without its state saved is refused, by name, before anything is written or read.
import type { DeviceConfig, MachineConfig } from '../config';
import type { AttachedVirtio } from '../virtio-devices';
import { parseTransportState, type TransportState } from '../../virtio-mmio/transport-state';
import { SnapshotError, type SnapshotImage } from './format';

/** The device types a snapshot holds: all of them, today. */
const SNAPSHOT_DEVICES: ReadonlySet<DeviceConfig['type']> = new Set(['rng', 'blk', 'console', 'vsock', 'input', 'scsi',
  'balloon', 'crypto', 'gpu', 'net', 'snd', 'iommu', 'fs']);

/** Refuses a config with a device a snapshot cannot hold yet, naming the first one. */
export function checkVirtioSnapshotable(config: MachineConfig): void {
  const i = config.devices.findIndex((d) => !SNAPSHOT_DEVICES.has(d.type));
  if (i >= 0) {
    throw new SnapshotError('ERR_SNAPSHOT_UNSUPPORTED', `devices[${i}] (${config.devices[i]!.type}): snapshots ` +
      `hold ${[...SNAPSHOT_DEVICES].join(', ')} devices; a ${config.devices[i]!.type} device's state is not saved yet`);
  }
}

const sectionName = (i: number): string => `virtio${i}`;

/**
 * The devices' sections, taken with the machine paused and no request in flight. Each device's own state comes
 * first: a device may hand a chain it held back to its ring, and the queue indices must show that.
 */
export function captureVirtio(attached: readonly AttachedVirtio[]): Map<string, Uint8Array> {
  const sections = new Map<string, Uint8Array>();
  attached.forEach((a, i) => {
    const device = a.transport.device.snapshotState?.() ?? null;
    const state = { type: a.type, transport: a.transport.exportState(), device };
    sections.set(sectionName(i), Buffer.from(JSON.stringify(state)));
  });
  return sections;
}

/**
 * Reads each device's section and gives the device model its own state back; what restoreVirtio then puts into
 * the transports. Throws SnapshotError ERR_SNAPSHOT_FORMAT naming the section and field that are wrong (a device
 * whose disk changed, say).
 */
export function readVirtio(image: SnapshotImage, attached: readonly AttachedVirtio[]): TransportState[] {
  const names = [...image.sections.keys()].filter((n) => /^virtio\d+$/.test(n));
  if (names.length !== attached.length) {
    throw new SnapshotError('ERR_SNAPSHOT_FORMAT', `state.bin holds ${names.length} virtio device sections, ` +
      `the config ${attached.length} devices`);
  }
  return attached.map((a, i) => {
    const name = sectionName(i);
    const data = image.sections.get(name);
    try {
      if (data === undefined) throw new RangeError('is missing');
      let parsed: unknown;
      try {
        parsed = JSON.parse(data.toString('utf8'));
      } catch {
        throw new RangeError('is not JSON');
      }
      const s = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
      if (s.type !== a.type) throw new RangeError(`.type is ${JSON.stringify(s.type)}, the config's devices[${i}] is ${a.type}`);
      const device = a.transport.device;
      const transport = parseTransportState('.transport', s.transport, device.deviceType, device.queueMaxSizes);
      try {
        device.restoreState?.(s.device ?? null);
      } catch (e) {
        throw new RangeError(`.device.${(e as Error).message}`, { cause: e });
      }
      return transport;
    } catch (e) {
      const message = (e as Error).message;
      throw new SnapshotError('ERR_SNAPSHOT_FORMAT', `state section ${name}${message.startsWith('.') ? '' : ' '}${message}`,
        { cause: e });
    }
  });
}

/**
 * Puts the transports' state back: a device its driver was running is activated on its restored queues. After
 * guest RAM and the interrupt controllers came back, since a device may use its rings (and interrupt) at once.
 */
export function restoreVirtio(attached: readonly AttachedVirtio[], states: readonly TransportState[]): void {
  attached.forEach((a, i) => a.transport.importState(states[i]!));
}
