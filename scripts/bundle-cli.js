#!/usr/bin/env node
// Bundles the compiled CLI (dist/src/cli.js and everything it loads, dependencies included) into one file,
// dist/tsvmm-cli.js, which bin/tsvmm.js loads when it is up to date. Node spends most of a CLI's start-up resolving
// and reading modules (the run path is about 180 files, most of them yaml's and pino's); one file takes that away.
// The vCPU worker (dist/src/vmm/vcpu-worker.js), src/vmm/vcpu-prestart.js and the native addon stay separate files.
// It records the files that went into the bundle (dist/tsvmm-cli.js.inputs): bin/tsvmm.js uses the bundle only
// while none of them is newer, so `tsc -w` re-emitting one module is never hidden behind an older bundle.
// Then it makes V8's code cache for the bundle (dist/tsvmm-cli.js.cache, see bin/bundle-loader.js) in a fresh
// node, after taking the CLI through `run` as far as its config check: the cache holds the functions compiled by
// then (option parsing, config validation, the modules' top levels); what runs later (making the machine, the
// control socket) is compiled when first called, as without a cache.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
// Runs in a child: `run` with a kernel that does not exist parses the options and checks a config, then stops.
const CACHE_MAKER = `
const fs = require('node:fs');
const { loadBundle } = require(${JSON.stringify(path.join(root, 'bin', 'bundle-loader.js'))});
const file = process.argv[1];
const { exports: cli, script } = loadBundle(file, false);
const quiet = { write() { return true; } };
cli.main(['run', '--kernel', '/nonexistent/tsvmm-bundle-cache'], { stdout: quiet, stderr: quiet }).then(() => {
  fs.writeFileSync(file + '.cache', script.createCachedData());
});
`;

let esbuild;
try {
  esbuild = require('esbuild');
} catch {
  process.stderr.write('bundle-cli: esbuild is not installed; bin/tsvmm.js will load the compiled modules instead\n');
  process.exit(0);
}
const outfile = path.join(root, 'dist', 'tsvmm-cli.js');
esbuild.build({
  entryPoints: [path.join(root, 'dist', 'src', 'cli.js')],
  outfile,
  bundle: true,
  metafile: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: 'linked',
  logLevel: 'warning',
  // The addon is found at run time from the package root (src/base/native.ts); nothing to bundle there.
  external: ['*.node'],
  plugins: [{
    // bin/tsvmm.js starts a vCPU thread through this module before the bundle loads; the bundle must see that same
    // module instance (and its waiting thread), not a copy of its own.
    name: 'shared-vcpu-prestart',
    setup(build) {
      build.onResolve({ filter: /[\\/]vcpu-prestart$/ }, () => ({ path: './src/vmm/vcpu-prestart.js', external: true }));
    },
  }],
}).then((result) => {
  // The package's own compiled modules, relative to the package root (esbuild names them relative to its working
  // directory). Dependencies change only through npm, which rebuilds (prepare), and may lie elsewhere once installed.
  const inputs = Object.keys(result.metafile.inputs).map((p) => path.relative(root, path.resolve(p)))
    .filter((p) => p.startsWith(`dist${path.sep}`));
  fs.writeFileSync(`${outfile}.inputs`, JSON.stringify(inputs) + '\n');
  execFileSync(process.execPath, ['-e', CACHE_MAKER, outfile], { stdio: 'inherit' });
}, () => {
  // esbuild has printed the errors.
  process.exit(1);
});
