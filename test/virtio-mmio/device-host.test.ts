import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromEventLoop, type DeviceHost, type VirtioDevice } from '../../src/virtio-mmio/device';
import { createTransportState } from '../../src/virtio-mmio/state';
import { MmioTransport } from '../../src/virtio-mmio/transport';
import { MockDriver } from './mock-driver';

/** A device that keeps its host and has one callback of its own, as a socket or a timer would call it. */
function deviceWithCallback(): { device: VirtioDevice; callback: () => void } {
  let host: DeviceHost | undefined;
  const device: VirtioDevice = {
    deviceType: 4, queueMaxSizes: [16], features: 0n, configSpace: () => new Uint8Array(0),
    attach: (h) => { host = h; }, activate: () => {}, onQueueNotify: () => {}, reset: () => {}, counters: () => ({}),
  };
  return { device, callback: fromEventLoop(() => host, () => { throw new Error('device bug'); }) };
}

test('what a device\'s own event-loop callback throws goes to its transport\'s onThrow, not up the event loop', () => {
  const { device, callback } = deviceWithCallback();
  const thrown: unknown[] = [];
  new MmioTransport(device, createTransportState(), { memory: new MockDriver().mem, raiseIrq: () => {},
    onThrow: (e) => thrown.push(e) });
  callback();
  assert.equal(thrown.length, 1);
  assert.match((thrown[0] as Error).message, /device bug/);
});

test('without a host, or a transport without onThrow, the error is thrown as it is', () => {
  assert.throws(() => fromEventLoop(() => undefined, () => { throw new Error('alone'); })(), /alone/);
  const { device, callback } = deviceWithCallback();
  new MmioTransport(device, createTransportState(), { memory: new MockDriver().mem, raiseIrq: () => {} });
  assert.throws(callback, /device bug/);
});
