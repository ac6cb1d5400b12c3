#!/usr/bin/env node
// Entry point of the `tsvmm` command: the CLI itself is compiled TypeScript under dist/.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const argv = process.argv.slice(2);
const root = path.join(__dirname, '..');
const dist = path.join(root, 'dist');
const modules = path.join(dist, 'src', 'cli.js');
const bundle = path.join(dist, 'tsvmm-cli.js');

// The bundle (scripts/bundle-cli.js) starts faster. It is used only when none of the files it was made from
// (dist/tsvmm-cli.js.inputs, written with it) is newer, so a `tsc` run, or `tsc -w` re-emitting one module, never
// leaves older code in charge. A package shipped without that record checks dist/src/cli.js alone (nothing there
// is recompiled). TSVMM_NO_BUNDLE=1 always loads the compiled modules.
function bundleIsFresh() {
  if (process.env.TSVMM_NO_BUNDLE === '1') return false;
  try {
    const made = fs.statSync(bundle).mtimeMs;
    let inputs = [path.relative(root, modules)];
    try {
      inputs = JSON.parse(fs.readFileSync(`${bundle}.inputs`, 'utf8'));
    } catch {
      // No record: the check above.
    }
    return inputs.every((p) => fs.statSync(path.join(root, p)).mtimeMs <= made);
  } catch {
    return false; // no bundle, or an input gone: the compiled modules
  }
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
const file = bundleIsFresh() ? bundle : modules;
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
