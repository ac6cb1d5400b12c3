// vm.display.screenshot and GET /display/screenshot, over a gpu device driven by the mock driver (no machine): the
// PNG holds what the guest showed, and each way it cannot is an error with its own code, in the process and on the
// socket alike.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { WebSocket } from 'ws';
import { VmClient } from '../../src/api/client';
import { ApiController } from '../../src/api/controller';
import { VmError } from '../../src/api/errors';
import { ApiServer } from '../../src/api/server';
import type { Vm } from '../../src/api/vm';
import { VmDisplay } from '../../src/api/vm-display';
import type { GpuDevice } from '../../src/devices/gpu/device';
import { validateConfig } from '../../src/vmm/config';
import { failure } from '../helpers/api-failure';
import { flush, setup, showImage } from '../devices/gpu/harness';
import { readPng } from '../devices/gpu/png-reader';

let dir: string;
let kernel: string;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-display-'));
  kernel = path.join(dir, 'vmlinux');
  fs.writeFileSync(kernel, 'not run by these tests');
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A gpu with two scanouts, scanout 0 showing a 4 x 2 R8G8B8A8 image. */
async function shownImage(): Promise<{ gpu: GpuDevice; pixels: Buffer }> {
  const g = setup({ scanouts: 2 });
  const pixels = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 9) & 0xff));
  await showImage(g, 1, 67, 4, 2, pixels);
  return { gpu: g.dev, pixels };
}

const rejectsWith = (p: Promise<unknown>, code: string): Promise<void> =>
  assert.rejects(p, (e: unknown) => (e as { code?: unknown }).code === code);

test('vm.display.screenshot: the PNG of a scanout; no gpu, an empty scanout, a bad index each their own error', async () => {
  const { gpu, pixels } = await shownImage();
  let state = 'running';
  const check = (op: string): void => { if (state !== 'running') throw new VmError('ERR_VM_STATE', `cannot ${op}`); };
  const display = new VmDisplay({ gpu: () => gpu, check });
  const img = readPng(await display.screenshot());
  assert.deepEqual([img.width, img.height], [4, 2]);
  assert.deepEqual(img.rgba, pixels);
  await rejectsWith(display.screenshot(1), 'ERR_VM_NO_DISPLAY');
  await rejectsWith(display.screenshot(2), 'ERR_OUT_OF_RANGE');
  await rejectsWith(display.screenshot(-1), 'ERR_OUT_OF_RANGE');
  await rejectsWith(display.screenshot('0' as unknown as number), 'ERR_INVALID_ARG_TYPE');
  await rejectsWith(new VmDisplay({ gpu: () => undefined, check }).screenshot(), 'ERR_VM_NO_DEVICE');
  state = 'exited';
  await rejectsWith(display.screenshot(), 'ERR_VM_STATE');
});

test('GET /display/screenshot answers image/png; its errors are the in-process ones, with their status', async () => {
  const { gpu, pixels } = await shownImage();
  const config = validateConfig({ kernel, devices: [{ type: 'gpu', scanouts: 2 }] }, { baseDir: dir });
  const display = new VmDisplay({ gpu: () => gpu, check: () => undefined });
  const vm = { state: 'running', config, display } as unknown as Vm;
  const sock = path.join(dir, 'd.sock');
  const server = await ApiServer.listen(sock, new ApiController({ logger: pino({ level: 'silent' }), baseDir: dir, vm }));
  try {
    const client = new VmClient(sock);
    const img = readPng(await client.screenshot());
    assert.deepEqual(img.rgba, pixels);
    assert.deepEqual(readPng(await client.screenshot(0)).rgba, pixels);
    const empty = await failure(client.screenshot(1));
    assert.deepEqual([empty.status, empty.code], [409, 'ERR_VM_NO_DISPLAY']);
    for (const bad of [2, 'x', -1]) {
      const e = await failure(client.screenshot(bad as number));
      assert.deepEqual([e.status, e.field], [400, 'scanout'], `${bad}: ${e.message}`);
    }
    const noGpu = { state: 'running', config: validateConfig({ kernel }, { baseDir: dir }),
      display: new VmDisplay({ gpu: () => undefined, check: () => undefined }) } as unknown as Vm;
    const sock2 = path.join(dir, 'd2.sock');
    const server2 = await ApiServer.listen(sock2, new ApiController({ logger: pino({ level: 'silent' }), baseDir: dir, vm: noGpu }));
    try {
      const e = await failure(new VmClient(sock2).screenshot());
      assert.deepEqual([e.status, e.code], [409, 'ERR_VM_NO_DEVICE']);
    } finally {
      await server2.close();
    }
  } finally {
    await server.close();
  }
});

test('vm.display.serveWeb: a real gpu\'s flush reaches the browser; refusals name what is wrong; closeAll ends it', async () => {
  const g = setup({ scanouts: 2 });
  await showImage(g, 1, 67, 4, 2, Buffer.from(Array.from({ length: 32 }, (_, i) => i)));
  const display = new VmDisplay({ gpu: () => g.dev, check: () => undefined });
  await rejectsWith(new VmDisplay({ gpu: () => undefined, check: () => undefined }).serveWeb(), 'ERR_VM_NO_DEVICE');
  await rejectsWith(display.serveWeb({ scanout: 2 }), 'ERR_OUT_OF_RANGE');
  await rejectsWith(display.serveWeb({ port: 70000 }), 'ERR_OUT_OF_RANGE');
  await assert.rejects(display.serveWeb({ host: '0.0.0.0' } as never), /unknown option "host"/);
  const web = await display.serveWeb();
  assert.match(web.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{22,}$/);
  const ws = new WebSocket(web.url.replace('http://', 'ws://').replace('/?', '/ws?'));
  const messages: Buffer[] = [];
  let wake = (): void => {};
  ws.on('message', (data: Buffer) => { messages.push(data); wake(); });
  const next = async (): Promise<Buffer> => {
    while (messages.length === 0) await new Promise<void>((resolve) => { wake = resolve; });
    return messages.shift()!;
  };
  const full = await next();
  assert.deepEqual([8, 10].map((at) => full.readUInt16LE(at)), [4, 2]);
  assert.deepEqual([...full.subarray(16, 20)], [0, 1, 2, 3]);
  assert.equal(g.type(flush(1, [1, 1, 2, 1])), 0x1100);
  const rect = await next();
  assert.deepEqual([4, 6, 8, 10].map((at) => rect.readUInt16LE(at)), [1, 1, 2, 1]);
  assert.deepEqual([...rect.subarray(16)], [20, 21, 22, 23, 24, 25, 26, 27]);
  const closed = new Promise<number>((resolve) => ws.once('close', resolve));
  await display.closeAll();
  assert.equal(await closed, 1001);
  await rejectsWith(display.serveWeb(), 'ERR_VM_STATE');
});
