// `tsvmm doctor`: one line per item, the status says whether a microVM can run, --json for programs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { main } from '../../src/cli';
import type { DoctorReport } from '../../src/cli/doctor';
import type { DoctorProbe } from '../../src/cli/doctor-probe';
import { fakeHost, type FakeHostOptions } from '../helpers/fake-host';

function fakeDoctorHost(over: FakeHostOptions & Partial<DoctorProbe> = {}): DoctorProbe {
  return {
    findExecutable: (name) => `/usr/bin/${name}`,
    missingPackages: async () => [],
    testHostKernel: async () => 'linux-image-6.1.0-1-amd64',
    guestArtifact: (name) => `/cache/${name}`,
    isRoot: () => false,
    ...fakeHost(over),
    ...over,
  };
}

async function run(probe: DoctorProbe, json = false): Promise<{ status: number; out: string }> {
  let out = '';
  const stdout = { write: (s: string) => { out += s; } };
  const status = await main(['doctor', ...(json ? ['--json'] : [])], { doctorProbe: probe, stdout });
  return { status, out };
}

test('doctor: a host with everything: status 0, every line ok, the kind of KVM named', async () => {
  const { status, out } = await run(fakeDoctorHost());
  assert.equal(status, 0);
  const lines = out.trimEnd().split('\n');
  assert.equal(lines.at(-1), 'This host can run microVMs.');
  for (const line of lines.slice(0, -1)) assert.match(line, /^ok {6}\S+ +\S/, line);
  assert.match(out, /^ok {6}kvm +\/dev\/kvm opens: native KVM \(kvm_intel\)$/m);
  const pvm = await run(fakeDoctorHost({ modules: ['kvm', 'kvm_pvm'] }));
  assert.match(pvm.out, /^ok {6}kvm +\/dev\/kvm opens: kvm_pvm \(PVM/m);
});

test('doctor: no KVM is MISSING and status 1; optional and unused items do not change the status', async () => {
  const bare = fakeDoctorHost({
    devices: { '/dev/kvm': 'ENOENT', '/dev/vhost-net': 'ENOENT', '/dev/net/tun': 'ENOENT' },
    modules: [],
    findExecutable: () => undefined,
    testHostKernel: async () => undefined,
    guestArtifact: () => undefined,
    missingPackages: async (names) => [...names],
  });
  const { status, out } = await run(bare);
  assert.equal(status, 1);
  assert.match(out, /^MISSING kvm +\/dev\/kvm does not exist: this host has no KVM; load kvm_intel or kvm_amd/m);
  assert.match(out, /^missing tap +net devices: \/dev\/net\/tun does not exist: load the tun module/m);
  assert.match(out, /^absent +vhost-net +\/dev\/vhost-net is absent; not used by tsvmm/m);
  assert.match(out, /^missing qemu +qemu-system-x86_64 is not installed: .*apt-get install qemu-system-x86/m);
  assert.match(out,
    /^missing test-host +npm run test:vm needs qemu-system-x86_64 .*; a Debian kernel package .*; busybox-static e2fsprogs/m);
  assert.match(out, /^missing guest +@guest\/vmlinux, @guest\/initramfs.cpio not built yet: run tsvmm guest build/m);
  assert.match(out, /This host cannot run microVMs: see the MISSING lines.\n$/);
  const ok = await run(fakeDoctorHost({ devices: { '/dev/net/tun': 'ENOENT' }, findExecutable: () => undefined }));
  assert.equal(ok.status, 0);
});

test('doctor --json: the same checks for programs', async () => {
  const { status, out } = await run(fakeDoctorHost({ addonError: () => 'the native addon is not built: x' }), true);
  assert.equal(status, 1);
  const report = JSON.parse(out) as DoctorReport;
  assert.equal(report.canRunMicroVm, false);
  assert.deepEqual(report.checks.map((c) => c.name),
    ['kvm', 'addon', 'tap', 'vhost-net', 'vhost-vsock', 'fuse', 'qemu', 'test-host', 'guest']);
  assert.deepEqual(report.checks.find((c) => c.name === 'addon'),
    { name: 'addon', ok: false, need: 'required', detail: 'the native addon is not built: x' });
});
