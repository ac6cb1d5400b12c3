// The host checks made before a machine is built: each missing piece is one line saying what to do.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { effectiveCaps } from '../../src/vmm/host-probe';
import { HostError, kvmProblem, preflight, tapProblem } from '../../src/vmm/preflight';
import { validateConfig } from '../../src/vmm/config';
import { fakeHost } from '../helpers/fake-host';

const netConfig = validateConfig({ kernel: __filename, devices: [{ type: 'rng' }, { type: 'net', tap: 'tap7' }] },
  { baseDir: __dirname });

test('a usable host passes, with or without a config', () => {
  preflight(undefined, fakeHost());
  preflight(netConfig, fakeHost());
});

test('no /dev/kvm: what to load or pass in, depending on the modules', () => {
  assert.match(kvmProblem(fakeHost({ devices: { '/dev/kvm': 'ENOENT' }, modules: [] }))!,
    /^\/dev\/kvm does not exist: this host has no KVM; load kvm_intel or kvm_amd/);
  assert.match(kvmProblem(fakeHost({ devices: { '/dev/kvm': 'ENOENT' }, modules: ['kvm', 'kvm_pvm'] }))!,
    /^\/dev\/kvm does not exist though kvm_pvm is loaded: in a container, pass the device in/);
  assert.match(kvmProblem(fakeHost({ devices: { '/dev/kvm': 'EACCES' } }))!, /add the user to the kvm group/);
  assert.match(kvmProblem(fakeHost({ devices: { '/dev/kvm': 'EPERM' } }))!, /EPERM/);
  assert.throws(() => preflight(undefined, fakeHost({ devices: { '/dev/kvm': 'ENOENT' } })),
    (e: unknown) => e instanceof HostError && !e.message.includes('\n'));
});

test('the addon is checked after KVM, and its message kept', () => {
  const host = fakeHost({ addonError: () => 'the native addon is not built: x is missing; rebuild it with ...' });
  assert.throws(() => preflight(undefined, host), { name: 'HostError', message: /^the native addon is not built/ });
});

test('taps: /dev/net/tun only when a net device is configured; creating one needs CAP_NET_ADMIN', () => {
  const noTun = fakeHost({ devices: { '/dev/net/tun': 'ENOENT' } });
  preflight(validateConfig({ kernel: __filename, devices: [{ type: 'rng' }] }, { baseDir: __dirname }), noTun);
  assert.throws(() => preflight(netConfig, noTun),
    { name: 'HostError', message: 'devices[1] (net): /dev/net/tun does not exist: load the tun module (modprobe tun)' });
  const user = fakeHost({ canAdminNet: () => false });
  assert.throws(() => preflight(netConfig, user), {
    message: 'devices[1] (net): creating tap "tap7" needs root or CAP_NET_ADMIN; or make one the user owns first ' +
      '(ip tuntap add tap7 mode tap user USER)',
  });
  // A tap made beforehand may be the user's own: the kernel decides.
  preflight(netConfig, fakeHost({ canAdminNet: () => false, netInterfaceExists: (n) => n === 'tap7' }));
  assert.match(tapProblem(user, undefined)!, /^creating a tap needs root .* and name it in tap:$/);
});

test('CapEff is read as hexadecimal', () => {
  assert.equal(effectiveCaps('Name:\tnode\nCapEff:\t0000000000001000\n'), 0x1000n);
  assert.equal(effectiveCaps('no such line'), 0n);
});
