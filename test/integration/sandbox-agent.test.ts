// The sandbox agent in a real guest: the project's kernel with the sandbox initramfs (busybox init respawning
// tsvmm-agent) and a vsock device; the host reaches the agent through the device's unix socket with AgentClient.
// The agent's port comes from the kernel command line (tsvmm.agent_port=). Needs real hardware virtualization
// (on kvm_pvm guest user space cannot make system calls). The serial transcript is kept in .test-results/.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildGuest, type GuestArtifacts } from '../../src/guest/build';
import { AgentClient } from '../../src/sandbox';
import { validateConfig } from '../../src/vmm/config';
import { isPvmHost } from '../../src/vmm/host-quirks';
import { Machine } from '../../src/vmm/machine';
import { kvmUnavailable } from '../helpers/kvm';
import { resultsDir } from '../run/files';

const skip = kvmUnavailable() ?? (isPvmHost() ? 'guest user space cannot make system calls on kvm_pvm' : undefined);
// Under the nested test host a boot and each step can take minutes.
const BOOT_TIMEOUT_MS = Number(process.env.TSVMM_SANDBOX_BOOT_MS ?? 10 * 60_000);
const STEP_MS = 5 * 60_000;
const PORT = 2049;
const sha256 = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

describe('the sandbox agent in a Linux guest', { skip, timeout: 3 * BOOT_TIMEOUT_MS }, () => {
  let guest: GuestArtifacts;
  let dir: string;
  let machine: Machine | undefined;
  let client: AgentClient | undefined;
  let transcript = '';
  let ended: string | undefined;

  before(async () => {
    guest = await buildGuest({ log: (line) => process.stderr.write(`${line}\n`) });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-sandbox-'));
    fs.mkdirSync(resultsDir(), { recursive: true });
  }, { timeout: 40 * 60_000 });

  after(async () => {
    client?.close();
    await machine?.stop();
    fs.writeFileSync(path.join(resultsDir(), 'sandbox-agent.console.log'), transcript);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The console's tail, for a failure's message. */
  const tail = (): string => `\nconsole (last 3000 bytes):\n${transcript.slice(-3000)}`;

  it('boots, and the agent answers HELLO on the port the command line gave it', async () => {
    const socket = path.join(dir, 'v.sock');
    const config = validateConfig({
      kernel: guest.vmlinux, initrd: guest.sandboxInitramfs, memory: '512M', vcpus: 2, quirks: 'auto',
      serial: { mode: 'none' }, log: { level: 'warn' },
      cmdline: `console=ttyS0 reboot=k panic=-1 tsvmm.agent_port=${PORT}`,
      devices: [{ type: 'vsock', cid: 3, socket }],
    });
    machine = Machine.create(config, { consoleOutput: (c) => { transcript += c.toString('latin1'); } });
    machine.start();
    void machine.wait().then((e) => { ended = `${e.reason}: ${e.detail}`; });
    client = new AgentClient(socket, PORT, { connectTimeoutMs: 30_000, requestTimeoutMs: STEP_MS });
    const ac = new AbortController();
    void machine.wait().then(() => ac.abort());
    const info = await client.waitReady({ timeoutMs: BOOT_TIMEOUT_MS, intervalMs: 500, signal: ac.signal })
      .catch((e: unknown) => { throw new Error(`${e instanceof Error ? e.message : String(e)} (machine: ${ended ?? 'running'})${tail()}`); });
    process.stderr.write(`# ${info.name} answered, protocol ${info.version}, capabilities ${info.capabilities.join(' ')}\n`);
    assert.equal(info.version, 1);
    assert.match(transcript, new RegExp(`listening on vsock port ${PORT}`), 'the agent took its port from the cmdline');
  });

  it('runs echo and reports exit codes', async () => {
    assert.ok(client, 'the guest booted');
    const r = await client.exec('echo hello from $(hostname)', { timeoutMs: STEP_MS });
    assert.deepEqual(r, { exitCode: 0, signal: null, stdout: 'hello from sandbox\n', stderr: '' });
    assert.equal((await client.exec(['sh', '-c', 'exit 7'], { timeoutMs: STEP_MS })).exitCode, 7);
    await assert.rejects(client.exec(['no-such-command'], { timeoutMs: STEP_MS }), { code: 'NOT_FOUND' });
  });

  it('delivers 1 MiB of stdout whole', async () => {
    assert.ok(client, 'the guest booted');
    const r = await client.exec('head -c 1048576 /dev/urandom > /tmp/one && cat /tmp/one && sha256sum /tmp/one >&2',
      { encoding: 'buffer', timeoutMs: STEP_MS });
    assert.equal(r.exitCode, 0, r.stderr.toString());
    assert.equal(r.stdout.length, 1 << 20);
    assert.equal(r.stderr.toString().split(' ')[0], sha256(r.stdout));
  });

  it('writes a file into the guest and reads it back, checked on both sides', async () => {
    assert.ok(client, 'the guest booted');
    const data = crypto.randomBytes(8 << 20);
    assert.equal(await client.files.write('/tmp/in dir/data.bin', data, { parents: true, mode: 0o600 }), data.length);
    const sum = await client.exec(['sha256sum', '/tmp/in dir/data.bin'], { timeoutMs: STEP_MS });
    assert.equal(sum.stdout.split(' ')[0], sha256(data), 'the guest has the same bytes');
    const st = await client.files.stat('/tmp/in dir/data.bin');
    assert.deepEqual([st.kind, st.mode, st.size], ['file', 0o600, data.length]);
    assert.equal(sha256(await client.files.read('/tmp/in dir/data.bin')), sha256(data));
    assert.deepEqual((await client.files.list('/tmp/in dir')).map((e) => e.name), ['data.bin']);
    await client.files.remove('/tmp/in dir', { recursive: true });
    await assert.rejects(client.files.stat('/tmp/in dir'), { code: 'NOT_FOUND' });
  });

  it('runs a batch of 20 commands at once', async () => {
    assert.ok(client, 'the guest booted');
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      client!.exec(`sleep 0.5; echo ${i}; echo e${i} >&2; exit ${i % 5}`, { timeoutMs: STEP_MS })));
    results.forEach((r, i) => {
      assert.deepEqual([r.stdout, r.stderr, r.exitCode], [`${i}\n`, `e${i}\n`, i % 5]);
    });
  });

  it('a timeout kills the command in the guest, and the agent goes on serving', async () => {
    assert.ok(client, 'the guest booted');
    await assert.rejects(client.exec('sleep 1000 & sleep 1000', { timeoutMs: 2000 }), { code: 'TIMEOUT' });
    // The agent reaps the killed background sleep too (it is a subreaper); give that a moment in guest time.
    const left = await client.exec(
      "for i in $(seq 100); do ps -o comm,stat | grep -q '^sleep  *[^Z]' || exit 0; sleep 0.1; done; ps -o pid,comm,stat; exit 1",
      { timeoutMs: STEP_MS });
    assert.equal(left.exitCode, 0, `no sleep left running:\n${left.stdout}`);
  });
});
