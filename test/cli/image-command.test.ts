// `tsvmm image build`: what it checks before building, and what it hands the builder.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli';
import { COMMAND_TREE } from '../../src/cli/command-tree';
import { bashCompletion } from '../../src/cli/completion';
import { imageBuildSpec, type ImageBuilder } from '../../src/cli/image-command';
import { ConfigError } from '../../src/vmm/config-check';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-image-cli-'));
const tree = path.join(dir, 'tree');
fs.mkdirSync(tree);
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

function refused(args: Record<string, unknown>, field: string, message: RegExp): void {
  assert.throws(() => imageBuildSpec(args, dir), (e: unknown) => e instanceof ConfigError && e.field === field
    && message.test(e.message), `${JSON.stringify(args)} should be refused naming ${field}`);
}

test('image build: one source, an output in a folder that exists, a size that fits', () => {
  refused({ output: 'x.img' }, '--from', /one of --from DIR or --debian/);
  refused({ from: 'tree', debian: true, output: 'x.img' }, '--from', /one of/);
  refused({ from: 'tree' }, '--output', /required/);
  refused({ from: 'tree', output: 'no/such/folder/x.img' }, '--output', /no\/such\/folder does not exist/);
  refused({ from: 'tree', output: '.' }, '--output', /is a folder/);
  refused({ from: 'missing', output: 'x.img' }, '--from', /missing is not a folder/);
  refused({ from: 'tree', output: 'tree/x.img' }, '--output', /inside --from/);
  refused({ from: 'tree', output: 'x.img', size: 'huge' }, '--size', /not a size/);
  refused({ from: 'tree', output: 'x.img', size: '1M' }, '--size', /below 16M/);
  refused({ from: 'tree', output: 'x.img', packages: ['python3'] }, '--packages', /only used with --debian/);
  refused({ debian: true, output: 'x.img', packages: ['curl Python3'] }, '--packages', /"Python3" is not a Debian package name/);
  refused({ debian: true, output: 'x.img', suite: 'Bookworm!' }, '--suite', /not a Debian suite name/);
  refused({ debian: true, output: 'x.img', mirror: 'ftp://x' }, '--mirror', /not an http\(s\) URL/);
});

test('image build: the spec for a folder and for Debian (sizes in MiB by default, packages sorted and unique)', () => {
  assert.deepEqual(imageBuildSpec({ from: 'tree', output: 'x.img', size: '1G' }, dir),
    { out: path.join(dir, 'x.img'), size: 1024 ** 3, source: { kind: 'dir', from: tree } });
  assert.deepEqual(imageBuildSpec({ debian: true, output: 'x.img', packages: ['python3,curl', 'curl'], size: '300' }, dir), {
    out: path.join(dir, 'x.img'), size: 300 * 1024 ** 2,
    source: { kind: 'debian', suite: 'bookworm', packages: ['curl', 'python3'], force: false },
  });
  assert.deepEqual(imageBuildSpec({ debian: true, o: 'y', output: 'y.img', suite: 'trixie', mirror: 'http://m/debian', force: true }, dir).source,
    { kind: 'debian', suite: 'trixie', packages: [], force: true, mirror: 'http://m/debian' });
});

test('image build: the CLI hands the builder the request, with apt\'s mirror unless one is given', async () => {
  const calls: unknown[] = [];
  const builder: ImageBuilder = {
    buildImageFromDir: (from, opts) => { calls.push(['dir', from, opts.out, opts.size]); return Promise.resolve(); },
    buildDebianImage: (request, opts) => { calls.push(['debian', request, opts.out, opts.force]); return Promise.resolve(); },
    systemMirror: () => 'http://apt.example/debian',
  };
  const err: string[] = [];
  const deps = { cwd: dir, imageBuilder: builder, stderr: { write: (s: string) => err.push(s) }, stdout: { write: () => true } };
  assert.equal(await main(['image', 'build', '--from', 'tree', '-o', 'a.img'], deps), 0);
  assert.equal(await main(['image', 'build', '--debian', '--packages', 'python3-minimal', '-o', 'b.img'], deps), 0);
  assert.equal(await main(['image', 'build', '--debian', '--mirror', 'http://m/debian', '-o', 'c.img'], deps), 0);
  assert.deepEqual(calls, [
    ['dir', tree, path.join(dir, 'a.img'), undefined],
    ['debian', { suite: 'bookworm', packages: ['python3-minimal'], mirror: 'http://apt.example/debian' }, path.join(dir, 'b.img'), false],
    ['debian', { suite: 'bookworm', packages: [], mirror: 'http://m/debian' }, path.join(dir, 'c.img'), false],
  ]);
  assert.equal(await main(['image', 'build', '--from', 'nowhere', '-o', 'a.img'], deps), 2);
  assert.match(err.join(''), /tsvmm: --from: .*nowhere is not a folder\n$/);
  err.length = 0;
  assert.equal(await main(['image'], deps), 2);
  assert.deepEqual(err, ['tsvmm: image: name a subcommand (build)\n']);
});

test('image build is in the command tree, so completion offers its options', () => {
  assert.ok(COMMAND_TREE.commands?.image?.commands?.build?.options.debian);
  const script = bashCompletion();
  assert.match(script, /'image build'\) words='[^']*--from[^']*--debian/);
});
