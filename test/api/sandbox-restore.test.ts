// restoreSandbox's and restoreVm's options, checked before any snapshot is read or machine built.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { VmError } from '../../src/api/errors';
import { restoreVm } from '../../src/api/restore';
import { restoreSandbox } from '../../src/api/sandbox-restore';
import { validateConfig } from '../../src/vmm/config';
import { writeSnapshot } from '../../src/vmm/snapshot/format';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-sandbox-restore-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('restoreSandbox takes only the options that are not the machine\'s', async () => {
  await assert.rejects(restoreSandbox(dir, { memory: '1G' } as never),
    (e: unknown) => e instanceof TypeError && /unknown option "memory"/.test(e.message));
  await assert.rejects(restoreSandbox(dir, { execTimeoutMs: -1 }), RangeError);
});

test('restoreVm\'s vsockSocket is refused for a snapshot whose machine has no vsock device', async () => {
  await assert.rejects(restoreVm(dir, { vsockSocket: 42 } as never), TypeError);
  const kernel = path.join(dir, 'kernel.elf');
  fs.writeFileSync(kernel, 'not booted here');
  const snap = path.join(dir, 'snap');
  await writeSnapshot(snap, validateConfig({ kernel, memory: '32M' }), {
    capture: () => ({ sections: new Map(), memory: { bytes: 32 << 20, extents: [], view: () => new Uint8Array(0) } }),
  });
  await assert.rejects(restoreVm(snap, { vsockSocket: path.join(dir, 'v.sock') }), (e: unknown) =>
    e instanceof VmError && e.code === 'ERR_VM_SNAPSHOT' && /vsockSocket: the snapshot's machine has no vsock device/.test(e.message));
});
