// `tsvmm run --api-sock` on /dev/kvm, driven by the library's client the way a supervisor would: configured through
// the socket, paused, resumed, counted and stopped while busy; one server per socket; clients that leave mid-request;
// and the example script that boots a kernel through the API.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClientError, VmClient } from '../../src/api/client';
import { REPO, startVmm } from '../helpers/cli-run';
import { kvmUnavailable } from '../helpers/kvm';
import { GUEST_CODE, pvhElf } from '../helpers/pvh-elf';

const skip = kvmUnavailable();

/**
 * A safety net for each wait: they end on what they wait for, but under emulated KVM starting node takes seconds
 * and an exit up to a tenth of a millisecond.
 */
const LIMIT_MS = 300_000;

/** The child's exit status, failing with what it was doing when it did not end by itself. */
function endedAlone(r: ReturnType<typeof spawnSync>, what: string): number | null {
  if (r.error || r.signal) {
    assert.fail(`${what}: ${r.error?.message ?? `killed by ${r.signal}`} (limit ${LIMIT_MS} ms)\nstderr: ${String(r.stderr)}`);
  }
  return r.status;
}

describe('the control socket on /dev/kvm', { skip, timeout: 6 * LIMIT_MS }, () => {
  let dir: string;
  const kernel = (name: keyof typeof GUEST_CODE): string => path.join(dir, `${name}.elf`);

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-api-sock-'));
    for (const name of Object.keys(GUEST_CODE) as (keyof typeof GUEST_CODE)[]) fs.writeFileSync(kernel(name), pvhElf(GUEST_CODE[name]));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('takes its config through the socket, boots, pauses, resumes, counts, and stops a busy guest', async () => {
    const sock = path.join(dir, 'one.sock');
    const vmm = startVmm(['run', '--api-sock', sock, '--log-level', 'warn']);
    const client = new VmClient(sock);
    assert.equal((await client.ready(LIMIT_MS)).state, 'unconfigured');
    await client.putConfig({ kernel: kernel('printLoop'), memory: 64, vcpus: 2 });
    await client.start();
    await vmm.waitFor('go\n', LIMIT_MS);
    await assert.rejects(client.putConfig({ kernel: kernel('printLoop') }), { status: 409 });
    await client.pause();
    assert.equal((await client.info()).state, 'paused');
    const frozen = (await client.counters()).vcpus.map((v) => v.exits.io);
    // Proving that nothing happens takes a window of time; no event can stand for it. A running printLoop makes
    // exits back to back, so any window shows one, even under emulation.
    await sleep(200);
    assert.deepEqual((await client.counters()).vcpus.map((v) => v.exits.io), frozen, 'no exits while paused');
    await client.resume();
    let now = frozen;
    const reading = async (): Promise<void> => {
      for (;;) {
        now = (await client.counters()).vcpus.map((v) => v.exits.io);
        if (now[0]! > frozen[0]!) return;
        await sleep(20);
      }
    };
    let gaveUp: NodeJS.Timeout | undefined;
    await Promise.race([reading(), new Promise<never>((_, reject) => {
      gaveUp = setTimeout(() => reject(new Error(`no port I/O exit of vCPU 0 within ${LIMIT_MS} ms of the resume ` +
        `(still ${now[0]})`)), LIMIT_MS);
    })]).finally(() => clearTimeout(gaveUp));
    const exit = await client.stop({ timeoutMs: 0 });
    assert.deepEqual(exit, { reason: 'stopped', detail: 'stopped by force', status: 0 });
    const { code } = await vmm.exited;
    assert.equal(code, 0, vmm.stderr());
    assert.equal(fs.existsSync(sock), false, 'the socket file is removed at exit');
  });

  it('refuses a second tsvmm on a socket in use; survives clients that leave mid-request', async () => {
    const sock = path.join(dir, 'two.sock');
    const first = startVmm(['run', '--kernel', kernel('helloThenSpin'), '--memory', '64M', '--on-halt', 'wait', '--api-sock', sock]);
    await first.waitFor('hi\n', LIMIT_MS);
    const client = new VmClient(sock);
    assert.equal((await client.info()).state, 'running', 'a machine given at launch boots at once');

    const second = startVmm(['run', '--kernel', kernel('helloThenSpin'), '--memory', '64M', '--on-halt', 'wait', '--api-sock', sock]);
    const refused = await second.exited;
    assert.equal(refused.code, 2);
    assert.equal(second.stderr(), `tsvmm: apiSocket: ${sock} is in use by a running server\n`);

    // A long request whose client goes away, and a body cut off halfway.
    const waiting = http.request({ socketPath: sock, path: '/exit', method: 'GET', agent: false });
    waiting.on('error', () => {});
    waiting.end();
    // The whole request has reached the socket: the server may be holding it when the client leaves.
    await once(waiting, 'finish');
    waiting.destroy();
    await new Promise<void>((resolve) => {
      const s = net.connect(sock, () => {
        s.write('PUT /actions HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n{"action":', () => { s.destroy(); resolve(); });
      });
    });
    assert.equal((await client.info()).state, 'running', 'the half-sent action did nothing');
    assert.equal((await client.counters()).vcpus.length, 1);
    const balloon = await client.setBalloonTarget(16).catch((e: unknown) => e);
    assert.ok(balloon instanceof ApiClientError);
    assert.equal(balloon.status, 409);
    assert.match(balloon.message, /^this machine has no balloon device/);
    const button = await client.powerButton().catch((e: unknown) => e);
    assert.ok(button instanceof ApiClientError, 'no ACPI, so no power button to press');
    assert.equal(button.status, 409);
    assert.match(button.message, /no power button \(it needs acpi: on\)/);

    const [exit] = await Promise.all([client.waitForExit(), client.stop({ timeoutMs: 200 })]);
    assert.equal(exit.reason, 'stopped');
    assert.equal((await first.exited).code, 0, first.stderr());
  });

  it('sets the balloon target through the socket and reads the balloon back', async () => {
    const sock = path.join(dir, 'three.sock');
    const vmm = startVmm(['run', '--api-sock', sock, '--log-level', 'warn']);
    const client = new VmClient(sock);
    await client.ready(LIMIT_MS);
    await client.putConfig({ kernel: kernel('helloThenSpin'), memory: 64, onHalt: 'wait', devices: [{ type: 'balloon' }] });
    await client.start();
    await vmm.waitFor('hi\n', LIMIT_MS);
    await client.setBalloonTarget(8);
    assert.deepEqual(await client.balloonStats(), { targetPages: 2048, actualPages: 0, inflatedPages: 0, deflatedPages: 0 });
    const tooBig = await client.setBalloonTarget(65).catch((e: unknown) => e);
    assert.ok(tooBig instanceof ApiClientError);
    assert.deepEqual([tooBig.status, tooBig.field], [400, 'targetMiB']);
    assert.equal((await client.counters()).devices[0]!.type, 'balloon');
    await client.stop({ timeoutMs: 0 });
    assert.equal((await vmm.exited).code, 0, vmm.stderr());
  });

  it('examples/boot-through-api boots a kernel through the API and reads its output', () => {
    const r = spawnSync(process.execPath, [path.join(REPO, 'dist', 'examples', 'boot-through-api.js'), kernel('printLoop'),
      '--expect', 'go\n', '--seconds', String(LIMIT_MS / 1000)], { encoding: 'latin1', timeout: 2 * LIMIT_MS });
    assert.equal(endedAlone(r, 'the example waiting for the guest\'s "go\\n"'), 0, r.stderr);
    assert.match(r.stdout, /^go\n\./);
    assert.match(r.stderr, /machine ended: stopped [^\n]*\n\[example\] tsvmm exit status 0/);
  });

  it('examples/boot-through-api with no kernel boots the tiny test kernel and reads its verdict', () => {
    const r = spawnSync(process.execPath, [path.join(REPO, 'dist', 'examples', 'boot-through-api.js'), '--seconds', String(LIMIT_MS / 1000)],
      { encoding: 'latin1', timeout: 2 * LIMIT_MS });
    assert.equal(endedAlone(r, 'the example waiting for the tiny kernel\'s rng verdict'), 0, r.stderr);
    assert.match(r.stdout, /TSVMM-DATA: rng bytes=65536 /);
    assert.match(r.stdout, /TSVMM-TEST: PASS rng/);
    assert.match(r.stderr, /tsvmm exit status 0/);
  });
});
