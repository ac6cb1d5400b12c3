#!/usr/bin/env node
// Entry point of the `tsvmm` command: the CLI itself is compiled TypeScript under dist/.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const argv = process.argv.slice(2);
const dist = path.join(__dirname, '..', 'dist');
const modules = path.join(dist, 'src', 'cli.js');
const bundle = path.join(dist, 'tsvmm-cli.js');

// The bundle (scripts/bundle-cli.js) starts faster; it is used only when it was made after the last compile, so a
// `tsc` run without a new bundle never leaves older code in charge.
function cliFile() {
  try {
    if (fs.statSync(bundle).mtimeMs >= fs.statSync(modules).mtimeMs) return bundle;
  } catch {
    // No bundle: the compiled modules.
  }
  return modules;
}

// `run` will start a vCPU thread; begin its start-up now, in parallel with loading the CLI (src/vmm/vcpu-prestart.ts).
if (argv[0] === 'run' && !argv.some((a) => a === '--help' || a === '-h')) {
  try {
    require('../dist/src/vmm/vcpu-prestart.js').prestartVcpuWorker();
  } catch {
    // Not built yet: the message below says so.
  }
}
let cli;
const file = cliFile();
try {
  cli = file === bundle ? require('./bundle-loader.js').loadBundle(bundle).exports : require(file);
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(file)) {
    process.stderr.write('tsvmm: not built yet; run `npm run build` in the package folder\n');
    process.exit(1);
  }
  throw e;
}
cli.main(argv).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`tsvmm: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  },
);
