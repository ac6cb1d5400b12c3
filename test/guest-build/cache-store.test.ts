import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureCached } from '../../src/guest/cache-store';
import { withBuildLock } from '../../src/guest/lock';

const made: string[] = [];
after(() => { for (const dir of made) fs.rmSync(dir, { recursive: true, force: true }); });

function tempCache(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-cache-test-'));
  made.push(dir);
  return dir;
}

/** A build that writes `content` to a.txt and counts its calls. */
function counter(content: string): { calls: number; build: (work: string) => Promise<string> } {
  const state = {
    calls: 0,
    build: async (work: string): Promise<string> => {
      state.calls++;
      const out = path.join(work, 'out');
      fs.mkdirSync(out);
      fs.writeFileSync(path.join(out, 'a.txt'), content);
      return out;
    },
  };
  return state;
}

test('a folder is built once, then reused; force rebuilds it in place', async () => {
  const cacheRoot = tempCache();
  const spec = { cacheRoot, name: 'thing-1', files: ['a.txt'], force: false, log: () => {} };
  const first = counter('one');
  const r1 = await ensureCached(spec, first.build);
  assert.deepEqual(r1, { dir: path.join(cacheRoot, 'thing-1'), built: true });
  const r2 = await ensureCached(spec, first.build);
  assert.equal(r2.built, false);
  assert.equal(first.calls, 1);
  const second = counter('two');
  const r3 = await ensureCached({ ...spec, force: true }, second.build);
  assert.equal(r3.built, true);
  assert.equal(fs.readFileSync(path.join(r3.dir, 'a.txt'), 'utf8'), 'two');
  // Only the finished folder (and trash on its way out) is left: no tmp-*, no lock.
  assert.deepEqual(fs.readdirSync(cacheRoot).filter((n) => !n.startsWith('trash-')), ['thing-1']);
});

test('concurrent callers build once', async () => {
  const cacheRoot = tempCache();
  const spec = { cacheRoot, name: 'thing-2', files: ['a.txt'], force: false, log: () => {} };
  const slow = counter('x');
  const build = async (work: string): Promise<string> => {
    await new Promise((r) => setTimeout(r, 50));
    return slow.build(work);
  };
  const results = await Promise.all([ensureCached(spec, build), ensureCached(spec, build), ensureCached(spec, build)]);
  assert.equal(slow.calls, 1);
  assert.deepEqual(results.map((r) => r.built).sort(), [false, false, true]);
});

test('a failed build publishes nothing and keeps its log', async () => {
  const cacheRoot = tempCache();
  const spec = { cacheRoot, name: 'thing-3', files: ['a.txt'], force: false, log: () => {} };
  const failing = async (work: string): Promise<string> => {
    fs.writeFileSync(path.join(work, 'build.log'), 'compiler said no\n');
    throw new Error('make failed');
  };
  await assert.rejects(ensureCached(spec, failing, (work) => path.join(work, 'build.log')),
    (e: Error) => /make failed\n\(full build output: .*thing-3\.failed\.log\)/.test(e.message));
  assert.equal(fs.existsSync(path.join(cacheRoot, 'thing-3')), false);
  assert.equal(fs.readFileSync(path.join(cacheRoot, 'thing-3.failed.log'), 'utf8'), 'compiler said no\n');
  // The next successful build clears the failure log.
  await ensureCached(spec, counter('ok').build);
  assert.equal(fs.existsSync(path.join(cacheRoot, 'thing-3.failed.log')), false);
});

test('a folder missing one of its files counts as not built', async () => {
  const cacheRoot = tempCache();
  fs.mkdirSync(path.join(cacheRoot, 'thing-4'));
  fs.writeFileSync(path.join(cacheRoot, 'thing-4', 'a.txt'), '');
  const c = counter('full');
  const r = await ensureCached({ cacheRoot, name: 'thing-4', files: ['a.txt'], force: false, log: () => {} }, c.build);
  assert.equal(r.built, true);
  assert.equal(fs.readFileSync(path.join(r.dir, 'a.txt'), 'utf8'), 'full');
});

test('a lock left by a dead process is taken over; a live one is waited for', async () => {
  const cacheRoot = tempCache();
  const lockDir = path.join(cacheRoot, 'lock-x');
  fs.mkdirSync(lockDir);
  fs.writeFileSync(path.join(lockDir, 'pid'), '999999999'); // no such process
  const lines: string[] = [];
  assert.equal(await withBuildLock(lockDir, (l) => lines.push(l), async () => 'ran'), 'ran');
  assert.equal(lines.length, 0);
  assert.equal(fs.existsSync(lockDir), false);

  fs.mkdirSync(lockDir);
  fs.writeFileSync(path.join(lockDir, 'pid'), String(process.pid));
  setTimeout(() => fs.rmSync(lockDir, { recursive: true }), 100);
  assert.equal(await withBuildLock(lockDir, (l) => lines.push(l), async () => 'after'), 'after');
  assert.match(lines[0]!, new RegExp(`waiting for another build \\(pid ${process.pid}\\)`));
});
