// The virtio-fs device against a real FUSE client: the host kernel's own. Requests read from /dev/fuse are fed
// to the device as virtqueue chains (the wire format is the same one virtio-fs carries) and its replies written
// back, while shell commands in a child process work on the mount. This exercises the device with a full user
// space, which guests cannot have on hosts whose KVM emulates the guest kernel. Needs root and /dev/fuse.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { FuseClient } from '../devices/fs/fuse-client';

function unavailable(): string | undefined {
  if (process.geteuid?.() !== 0) return 'mounting a FUSE file system needs root';
  try {
    fs.accessSync('/dev/fuse', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return '/dev/fuse is not usable here';
  }
  return undefined;
}

/**
 * Runs a command without blocking this thread, which must keep serving the mount. Nothing here may touch the
 * mount synchronously: not even spawn's `cwd` (libuv waits for the child's exec, and the child's chdir waits on
 * this thread), so commands cd into the mount themselves.
 */
function run(cmd: string, args: string[], fd?: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: fd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe', fd] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err}\n${out}`))));
  });
}

/** Serves /dev/fuse through the device until the mount goes away. */
async function bridge(c: FuseClient, fuseFd: number): Promise<void> {
  const buf = Buffer.alloc((1 << 20) + 64 * 1024);
  const deadline = Date.now() + 10_000;
  let connected = false;
  for (;;) {
    let n: number;
    try {
      n = await new Promise<number>((resolve, reject) =>
        fs.read(fuseFd, buf, 0, buf.length, null, (e, k) => (e ? reject(e) : resolve(k))));
      connected = true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENODEV') return; // unmounted
      // Until mount(2) has attached the fd to a connection, reads fail with EPERM.
      if (code === 'EPERM' && !connected && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      throw e;
    }
    const { usedLen, bytes } = await c.exchange(Buffer.from(buf.subarray(0, n)), (1 << 20) + 4096);
    if (usedLen === 0) continue; // FORGET and friends have no reply
    try {
      fs.writeSync(fuseFd, bytes);
    } catch (e) {
      // The kernel gave up on that request (an interrupted caller): nothing to answer.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

const SCRIPT = `
set -e
umask 022
echo hello > a.txt
cat a.txt
stat -c '%a %s %U' a.txt
mkdir -p d/e/f
echo deep > d/e/f/g
cat d/e/f/g
mv a.txt d/b.txt
ln -s b.txt d/link
readlink d/link
cat d/link
ln d/b.txt hard
stat -c '%h' hard
chmod 600 hard
stat -c '%a' d/b.txt
touch -d '2001-02-03 04:05:06 UTC' hard
stat -c '%Y' hard
truncate -s 3 hard
cat hard; echo
ls many | wc -l
sha256sum < big-from-host | cut -d' ' -f1
cp "$SRC" big-from-guest
mkfifo pipe
stat -c '%F' pipe
find d | sort | tr '\\n' ' '; echo
rm -r d
ls | tr '\\n' ' '; echo
df -P . | tail -1 | awk '{ print ($2 > 0) }'
`;

describe("virtio-fs serving the host kernel's FUSE client", { skip: unavailable(), timeout: 120_000 }, () => {
  it('runs a shell session on the mount: files, directories, links, attributes, big reads and writes', async () => {
    const c = new FuseClient();
    const mnt = path.join(c.dir, 'mnt');
    fs.mkdirSync(mnt);
    fs.mkdirSync(path.join(c.share, 'many'));
    for (let i = 0; i < 500; i++) fs.writeFileSync(path.join(c.share, 'many', `entry-${i}`), '');
    const big = randomBytes(5 << 20);
    fs.writeFileSync(path.join(c.share, 'big-from-host'), big);
    const src = path.join(c.dir, 'src.bin');
    fs.writeFileSync(src, randomBytes((3 << 20) + 12345));
    const fuseFd = fs.openSync('/dev/fuse', 'r+');
    let mounted = false;
    try {
      const served = bridge(c, fuseFd);
      mounted = true;
      await run('mount', ['-t', 'fuse', '-o', 'fd=3,rootmode=40000,user_id=0,group_id=0,default_permissions,allow_other',
        'tsvmm-test', mnt], fuseFd);
      const out = await run('sh', ['-c', `cd '${mnt}' && SRC='${src}' && ${SCRIPT}`]);
      assert.deepEqual(out.trim().split('\n'), [
        'hello',
        '644 6 root',
        'deep',
        'b.txt',
        'hello',
        '2',
        '600',
        '981173106',
        'hel',
        '500',
        createHash('sha256').update(big).digest('hex'),
        'fifo',
        'd d/b.txt d/e d/e/f d/e/f/g d/link ',
        'big-from-guest big-from-host hard many pipe ',
        '1',
      ]);
      assert.ok(fs.readFileSync(path.join(c.share, 'big-from-guest')).equals(fs.readFileSync(src)));
      assert.ok(fs.lstatSync(path.join(c.share, 'pipe')).isFIFO());
      await run('umount', [mnt]);
      mounted = false;
      await served;
      const k = c.dev.counters();
      process.stderr.write(`# counters: ${JSON.stringify(k)}\n`);
      assert.equal(k.internalErrors, 0);
      assert.ok(k.writtenBytes! >= (3 << 20) && k.readBytes! >= (5 << 20), JSON.stringify(k));
    } finally {
      // Detach before anything here touches the directory: a sync call into a mount nobody serves never returns.
      if (mounted) await run('umount', ['-l', mnt]).catch(() => undefined);
      fs.closeSync(fuseFd);
      c.close();
    }
  });
});
