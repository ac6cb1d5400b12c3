// Sandboxes end to end in real guests: createSandbox() boots the project's kernel with the sandbox initramfs, and
// the Node API, the control socket (`tsvmm exec`) and `tsvmm sandbox run` drive commands and files there
// (sandbox-fleet.test.ts runs four at once and kills an agent). Needs real hardware virtualization (on kvm_pvm guest
// user space cannot make system calls). Under the nested test host everything is 10-100 times slower: every wait is
// bounded, long, and says what it waited for.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { Sandbox } from '../../src/api/sandbox';
import { serveVm, type ApiServer } from '../../src/api/server';
import { AgentError } from '../../src/sandbox';
import { isPvmHost } from '../../src/vmm/host-quirks';
import { BIN, REPO } from '../helpers/cli-run';
import { kvmUnavailable } from '../helpers/kvm';
import { bootSandbox, SANDBOX_BOOT_MS as BOOT_MS } from '../helpers/sandbox-boot';
import { resultsDir } from '../run/files';

const skip = kvmUnavailable() ?? (isPvmHost() ? 'guest user space cannot make system calls on kvm_pvm' : undefined);
const STEP_MS = 5 * 60_000;
const sha256 = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

/** Runs `tsvmm ARGS` as a user would; rejects, saying what it ran, when it has not ended within `ms`. */
function tsvmm(args: string[], ms: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tsvmm ${args.join(' ')} did not end within ${ms} ms; stderr:\n${stderr}`));
    }, ms);
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

/** Each sandbox's writable space (its /tmp): room for the 64 MiB file below, and a limit a test can reach. */
const DISK = '96M';

/** Boots a sandbox, naming what failed (with its console) if the guest does not come up. */
function boot(memory: string, what: string): Promise<Sandbox> {
  return bootSandbox({ memory, diskSize: DISK, execTimeoutMs: STEP_MS }, what, 'sandbox-api');
}

describe('sandboxes in Linux guests', { skip, timeout: 6 * BOOT_MS }, () => {
  let sb: Sandbox;
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-sandbox-api-'));
    sb = await boot('512M', 'the main sandbox');
  }, { timeout: 40 * 60_000 });

  after(async () => {
    fs.mkdirSync(resultsDir(), { recursive: true });
    // Unset when the boot in `before` failed.
    const booted = sb as Sandbox | undefined;
    if (booted) fs.writeFileSync(path.join(resultsDir(), 'sandbox-api.console.log'), booted.consoleTail());
    await booted?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs echo; exit codes 0, 1 and 255; a death by signal; stderr apart', async () => {
    assert.deepEqual(await sb.exec('echo hello from $(hostname)'),
      { exitCode: 0, signal: null, stdout: 'hello from sandbox\n', stderr: '' });
    for (const code of [0, 1, 255]) assert.equal((await sb.exec(['sh', '-c', `exit ${code}`])).exitCode, code);
    const killed = await sb.exec('echo before; kill -KILL $$');
    assert.deepEqual([killed.exitCode, killed.signal, killed.stdout], [null, 'SIGKILL', 'before\n']);
    const both = await sb.exec('echo out; echo err >&2');
    assert.deepEqual([both.stdout, both.stderr], ['out\n', 'err\n']);
  });

  it('delivers 16 MiB of stdout whole, and takes stdin through sha256sum', async () => {
    const big = await sb.exec('head -c 16777216 /dev/urandom | tee /tmp/big | sha256sum >&2; cat /tmp/big; rm /tmp/big',
      { encoding: 'buffer' });
    assert.equal(big.exitCode, 0, big.stderr.toString());
    assert.equal(big.stdout.length, 16 << 20);
    assert.equal(big.stderr.toString().split(' ')[0], sha256(big.stdout));
    const input = crypto.randomBytes(4 << 20);
    assert.equal((await sb.exec(['sha256sum'], { stdin: input })).stdout.split(' ')[0], sha256(input));
  });

  it('sets env and cwd; a missing command is NOT_FOUND', async () => {
    const r = await sb.exec('echo "$GREETING"; pwd', { env: { GREETING: 'hi there' }, cwd: '/tmp' });
    assert.equal(r.stdout, 'hi there\n/tmp\n');
    await assert.rejects(sb.exec(['no-such-command']), { code: 'NOT_FOUND' });
  });

  it('a timeout kills the whole tree, says which limit, and the agent goes on serving', async () => {
    await assert.rejects(sb.exec('sleep 1000 & sleep 1000', { timeoutMs: 3000 }),
      (e: unknown) => e instanceof AgentError && e.code === 'TIMEOUT' && /\(timeoutMs\)/.test(e.message));
    const left = await sb.exec(
      "for i in $(seq 300); do ps -o comm,stat | grep -q '^sleep  *[^Z]' || exit 0; sleep 0.1; done; ps -o pid,comm,stat; exit 1");
    assert.equal(left.exitCode, 0, `no sleep left running:\n${left.stdout}`);
  });

  it('runs 20 commands at once', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      sb.exec(`sleep 0.5; echo ${i}; echo e${i} >&2; exit ${i % 5}`)));
    results.forEach((r, i) => assert.deepEqual([r.stdout, r.stderr, r.exitCode], [`${i}\n`, `e${i}\n`, i % 5]));
  });

  it('moves 64 MiB in and out, checked on both sides, under a name with spaces and non-ASCII', async () => {
    const data = crypto.randomBytes(64 << 20);
    const file = '/tmp/a dir/dätä ✓.bin';
    const pieces = Readable.from((function* chunks() {
      for (let off = 0; off < data.length; off += 1 << 20) yield data.subarray(off, off + (1 << 20));
    })());
    assert.equal(await sb.files.write(file, pieces, { parents: true }), data.length);
    assert.equal((await sb.exec(['sha256sum', file])).stdout.split(' ')[0], sha256(data), 'the guest has the same bytes');
    assert.equal(sha256(await sb.files.read(file)), sha256(data));
    assert.deepEqual((await sb.files.list('/tmp/a dir')).map((e) => [e.name, e.size]), [['dätä ✓.bin', data.length]]);
    await sb.files.remove('/tmp/a dir', { recursive: true });
    await assert.rejects(sb.files.stat(file), { code: 'NOT_FOUND' });
  });

  it('diskSize bounds the writable space: /tmp has that size, and a write past it fails with ENOSPC', async () => {
    const df = await sb.exec(['df', '-k', '/tmp']);
    assert.match(df.stdout, /\s98304\s/, `df: ${df.stdout}`);
    const fill = await sb.exec('dd if=/dev/zero of=/tmp/fill bs=1M count=128');
    assert.notEqual(fill.exitCode, 0, 'dd ran out of room');
    assert.match(fill.stderr, /No space left on device/);
    assert.equal((await sb.exec('rm /tmp/fill')).exitCode, 0);
  });

  it('tsvmm exec runs a command through the control socket, with its status', async () => {
    const sock = path.join(dir, 'api.sock');
    const server: ApiServer = await serveVm(sb.vm, sock);
    try {
      const r = await tsvmm(['exec', '--api-sock', sock, '--', 'sh', '-c', 'echo via socket; echo e >&2; exit 5'], STEP_MS);
      assert.deepEqual([r.status, r.stdout, r.stderr], [5, 'via socket\n', 'e\n']);
    } finally {
      await server.close();
    }
  });

  it('tsvmm sandbox run boots its own sandbox and exits with the command\'s status', async () => {
    const r = await tsvmm(['sandbox', 'run', '--boot-timeout', String(BOOT_MS / 1000), '--', 'sh', '-c', 'echo inside; exit 7'],
      BOOT_MS + STEP_MS);
    assert.equal(r.status, 7, r.stderr);
    assert.equal(r.stdout, 'inside\n');
  });
});
