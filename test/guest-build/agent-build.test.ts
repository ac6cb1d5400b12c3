// buildAgent and buildSandboxInitramfs: the agent compiled static into the cache once per input set, and the
// sandbox initramfs holding busybox init, its inittab and start script, and the agent.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  agentKey, agentSourceDir, buildAgent, buildSandboxInitramfs, listAgentSources, sandboxInitramfsPath,
} from '../../src/guest/agent';
import { summarizeElf64 } from '../../src/guest/elf-check';
import { BUSYBOX_PATH } from '../../src/guest/paths';
import { compilerIdentity } from '../../src/guest/test-kernel';
import { readNewc } from './newc-reader';

const noGcc = compilerIdentity('gcc') === undefined ? 'gcc is not installed: the agent cannot be built (SKIPPED)' : undefined;
const noBusybox = fs.existsSync(BUSYBOX_PATH) ? undefined : `${BUSYBOX_PATH} is missing (busybox-static): SKIPPED`;
for (const why of [noGcc, noBusybox]) if (why) process.stderr.write(`# ${why}\n`);

const cacheRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-agent-build-'));
after(() => fs.rmSync(cacheRoot, { recursive: true, force: true }));

describe('the sandbox agent build', () => {
  it('keys the build on every source file and the compiler', () => {
    const dir = agentSourceDir();
    const { files, compile } = listAgentSources(dir);
    assert.ok(files.includes('agent.h') && compile.includes('main.c'));
    assert.ok(compile.every((f) => f.endsWith('.c')));
    const key = agentKey(dir, files, 'gcc 12');
    assert.match(key, /^[0-9a-f]{16}$/);
    assert.equal(agentKey(dir, files, 'gcc 12'), key);
    assert.notEqual(agentKey(dir, files, 'gcc 13'), key);
    assert.notEqual(agentKey(dir, files.filter((f) => f !== 'wire.c'), 'gcc 12'), key);
  });

  it('compiles a static x86-64 binary once, then reuses it', { skip: noGcc }, async () => {
    const first = await buildAgent({ cacheRoot, log: () => {} });
    const elf = summarizeElf64(fs.readFileSync(first.path));
    assert.equal(elf?.machine, 62);
    assert.equal(elf.hasInterpreter, false, 'static');
    const again = await buildAgent({ cacheRoot, log: () => {} });
    assert.deepEqual(again, { path: first.path, built: false });
  });

  it('packs busybox init, the start script and the agent into sandbox.cpio', { skip: noGcc ?? noBusybox }, async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-agent-none-'));
    try {
      assert.match(sandboxInitramfsPath(empty), /sandbox-unbuilt/, 'no agent built: a path that cannot exist');
    } finally {
      fs.rmSync(empty, { recursive: true });
    }
    const image = await buildSandboxInitramfs({ cacheRoot, log: () => {} });
    assert.equal(sandboxInitramfsPath(cacheRoot), image.path, '@guest/sandbox.cpio is found without building');
    const records = new Map(readNewc(fs.readFileSync(image.path)).map((r) => [r.name, r]));
    assert.equal(records.get('init')?.data.toString(), '/bin/busybox', '/init is busybox init');
    assert.match(records.get('etc/inittab')!.data.toString(), /::respawn:\/bin\/tsvmm-agent/);
    assert.match(records.get('etc/sandbox-init')!.data.toString(), /mount -t devpts/);
    assert.equal(records.get('etc/sandbox-init')!.mode & 0o777, 0o755);
    assert.ok(fs.readFileSync(image.agent).equals(records.get('bin/tsvmm-agent')!.data));
    assert.equal(records.has('etc/init.d/rcS'), false, 'the plain image\'s rcS is not there');
    assert.equal((await buildSandboxInitramfs({ cacheRoot, log: () => {} })).built, false, 'cached');
  });
});
