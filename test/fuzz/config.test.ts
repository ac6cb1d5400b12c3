// The config validator and the config file reader against what a careless user (or a script gone wrong) might
// write: valid configs with fields swapped for values of the wrong type or at their limits, unknown keys, nested
// junk; and YAML text cut, spliced and aliased. Every refusal is a ConfigError; a refused mapping names its field.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import YAML from 'yaml';
import { ConfigError, readConfigFile, validateConfig } from '../../src/vmm/config';
import { forAll, plan } from './property';
import type { Rand } from './prng';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-fuzz-config-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
fs.writeFileSync(path.join(dir, 'vmlinux'), 'not run');
fs.writeFileSync(path.join(dir, 'disk.img'), Buffer.alloc(4096));

const DEVICES: Record<string, unknown>[] = [
  { type: 'rng', rateLimit: 4096 },
  { type: 'console', backend: 'socket', path: 'console.sock' },
  { type: 'blk', path: 'disk.img', readonly: true, cache: 'none', serial: 'disk0' },
  { type: 'net', mac: '52:54:00:12:34:56' },
  { type: 'vsock', cid: 3, socket: 'v.sock' },
  { type: 'balloon', targetMiB: 16, deflateOnOom: true, statsInterval: 5 },
  { type: 'fs', tag: 'share', path: '.', readonly: true },
];

function base(r: Rand): Record<string, unknown> {
  return {
    vcpus: r.range(1, 4), memory: r.pick([64, '128M', '1G']), kernel: 'vmlinux', cmdline: 'console=ttyS0',
    boot: r.pick(['auto', 'linux64', 'pvh']), serial: { mode: 'none' }, log: 'warn',
    devices: Array.from({ length: r.int(4) }, () => structuredClone(r.pick(DEVICES))),
  };
}

/** An own property even for `__proto__`, as JSON.parse makes one (plain assignment would set the prototype). */
function setOwn(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

function junk(r: Rand, depth = 0): unknown {
  switch (r.int(depth > 2 ? 7 : 10)) {
    case 0: return r.edgy();
    case 1: return -r.edgy();
    case 2: return r.pick([NaN, Infinity, -0, 1.5, 2 ** 64]);
    case 3: return r.pick(['', ' ', '0', '64Q', '1T', '-1M', '/dev/zero', '/proc/self/mem', '@guest/', '@guest/../x', 'a\0b']);
    case 4: return 'x'.repeat(r.pick([1, 255, 256, 4096, 70_000]));
    case 5: return r.pick([null, true, false, undefined]);
    case 6: return r.bytes(r.int(16)).toString('latin1');
    case 7: return Array.from({ length: r.int(4) }, () => junk(r, depth + 1));
    case 8: return structuredClone(r.pick(DEVICES));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(4); i > 0; i--) setOwn(o, r.pick(['type', 'path', 'mode', 'cid', 'x', '__proto__', 'constructor']), junk(r, depth + 1));
      return o;
    }
  }
}

/** Replaces, adds or deletes a few fields anywhere in the tree. */
function mutate(r: Rand, node: unknown, depth = 0): unknown {
  if (node === null || typeof node !== 'object' || depth > 3) return r.chance(0.3) ? junk(r) : node;
  const o = node as Record<string, unknown>;
  for (let i = r.int(3); i >= 0; i--) {
    const keys = Object.keys(o);
    // A list grows by one at most: a key like "4294967294" would make it billions long.
    const fresh = Array.isArray(o) ? String(keys.length) : r.pick(['vcpu', 'memroy', 'apiSocket', 'quirks', '0', String(r.u32())]);
    const k = keys.length > 0 && r.chance(0.8) ? r.pick(keys) : fresh;
    if (r.chance(0.1)) Reflect.deleteProperty(o, k);
    else setOwn(o, k, mutate(r, Object.hasOwn(o, k) ? o[k] : undefined, depth + 1));
  }
  return o;
}

function expectConfigError(run: () => unknown, mapping: boolean): void {
  try {
    run();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `not a ConfigError: ${(e instanceof Error ? e.stack : undefined) ?? String(e)}`);
    if (mapping) assert.ok(e.field !== '', `a refused mapping names no field: ${e.message}`);
    if (e.field !== '') assert.ok(e.message.startsWith(`${e.field}: `), `the message does not lead with ${e.field}`);
  }
}

test('config: mutated configs are accepted or refused with a ConfigError that names the field', async () => {
  await forAll('config-validate', plan(400, 0xc0f1), (r) => {
    const cfg = r.chance(0.05) ? junk(r) : mutate(r, base(r));
    const mapping = cfg !== null && typeof cfg === 'object' && !Array.isArray(cfg);
    expectConfigError(() => validateConfig(cfg, { baseDir: dir }), mapping);
  });
});

function yamlText(r: Rand): string {
  const text = YAML.stringify(mutate(r, base(r)));
  switch (r.int(5)) {
    case 0: return text.slice(0, r.int(text.length + 1));
    case 1: { const at = r.int(text.length + 1); return text.slice(0, at) + r.pick([': ', '- ', '&a ', '*a', '{', '[', '"', '\t', '!!binary ', '<<: *a\n', '\0']) + text.slice(at); }
    case 2: return `a: &a [${'x,'.repeat(r.int(8))}x]\n${Array.from({ length: r.int(6) }, (_, i) => `b${i}: &b${i} [*${i ? `b${i - 1}` : 'a'}, *${i ? `b${i - 1}` : 'a'}]`).join('\n')}\n${text}`;
    case 3: return `${text}${text}`;
    default: return text;
  }
}

test('config file: mangled YAML is read or refused with a ConfigError, and what is read validates the same way', async () => {
  const file = path.join(dir, 'c.yaml');
  await forAll('config-file', plan(400, 0xf11e), (r) => {
    fs.writeFileSync(file, yamlText(r));
    let raw: unknown;
    try {
      raw = readConfigFile(file);
    } catch (e) {
      assert.ok(e instanceof ConfigError, `not a ConfigError: ${(e instanceof Error ? e.stack : undefined) ?? String(e)}`);
      return;
    }
    const mapping = raw !== null && typeof raw === 'object' && !Array.isArray(raw);
    expectConfigError(() => validateConfig(raw, { baseDir: dir }), mapping);
  });
});
