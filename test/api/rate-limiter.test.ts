// Setting rate limiters at run time: Vm.setRateLimiter's argument checks, and PUT /devices/{index}/rate-limiter in
// front of a stand-in machine (the route's checks, what reaches the machine, what the client sends).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import { VmClient } from '../../src/api/client';
import { ApiController } from '../../src/api/controller';
import { VmError } from '../../src/api/errors';
import { rateLimiterArgs } from '../../src/api/rate-limiter-args';
import { ApiServer } from '../../src/api/server';
import type { Vm } from '../../src/api/vm';
import type { RateLimiterConfig } from '../../src/devices/rate-limiter';
import { validateConfig } from '../../src/vmm/config';
import { failure } from '../helpers/api-failure';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-rate-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
fs.writeFileSync(path.join(dir, 'vmlinux'), 'not run by these tests');
fs.writeFileSync(path.join(dir, 'disk.img'), Buffer.alloc(4096));
const config = validateConfig({
  kernel: 'vmlinux', devices: [{ type: 'blk', path: 'disk.img' }, { type: 'net' }, { type: 'rng' }],
}, { baseDir: dir });

const OPS = { ops: { size: 10, refillTime: 100 } };

test('the limiter and direction are checked down to the field, with Node\'s codes', () => {
  const bad: [unknown, unknown, number, string, RegExp][] = [
    [{ ops: { size: 0, refillTime: 1 } }, undefined, 0, 'ERR_OUT_OF_RANGE', /"limiter\.ops\.size" is out of range/],
    [{ ops: { size: 1 } }, undefined, 0, 'ERR_INVALID_ARG_TYPE', /"limiter\.ops\.refillTime" argument must be an integer/],
    [{ bandwidth: { size: 1, refillTime: 1, oneTimeBurst: 0.5 } }, undefined, 0, 'ERR_OUT_OF_RANGE',
      /"limiter\.bandwidth\.oneTimeBurst"/],
    [{ ops: { size: 1, refillTime: 1, burst: 3 } }, undefined, 0, 'ERR_INVALID_ARG_VALUE', /unknown option "burst"/],
    [{ bandwidth: null }, undefined, 0, 'ERR_INVALID_ARG_TYPE', /"limiter\.bandwidth" argument must be an object/],
    [undefined, undefined, 0, 'ERR_INVALID_ARG_TYPE', /"limiter" argument must be an object/],
    [OPS, 'up', 1, 'ERR_INVALID_ARG_VALUE', /"direction" argument must be one of rx, tx or left out/],
    [OPS, 'rx', 0, 'ERR_INVALID_ARG_VALUE', /devices\[0\] is a disk/],
    [OPS, undefined, 2, 'ERR_VM_NO_DEVICE', /devices\[2\] is a rng device, which has no rate limiter/],
  ];
  for (const [limiter, direction, device, code, message] of bad) {
    assert.throws(() => rateLimiterArgs(config, device, limiter, direction), (e: Error & { code?: string }) => {
      assert.equal(e.code, code, e.message);
      assert.match(e.message, message);
      return true;
    });
  }
  assert.deepEqual(rateLimiterArgs(config, 1, { ...OPS, bandwidth: undefined }, 'tx'), { limiter: OPS, direction: 'tx' });
  assert.deepEqual(rateLimiterArgs(config, 0, null, undefined), { limiter: undefined, direction: undefined });
  assert.deepEqual(rateLimiterArgs(config, 0, {}, undefined), { limiter: undefined, direction: undefined });
});

test('PUT /devices/{index}/rate-limiter: 400 naming the field, 409 for a device without one, the rest reaches the machine',
  async () => {
    const calls: [number, RateLimiterConfig | null, string | undefined][] = [];
    const vm = {
      state: 'running', config,
      setRateLimiter: (device: number, limiter: RateLimiterConfig | null, direction?: string) => {
        calls.push([device, limiter, direction]);
      },
    } as unknown as Vm;
    const sock = path.join(dir, 'api.sock');
    const server = await ApiServer.listen(sock, new ApiController({ logger: pino({ level: 'silent' }), baseDir: dir, vm }));
    try {
      const client = new VmClient(sock);
      const put = (index: number, body: unknown) => client.request('PUT', `/devices/${index}/rate-limiter`, body);
      const bad: [number, unknown, string, RegExp][] = [
        [0, { bandwidth: { size: 0, refillTime: 10 } }, 'bandwidth.size', /^bandwidth\.size: 0 is out of range 1\.\./],
        [0, { ops: { size: 1 } }, 'ops.refillTime', /^ops\.refillTime: required$/],
        [1, { ops: { size: 1, refillTime: 10, x: 1 } }, 'ops.x', /^ops\.x: unknown key/],
        [1, { direction: 'in', ...OPS }, 'direction', /^direction: "in" is not one of rx, tx$/],
        [0, { direction: 'rx', ...OPS }, 'direction', /^direction: a disk has one limiter/],
        [1, { opps: {} }, 'opps', /^opps: unknown key \(did you mean ops\?\)/],
      ];
      for (const [index, body, field, message] of bad) {
        const e = await failure(put(index, body));
        assert.deepEqual([e.status, e.field], [400, field], e.message);
        assert.match(e.message, message);
      }
      const rng = await failure(put(2, OPS));
      assert.deepEqual([rng.status, rng.code], [409, 'ERR_VM_NO_DEVICE']);
      assert.equal((await failure(put(3, OPS))).status, 404);
      assert.equal(calls.length, 0, 'nothing bad reached the machine');

      await client.setRateLimiter(0, { bandwidth: { size: 4096, oneTimeBurst: 1, refillTime: 10 } });
      await client.setRateLimiter(1, OPS, 'rx');
      await client.setRateLimiter(1, null, 'tx');
      await client.setRateLimiter(1, null);
      assert.deepEqual(calls, [
        [0, { bandwidth: { size: 4096, oneTimeBurst: 1, refillTime: 10 } }, undefined],
        [1, OPS, 'rx'],
        [1, {}, 'tx'],
        [1, null, undefined],
      ]);
      const e = await failure(client.request('PUT', '/devices/1/rate-limiter', undefined));
      assert.equal(e.status, 400, 'a body is required (null removes)');
    } finally {
      await server.close();
    }
  });

test('a stand-in machine\'s refusal reaches the client with its code', async () => {
  const vm = {
    state: 'exited', config,
    setRateLimiter: () => { throw new VmError('ERR_VM_STATE', 'cannot set a rate limiter: the machine is exited'); },
  } as unknown as Vm;
  const sock = path.join(dir, 'ended.sock');
  const server = await ApiServer.listen(sock, new ApiController({ logger: pino({ level: 'silent' }), baseDir: dir, vm }));
  try {
    const e = await failure(new VmClient(sock).setRateLimiter(0, OPS));
    assert.deepEqual([e.status, e.code], [409, 'ERR_VM_STATE']);
  } finally {
    await server.close();
  }
});
