#!/usr/bin/env node
// Runs the compiled node:test files. `--unit` leaves out test/integration (the ones that boot guests on /dev/kvm).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const unitOnly = process.argv.includes('--unit');
const root = path.join(__dirname, '..', 'dist', 'test');

function collect(dir, out) {
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (unitOnly && entry.name === 'integration' && dir === root) continue;
      collect(p, out);
    } else if (entry.name.endsWith('.test.js')) {
      out.push(p);
    }
  }
  return out;
}

const files = collect(root, []).sort();
if (files.length === 0) {
  console.error('no compiled tests under dist/test: run `npm run build` first');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
