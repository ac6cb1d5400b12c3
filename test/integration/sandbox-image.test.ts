// Sandboxes booted from ext4 root images (`tsvmm image build`): the project's kernel with no initrd, the image a
// read-only virtio-blk root and the agent as init. One image built --from a small folder (busybox and a file) serves
// two sandboxes at once, each with its own writable /tmp; a Debian bookworm minbase image runs python3. The Debian
// image needs the network to build: `npm test` builds it before the test host starts (test/helpers/debian-image.ts)
// and a failed build fails this test with its reason. Needs real hardware virtualization (on kvm_pvm guest user
// space cannot make system calls); under the nested test host every wait is long and says what it waited for.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Sandbox } from '../../src/api/sandbox';
import { BUSYBOX_PATH } from '../../src/guest/paths';
import { isPvmHost } from '../../src/vmm/host-quirks';
import { BIN, REPO } from '../helpers/cli-run';
import { debianTestImage } from '../helpers/debian-image';
import { kvmUnavailable } from '../helpers/kvm';
import { bootSandbox, SANDBOX_BOOT_MS as BOOT_MS } from '../helpers/sandbox-boot';
import { resultsDir } from '../run/files';

const skip = kvmUnavailable() ?? (isPvmHost() ? 'guest user space cannot make system calls on kvm_pvm' : undefined);
const STEP_MS = 5 * 60_000;
const log = (line: string): void => void process.stderr.write(`${line}\n`);

/** Runs `tsvmm ARGS`; rejects, saying what it ran and its stderr, when it fails or has not ended within `ms`. */
function tsvmm(args: string[], ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tsvmm ${args.join(' ')} did not end within ${ms} ms; stderr:\n${stderr}`));
    }, ms);
    child.on('close', (status) => {
      clearTimeout(timer);
      if (status === 0) resolve(stderr);
      else reject(new Error(`tsvmm ${args.join(' ')} ended with ${status}; stderr:\n${stderr}`));
    });
  });
}

/** Boots a sandbox from `image`, naming what failed (with its console) if the guest does not come up. */
function boot(image: string, what: string): Promise<Sandbox> {
  return bootSandbox({ image, memory: '256M', execTimeoutMs: STEP_MS }, what, 'sandbox-image');
}

/** A root folder with busybox (its applets as links) and /etc/greeting: the agent is added by the build. */
function smallTree(dir: string): string {
  const root = path.join(dir, 'root');
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(root, 'etc'));
  fs.copyFileSync(BUSYBOX_PATH, path.join(root, 'bin', 'busybox'));
  fs.chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
  for (const applet of ['sh', 'cat', 'echo', 'grep', 'touch', 'ls']) fs.symlinkSync('busybox', path.join(root, 'bin', applet));
  fs.writeFileSync(path.join(root, 'etc', 'greeting'), 'hello from the image\n');
  return root;
}

describe('sandboxes booted from ext4 root images', { skip, timeout: 8 * BOOT_MS }, () => {
  let dir: string;
  const booted: { name: string; sb: Sandbox }[] = [];

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-sandbox-image-'));
  });

  after(async () => {
    fs.mkdirSync(resultsDir(), { recursive: true });
    for (const { name, sb } of booted) {
      fs.writeFileSync(path.join(resultsDir(), `sandbox-image-${name}.console.log`), sb.consoleTail());
      await sb.close();
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('an image built --from a folder serves two sandboxes at once, each with its own /tmp on a read-only root', async () => {
    const image = path.join(dir, 'small.img');
    await tsvmm(['image', 'build', '--from', smallTree(dir), '-o', image], STEP_MS);
    // Both at once; one that booted is closed by after() even when the other failed.
    const tries = await Promise.allSettled([boot(image, 'the first sandbox of small.img'),
      boot(image, 'the second sandbox of small.img')]);
    tries.forEach((t, i) => { if (t.status === 'fulfilled') booted.push({ name: `small-${'ab'[i]!}`, sb: t.value }); });
    for (const t of tries) if (t.status === 'rejected') throw t.reason;
    const [a, b] = booted.map((x) => x.sb) as [Sandbox, Sandbox];
    for (const sb of [a, b]) {
      assert.deepEqual(await sb.exec('cat /etc/greeting'), { exitCode: 0, signal: null, stdout: 'hello from the image\n', stderr: '' });
    }
    assert.deepEqual(await a.exec('echo written > /tmp/note && cat /tmp/note'),
      { exitCode: 0, signal: null, stdout: 'written\n', stderr: '' });
    assert.notEqual((await b.exec('cat /tmp/note')).exitCode, 0, 'each sandbox has its own /tmp');
    assert.equal((await a.exec('grep -c " /tmp tmpfs " /proc/mounts')).stdout, '1\n');
    const ro = await a.exec('touch /etc/new');
    assert.notEqual(ro.exitCode, 0, 'the root is read-only');
    assert.match(ro.stderr, /Read-only file system/);
  });

  it('a Debian bookworm minbase image with python3-minimal runs python3', async () => {
    const image = await debianTestImage(log);
    const sb = await boot(image, `the Debian image ${image}`);
    booted.push({ name: 'debian', sb });
    assert.deepEqual(await sb.exec(['python3', '-c', 'print(6*7)']), { exitCode: 0, signal: null, stdout: '42\n', stderr: '' });
    const tmp = await sb.exec(['python3', '-c', 'import tempfile; f = tempfile.NamedTemporaryFile(); f.write(b"x"); f.flush(); print(f.name[:5])']);
    assert.deepEqual([tmp.exitCode, tmp.stdout], [0, '/tmp/\n'], tmp.stderr);
  });
});
