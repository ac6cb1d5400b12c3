// The virtio-iommu in a snapshot: a restored IOMMU translates an endpoint's addresses as the old one did (domains,
// endpoints, mappings with their rights), keeps the faults waiting for an event buffer, and refuses state no
// sequence of requests could have made, naming the field.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DMA_READ, DMA_WRITE } from '../../../src/base/guest-memory';
import { IommuDevice } from '../../../src/devices/iommu/device';
import { S } from '../../../src/devices/iommu/wire';
import { attach, map, setup } from './harness';

const IOVA = 0x4000_0000;

test('a restored IOMMU translates as the old one did, rights included', () => {
  const s = setup();
  assert.equal(s.status(attach(7, 1)), S.OK);
  assert.equal(s.status(map(7, IOVA, IOVA + 0xfff, 0x3000, 1)), S.OK); // read only
  assert.equal(s.status(map(7, IOVA + 0x1000, IOVA + 0x1fff, 0x9000, 3)), S.OK);
  const saved = JSON.parse(JSON.stringify(s.dev.snapshotState())) as unknown;
  assert.deepEqual(saved, { domains: [{ id: 7, endpoints: [1], mappings: [[IOVA, IOVA + 0xfff, 0x3000, 1],
    [IOVA + 0x1000, IOVA + 0x1fff, 0x9000, 3]] }], faults: [] });

  const b = new IommuDevice({ endpoints: [1, 2] });
  b.restoreState(saved);
  const memory = b.endpointMemory(1, s.mem);
  s.mem.writeU32(0x3000, 0xfeedf00d);
  assert.equal(Buffer.from(memory.tryBytes(IOVA, 4, DMA_READ)!).readUInt32LE(0), 0xfeedf00d);
  assert.equal(memory.tryBytes(IOVA, 4, DMA_WRITE), null, 'read-only stays read-only');
  assert.notEqual(memory.tryBytes(IOVA + 0x1000, 4, DMA_WRITE), null);
  assert.equal(b.endpointMemory(2, s.mem).tryBytes(IOVA, 4, DMA_READ), null, 'endpoint 2 was attached to nothing');
  assert.deepEqual(b.counters().domains, 1);
});

test('iommu state no requests could have made is refused, and leaves no domain', () => {
  const b = new IommuDevice({ endpoints: [1, 2] });
  const one = (mappings: unknown[], endpoints: unknown[] = [1]): unknown => ({ domains: [{ id: 1, endpoints, mappings }], faults: [] });
  const bad = (state: unknown, pattern: RegExp): void => {
    assert.throws(() => b.restoreState(state), pattern);
    assert.equal(b.counters().domains, 0);
  };
  bad(one([[0, 0xfff, 0, 3], [0x800, 0x1fff, 0, 3]]), /mappings\[1\] is not a mapping a MAP would make/);
  bad(one([[0x2000, 0x1000, 0, 3]]), /mappings\[0\] is not a mapping/);
  bad(one([[0, 0xfff, 0, 8]]), /mappings\[0\]\[3\] is 8/);
  bad(one([], [5]), /endpoints\[0\] 5 is not a device behind this IOMMU/);
  bad(one([], []), /has no endpoint/);
  bad({ domains: [{ id: 1, endpoints: [1], mappings: [] }, { id: 2, endpoints: [1], mappings: [] }], faults: [] },
    /attached twice/);
  bad({ domains: [], faults: [[1, 0, 1, 'x']] }, /faults\[0\] address/);
});
