#!/usr/bin/env node
// Entry point of the `tsvmm` command: the CLI itself is compiled TypeScript under dist/.
'use strict';
let cli;
try {
  cli = require('../dist/src/cli.js');
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes('dist/src/cli.js')) {
    process.stderr.write('tsvmm: not built yet; run `npm run build` in the package folder\n');
    process.exit(1);
  }
  throw e;
}
cli.main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`tsvmm: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  },
);
