// The README's Node snippets ("Use it from Node", "Control socket") run as written, against the package root as
// `require('tsvmm')` resolves it, with a hand-made guest that prints forever; so does examples/in-process.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO } from '../helpers/cli-run';
import { kvmUnavailable } from '../helpers/kvm';
import { GUEST_CODE, pvhElf } from '../helpers/pvh-elf';

const skip = kvmUnavailable();

/** The ```js blocks of the README, in order. */
function readmeSnippets(): string[] {
  const text = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  return [...text.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

describe('README snippets on /dev/kvm', { skip, timeout: 120_000 }, () => {
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

  it('has the two snippets', () => assert.equal(readmeSnippets().length, 2));

  it('examples/in-process stops a guest that hears Ctrl-Alt-Del gracefully', () => {
    const listener = path.join(dir, 'listener.elf');
    fs.writeFileSync(listener, pvhElf(GUEST_CODE.rebootOnCtrlAltDel));
    const r = spawnSync(process.execPath, [path.join(REPO, 'dist', 'examples', 'in-process.js'), listener, '--expect', 'k\n'],
      { encoding: 'latin1', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'k\n');
    assert.match(r.stderr, /ended: reset, status 0/);
  });

  readmeSnippets().forEach((code, i) => {
    it(`snippet ${i + 1} boots the guest, pauses, resumes, reads counters and stops it`, () => {
      const file = path.join(dir, `snippet-${i + 1}.js`);
      fs.writeFileSync(file, code);
      const r = spawnSync(process.execPath, [file, kernel, path.join(dir, `s${i}.sock`)],
        { cwd: dir, encoding: 'latin1', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^go\n\.+/);
      assert.match(r.stderr, /io: [1-9]/);
      assert.match(r.stderr, /stopped/);
    });
  });
});
