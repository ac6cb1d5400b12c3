// createVm's config is typed: each line marked @ts-expect-error must fail to compile, and tsc (npm run build) fails
// on a marker whose line compiles, so loosening the type (back to `unknown`) breaks the build. The functions are
// never called; checkConfigInput is the run-time way in for a config of unknown shape.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createVm } from '../../src/api/create';
import { checkConfigInput, ConfigError, type MachineConfigInput } from '../../src/vmm/config';

export function refusedAtCompileTime(): void {
  // @ts-expect-error a misspelt key (and kernel missing)
  void createVm({ kernal: '/x' });
  // @ts-expect-error a misspelt key beside the right ones
  void createVm({ kernel: '/x', memroy: 64 });
  // @ts-expect-error vcpus is a number
  void createVm({ kernel: '/x', vcpus: 'two' });
  // @ts-expect-error not one of the boot protocols
  void createVm({ kernel: '/x', boot: 'efi' });
  // @ts-expect-error a device's misspelt key
  void createVm({ kernel: '/x', devices: [{ type: 'blk', path: 'disk.img', raedonly: true }] });
  // @ts-expect-error a device type that does not exist
  void createVm({ kernel: '/x', devices: [{ type: 'sound' }] });
  // @ts-expect-error a vsock device needs its cid
  void createVm({ kernel: '/x', devices: [{ type: 'vsock', socket: 'v.sock' }] });
}

export function acceptedAtCompileTime(parsedYaml: unknown): void {
  void createVm({
    kernel: '@guest/vmlinux', memory: '256M', vcpus: 2, serial: { mode: 'none' }, log: { level: 'warn' },
    devices: [{ type: 'blk', path: 'disk.img', create: true, size: 64 }, { type: 'vsock', cid: 3, socket: 'v.sock' }],
  });
  void createVm(checkConfigInput(parsedYaml));
}

test('checkConfigInput types an unknown value after checking its shape, or names the field', () => {
  const raw: unknown = JSON.parse('{"kernel": "@guest/vmlinux", "memory": "128M"}');
  const config: MachineConfigInput = checkConfigInput(raw);
  assert.equal(config, raw, 'the same object, now typed');
  assert.throws(() => checkConfigInput({ kernal: '/x' }),
    (e: unknown) => e instanceof ConfigError && e.message === 'kernal: unknown key (did you mean kernel?)');
  assert.throws(() => checkConfigInput({ kernel: '/x', vcpus: 'two' }),
    (e: unknown) => e instanceof ConfigError && e.message === 'vcpus: "two" is not an integer');
  assert.throws(() => checkConfigInput([]), (e: unknown) => e instanceof ConfigError && /must be a mapping/.test(e.message));
});
