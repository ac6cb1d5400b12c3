// The package as others load it: `require('tsvmm')` and `import 'tsvmm'` through the exports map (a package may
// name itself), with types for both, and no source map in the tarball that points at a file it does not ship.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { REPO } from './helpers/cli-run';

interface Target { types: string; default: string }
interface Exports { '.': { import: Target; require: Target } }
const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { exports: Exports; files: string[] };

test('the exports map: require and import resolve to the CommonJS build and its ES wrapper, one instance', () => {
  const e = pkg.exports['.'];
  for (const target of [e.import.types, e.import.default, e.require.types, e.require.default]) {
    assert.ok(fs.existsSync(path.join(REPO, target)), `${target} is built`);
  }
  assert.equal(require.resolve('tsvmm'), path.join(REPO, e.require.default));
  // The README starts the command this way from a program that depends on the package.
  assert.equal(require.resolve('tsvmm/bin/tsvmm.js'), path.join(REPO, 'bin', 'tsvmm.js'));
  // Both loads in an ES module of their own: tsc would turn an import() here into require() (a CommonJS file).
  const script = 'import * as esm from "tsvmm"; import { createRequire } from "node:module";\n' +
    'const cjs = createRequire(import.meta.url)("tsvmm");\n' +
    'process.stdout.write(JSON.stringify({ resolved: import.meta.resolve("tsvmm"), esm: Object.keys(esm).sort(),\n' +
    '  cjs: Object.keys(cjs).sort(), same: esm.createVm === cjs.createVm }));\n';
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const loaded = JSON.parse(r.stdout) as { resolved: string; esm: string[]; cjs: string[]; same: boolean };
  assert.equal(loaded.resolved, `file://${path.join(REPO, e.import.default)}`, r.stderr);
  assert.deepEqual(loaded.esm, loaded.cjs);
  assert.ok(loaded.cjs.includes('createVm'), loaded.cjs.join(' '));
  assert.ok(loaded.same, 'the same objects, not a second copy of the package');
});

test('types for ES module and CommonJS consumers (node16 resolution)', () => {
  const dir = fs.mkdtempSync(path.join(REPO, 'dist', '.exports-check-'));
  try {
    fs.writeFileSync(path.join(dir, 'esm.mts'),
      "import { createVm, VmClient, type VmExit } from 'tsvmm';\n" +
      'export const f: typeof createVm = createVm;\nexport type E = VmExit;\nexport const c = VmClient;\n');
    fs.writeFileSync(path.join(dir, 'cjs.cts'),
      "import tsvmm = require('tsvmm');\nexport const f: typeof tsvmm.createVm = tsvmm.createVm;\n");
    const tsc = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'node16',
      '--moduleResolution', 'node16', '--types', 'node', '--skipLibCheck', path.join(dir, 'esm.mts'),
      path.join(dir, 'cjs.cts')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the tarball: every source map carries its sources or points at shipped files', (t) => {
  let listing: string;
  try {
    listing = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'],
      { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    t.skip('npm is not on PATH');
    return;
  }
  const files = new Set((JSON.parse(listing) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
  assert.ok(files.has('dist/esm/index.mjs') && files.has('dist/esm/index.d.mts'));
  const missing: string[] = [];
  for (const map of [...files].filter((f) => f.endsWith('.map'))) {
    const m = JSON.parse(fs.readFileSync(path.join(REPO, map), 'utf8')) as
      { sources: string[]; sourcesContent?: (string | null)[]; sourceRoot?: string };
    m.sources.forEach((source, i) => {
      if (typeof m.sourcesContent?.[i] === 'string') return;
      const shipped = path.normalize(path.join(path.dirname(map), m.sourceRoot ?? '', source));
      // A dependency's own map may name a file its package never shipped: nothing of ours.
      if (!files.has(shipped) && !shipped.startsWith('node_modules')) missing.push(`${map}: ${source}`);
    });
  }
  assert.deepEqual(missing, []);
});
