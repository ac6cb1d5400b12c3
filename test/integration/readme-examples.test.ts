// The README's Node snippets ("Use it from Node", "Control socket") run as written, against the package root as
// `require('tsvmm')` resolves it, with a hand-made guest that prints forever; so does examples/in-process. The
// sandbox snippet at the top boots the sandbox guest (real hardware virtualization: its user space makes system
// calls, which kvm_pvm does not let it).
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO } from '../helpers/cli-run';
import { isPvmHost } from '../../src/vmm/host-quirks';
import { kvmUnavailable } from '../helpers/kvm';
import { GUEST_CODE, pvhElf } from '../helpers/pvh-elf';

const skip = kvmUnavailable();

/**
 * A safety net only: every program here ends by itself once its guest has printed, and under emulated KVM starting
 * node alone can take seconds.
 */
const RUN_LIMIT_MS = 300_000;

/** The child's exit status, failing with what it was doing when it did not end by itself. */
function endedAlone(r: SpawnSyncReturns<string>, what: string): number | null {
  if (r.error || r.signal) {
    assert.fail(`${what}: ${r.error?.message ?? `killed by ${r.signal}`} (limit ${RUN_LIMIT_MS} ms)\n` +
      `stdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr}`);
  }
  return r.status;
}

function jsBlocks(): string[] {
  const text = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  return [...text.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

/** The ```js blocks of the README that boot a kernel given to them, in order (not the sandbox's). */
function readmeSnippets(): string[] {
  return jsBlocks().filter((s) => !s.includes('createSandbox'));
}

describe('README snippets on /dev/kvm', { skip }, () => {
  let dir: string;
  let kernel: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-readme-'));
    kernel = path.join(dir, 'print-loop.elf');
    fs.writeFileSync(kernel, pvhElf(GUEST_CODE.printLoop));
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(REPO, path.join(dir, 'node_modules', 'tsvmm'), 'dir');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('has the two snippets, neither waiting a fixed time for the guest', () => {
    const snippets = readmeSnippets();
    assert.equal(snippets.length, 2);
    // A fixed pause before pause() only hopes the guest has run; under emulated KVM it often has not.
    snippets.forEach((s, i) => assert.doesNotMatch(s, /setTimeout/, `snippet ${i + 1}`));
  });

  it('examples/in-process stops a guest that hears Ctrl-Alt-Del gracefully', () => {
    const listener = path.join(dir, 'listener.elf');
    fs.writeFileSync(listener, pvhElf(GUEST_CODE.rebootOnCtrlAltDel));
    // --seconds bounds the example's own wait for "k\n", which under emulated KVM can take far longer than its default.
    const r = spawnSync(process.execPath, [path.join(REPO, 'dist', 'examples', 'in-process.js'), listener, '--expect', 'k\n',
      '--seconds', String(RUN_LIMIT_MS / 1000)], { encoding: 'latin1', timeout: RUN_LIMIT_MS });
    assert.equal(endedAlone(r, 'the example waiting for the guest\'s "k\\n" and its graceful stop'), 0, r.stderr);
    assert.equal(r.stdout, 'k\n');
    assert.match(r.stderr, /ended: reset, status 0/);
  });

  readmeSnippets().forEach((code, i) => {
    it(`snippet ${i + 1} boots the guest, pauses, resumes, reads counters and stops it`, () => {
      const file = path.join(dir, `snippet-${i + 1}.js`);
      fs.writeFileSync(file, code);
      const r = spawnSync(process.execPath, [file, kernel, path.join(dir, `s${i}.sock`)],
        { cwd: dir, encoding: 'latin1', timeout: RUN_LIMIT_MS });
      assert.equal(endedAlone(r, `snippet ${i + 1} waiting for the guest's first console output, then pausing and stopping it`), 0, r.stderr);
      assert.match(r.stdout, /^go\n\.+/);
      assert.match(r.stderr, /io: [1-9]/);
      assert.match(r.stderr, /stopped/);
    });
  });
});

describe('the README\'s sandbox snippet', { skip: skip ?? (isPvmHost() ? 'guest user space cannot make system calls on kvm_pvm' : undefined) }, () => {
  const BOOT_MS = Number(process.env.TSVMM_SANDBOX_BOOT_MS ?? 10 * 60_000);

  it('boots a sandbox, runs a command, writes a file and reads it back', () => {
    const snippet = jsBlocks().find((s) => s.includes('createSandbox'));
    assert.ok(snippet !== undefined && snippet.includes("{ memory: '256M' }"),
      'the README has a createSandbox snippet with { memory: \'256M\' }');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-readme-sandbox-'));
    try {
      fs.mkdirSync(path.join(dir, 'node_modules'));
      fs.symlinkSync(REPO, path.join(dir, 'node_modules', 'tsvmm'), 'dir');
      // Only the wait for the guest is stretched, for emulated hosts; the rest runs as printed.
      const file = path.join(dir, 'sandbox.js');
      fs.writeFileSync(file, snippet.replace("{ memory: '256M' }", `{ memory: '256M', readyTimeoutMs: ${BOOT_MS} }`));
      const r = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: BOOT_MS + RUN_LIMIT_MS });
      assert.equal(endedAlone(r, 'the sandbox snippet booting its guest and running a command'), 0, r.stderr);
      assert.match(r.stdout, /^3 Linux 6\.\S+\n hello from the host\n$/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
