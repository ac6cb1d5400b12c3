#!/usr/bin/env node
// Writes the package's ES module entry (dist/esm/index.mjs) and its types (index.d.mts): a wrapper that imports
// the CommonJS build and re-exports each of its names, so `import { createVm } from 'tsvmm'` gets the very same
// objects as `require('tsvmm')` (one module instance, one addon, whatever Node's CommonJS name detection makes of
// tsc's output). The names are read from the compiled index, so the wrapper never falls behind src/index.ts.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const cjs = path.join(root, 'dist', 'src', 'index.js');
const out = path.join(root, 'dist', 'esm');

const names = Object.keys(require(cjs)).sort();
const bad = names.filter((n) => !/^[A-Za-z_$][\w$]*$/.test(n) || n === 'default');
if (bad.length > 0) {
  process.stderr.write(`esm-wrapper: names that cannot be ES exports: ${bad.join(', ')}\n`);
  process.exit(1);
}
const header = '// Made by scripts/esm-wrapper.js from dist/src/index.js; do not edit.\n';
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, 'index.mjs'), `${header}import cjs from '../src/index.js';\n\n` +
  `export const {\n${names.map((n) => `  ${n},\n`).join('')}} = cjs;\n`);
// The CommonJS declarations describe the same names; ESM consumers see them as named exports.
fs.writeFileSync(path.join(out, 'index.d.mts'), `${header}export * from '../src/index.js';\n`);
