#!/usr/bin/env node
// `npm run fuzz [-- --seed N] [-- --seconds S] [-- --only NAME]`: the fuzz properties of test/fuzz, each for S
// seconds (default 30), from a fresh random seed each (or from N, to replay a failure: a failing case prints the
// seed that reproduces it as its first case). Runs the compiled tests; `npm run build` first.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const seconds = opt('seconds') ?? '30';
const seed = opt('seed');
const only = opt('only');
if (!(Number(seconds) > 0) || (seed !== undefined && !/^\d+$/.test(seed))) {
  console.error('usage: npm run fuzz -- [--seed N] [--seconds S] [--only virtqueue|devices|config|api]');
  process.exit(2);
}
const dir = path.join(__dirname, '..', 'dist', 'test', 'fuzz');
if (!fs.existsSync(dir)) {
  console.error('no compiled fuzz tests under dist/test/fuzz: run `npm run build` first');
  process.exit(1);
}
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.test.js') && (only === undefined || f.startsWith(only)))
  .map((f) => path.join(dir, f));
const env = { ...process.env, TSVMM_FUZZ_SECONDS: seconds };
if (seed !== undefined) env.TSVMM_FUZZ_SEED = seed;
else delete env.TSVMM_FUZZ_SEED;
// One file at a time: the budgets are per property, and properties that share the cores would each get less done.
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', `--test-timeout=${(Number(seconds) + 120) * 1000}`, ...files],
  { stdio: 'inherit', env });
process.exit(r.status ?? 1);
