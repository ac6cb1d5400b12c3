#!/usr/bin/env node
// `npm run docs:schema`: writes docs/config.schema.json, the machine config's JSON Schema, from the schema in
// src/vmm/config-schema.ts (compiled: the npm script runs tsc first). test/vmm/config-doc.test.ts fails while the
// committed file differs from what this writes.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const { CONFIG_SCHEMA_FILE, configJsonSchemaText } = require('../dist/src/vmm/config-doc.js');

const file = path.join(__dirname, '..', CONFIG_SCHEMA_FILE);
const text = configJsonSchemaText();
let old = '';
try {
  old = fs.readFileSync(file, 'utf8');
} catch {
  // not written yet
}
if (old === text) {
  process.stdout.write(`${CONFIG_SCHEMA_FILE} is up to date\n`);
} else {
  fs.writeFileSync(file, text);
  process.stdout.write(`wrote ${CONFIG_SCHEMA_FILE}\n`);
}
