// A folder with a kernel and the given files, and config validation against it: what the device config tests share.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, validateConfig, type MachineConfig } from '../../src/vmm/config';

export interface ConfigFixture {
  readonly dir: string;
  /** Validates a config with `./vmlinux` as its kernel and `extra` beside it, paths resolved from `dir`. */
  readonly valid: (extra: Record<string, unknown>) => MachineConfig;
  /** Asserts that `devices` is refused with a ConfigError naming `field` and saying `message`. */
  readonly rejects: (devices: unknown[], field: string, message: string) => void;
}

export function configFixture(prefix: string, files: Record<string, string | Buffer>): ConfigFixture {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.writeFileSync(path.join(dir, 'vmlinux'), 'kernel');
  for (const [name, data] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), data);
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const valid = (extra: Record<string, unknown>): MachineConfig =>
    validateConfig({ kernel: './vmlinux', ...extra }, { baseDir: dir });
  const rejects = (devices: unknown[], field: string, message: string): void => {
    assert.throws(() => valid({ devices }), (e: unknown) => {
      assert.ok(e instanceof ConfigError, `not a ConfigError: ${String(e)}`);
      assert.equal(e.field, field);
      assert.equal(e.message, `${field}: ${message}`);
      return true;
    });
  };
  return { dir, valid, rejects };
}
