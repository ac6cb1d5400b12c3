import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { VmConsole } from '../../src/api/console';

function fakePort(room: number[]) {
  const calls = { hold: 0, release: 0, input: [] as number[][] };
  return {
    calls,
    port: {
      hold: () => { calls.hold++; },
      release: () => { calls.release++; },
      input: (bytes: Uint8Array) => {
        const n = Math.min(bytes.length, room.shift() ?? bytes.length);
        calls.input.push([...bytes.subarray(0, n)]);
        return n;
      },
    },
  };
}

test('a reader that falls behind holds the console once; reading again releases it', async () => {
  const c = new VmConsole();
  const { port, calls } = fakePort([]);
  c.attach(port);
  const chunk = Buffer.alloc(16 * 1024, 0x41);
  for (let i = 0; i < 8; i++) c.deliver(chunk);
  assert.equal(calls.hold, 1, 'held once the readable buffer passed its high-water mark');
  let got = 0;
  c.on('data', (d: Buffer) => { got += d.length; });
  await new Promise((r) => setImmediate(r));
  assert.equal(got, 8 * chunk.length, 'nothing delivered was lost');
  assert.equal(calls.release, 1);
  c.close();
  await once(c, 'end');
});

test('input waits for room in the guest\'s FIFO; writes after the end are dropped', async () => {
  const c = new VmConsole();
  const { port, calls } = fakePort([2, 0, 1]);
  c.attach(port);
  await new Promise<void>((resolve, reject) => c.write(Buffer.from('hello'), (e) => (e ? reject(e) : resolve())));
  assert.deepEqual(calls.input.flat(), [...Buffer.from('hello')]);
  assert.ok(calls.input.length >= 4, 'retried until every byte fitted');
  const stuck = fakePort([0, 0, 0, 0, 0, 0, 0, 0]);
  const d = new VmConsole();
  d.attach(stuck.port);
  const pending = new Promise<void>((resolve) => d.write(Buffer.from('x'), () => resolve()));
  d.close();
  await pending; // the machine ended: the write is given up, not left hanging
});
