// Loads the bundled CLI (dist/tsvmm-cli.js, made by scripts/bundle-cli.js) as require() would, but compiled with the
// V8 code cache made next to it at build time: compiling about a megabyte of JavaScript is a good part of a start.
// V8 checks that the cache belongs to this source and this V8; when it does not, it compiles as usual.
'use strict';
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const vm = require('node:vm');

/** Compiles and runs the bundle; `useCache` false compiles without the cache (to make a new one). */
function loadBundle(file, useCache = true) {
  const source = fs.readFileSync(file, 'utf8');
  let cachedData;
  if (useCache) {
    try {
      cachedData = fs.readFileSync(`${file}.cache`);
    } catch {
      // No cache: compile as usual.
    }
  }
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, Module.createRequire(file), mod, file, path.dirname(file));
  return { exports: mod.exports, script };
}

module.exports = { loadBundle };
