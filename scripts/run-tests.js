#!/usr/bin/env node
// `npm test`: see test/run/main.ts (compiled by `npm run build`, which `pretest` runs).
'use strict';
const path = require('node:path');
const main = path.join(__dirname, '..', 'dist', 'test', 'run', 'main.js');
try {
  require.resolve(main);
} catch {
  console.error('no compiled test runner under dist/test/run: run `npm run build` first');
  process.exit(1);
}
require(main);
