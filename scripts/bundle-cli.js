#!/usr/bin/env node
// Bundles the compiled CLI (dist/src/cli.js and everything it loads, dependencies included) into one file,
// dist/tsvmm-cli.js, which bin/tsvmm.js loads when it is up to date. Node spends most of a CLI's start-up resolving
// and reading modules (the run path is about 180 files, most of them yaml's and pino's); one file takes that away.
// The vCPU worker (dist/src/vmm/vcpu-worker.js) and the native addon stay separate files.
// Then it makes V8's code cache for the bundle (dist/tsvmm-cli.js.cache, see bin/bundle-loader.js) in a fresh
// node, after taking the CLI through `run` as far as a config check, so the functions a start needs are in it.
'use strict';
const { execFileSync } = require('node:child_process');
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
esbuild.build({
  entryPoints: [path.join(root, 'dist', 'src', 'cli.js')],
  outfile: path.join(root, 'dist', 'tsvmm-cli.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: 'linked',
  logLevel: 'warning',
  // The addon is found at run time from the package root (src/vmm/native.ts); nothing to bundle there.
  external: ['*.node'],
  plugins: [{
    // bin/tsvmm.js starts a vCPU thread through this module before the bundle loads; the bundle must see that same
    // module instance (and its waiting thread), not a copy of its own.
    name: 'shared-vcpu-prestart',
    setup(build) {
      build.onResolve({ filter: /[\\/]vcpu-prestart$/ }, () => ({ path: './src/vmm/vcpu-prestart.js', external: true }));
    },
  }],
}).then(() => {
  execFileSync(process.execPath, ['-e', CACHE_MAKER, path.join(root, 'dist', 'tsvmm-cli.js')], { stdio: 'inherit' });
}, () => {
  // esbuild has printed the errors.
  process.exit(1);
});
