// `tsvmm doctor`: what this host can do, one line per item, each saying what to do about a missing piece. Exit
// status 0 when a microVM can run here (usable /dev/kvm and the native addon), 1 otherwise; what only some
// machines (a net device), the tests or the benchmark need is reported without changing the status.
import type { DoctorProbe } from './doctor-probe';
import { kvmModules } from '../vmm/host-probe';
import { kvmProblem, tapProblem, TUN_DEVICE } from '../vmm/preflight';

export interface DoctorCheck {
  /** Short and stable, for --json readers: kvm, addon, tap, vhost-net, vhost-vsock, fuse, qemu, test-host, guest. */
  name: string;
  ok: boolean;
  /**
   * required: every microVM needs it (only these decide the exit status); optional: some machines (a net device),
   * the tests or the benchmark need it; unused: tsvmm does not use it, shown because other VMMs ask for it.
   */
  need: 'required' | 'optional' | 'unused';
  /** What was found, or what is missing and what to do. */
  detail: string;
}

export interface DoctorReport {
  /** Every required check passed. */
  canRunMicroVm: boolean;
  checks: DoctorCheck[];
}

function kvmCheck(probe: DoctorProbe): DoctorCheck {
  const problem = kvmProblem(probe);
  if (problem !== undefined) return { name: 'kvm', ok: false, need: 'required', detail: problem };
  const mods = kvmModules(probe);
  const kind = mods.includes('kvm_pvm')
    ? 'kvm_pvm (PVM: guest kernel code is emulated, so it is slower; tsvmm applies its PVM quirks)'
    : mods.length > 0 ? `native KVM (${mods.join(', ')})`
      : 'KVM of an unknown kind (no kvm_intel, kvm_amd or kvm_pvm module)';
  return { name: 'kvm', ok: true, need: 'required', detail: `/dev/kvm opens: ${kind}` };
}

function addonCheck(probe: DoctorProbe): DoctorCheck {
  const problem = probe.addonError();
  return problem === undefined
    ? { name: 'addon', ok: true, need: 'required', detail: 'the native addon loads' }
    : { name: 'addon', ok: false, need: 'required', detail: problem };
}

function tapCheck(probe: DoctorProbe): DoctorCheck {
  const problem = tapProblem(probe, undefined);
  if (problem === undefined) {
    const detail = `${TUN_DEVICE} opens and this user may create taps (net devices)`;
    return { name: 'tap', ok: true, need: 'optional', detail };
  }
  return { name: 'tap', ok: false, need: 'optional', detail: `net devices: ${problem}` };
}

/** A device node tsvmm itself does not use, shown because other VMMs (and people comparing) ask for it. */
function nodeCheck(probe: DoctorProbe, name: string, node: string, why: string): DoctorCheck {
  const code = probe.openDevice(node);
  const found = code === undefined ? `${node} opens`
    : `${node} ${code === 'ENOENT' ? 'is absent' : `cannot be opened (${code})`}`;
  return { name, ok: code === undefined, need: 'unused', detail: `${found}; ${why}` };
}

function qemuCheck(probe: DoctorProbe): DoctorCheck {
  const qemu = probe.findExecutable('qemu-system-x86_64');
  const detail = qemu !== undefined
    ? `${qemu} (the tests' and the benchmark's comparisons, the test host)`
    : 'qemu-system-x86_64 is not installed: the tests, the benchmark and the test host use it ' +
      '(apt-get install qemu-system-x86)';
  return { name: 'qemu', ok: qemu !== undefined, need: 'optional', detail };
}

/** The nested test host (npm run test:vm): QEMU, a Debian kernel package for L1, busybox-static and e2fsprogs. */
async function testHostCheck(probe: DoctorProbe): Promise<DoctorCheck> {
  const lacks: string[] = [];
  if (probe.findExecutable('qemu-system-x86_64') === undefined) {
    lacks.push('qemu-system-x86_64 (apt-get install qemu-system-x86)');
  }
  if ((await probe.testHostKernel()) === undefined) {
    lacks.push('a Debian kernel package for L1 (apt-get update, so that apt knows linux-image-*-amd64)');
  }
  const missing = await probe.missingPackages(['busybox-static', 'e2fsprogs']);
  if (missing !== undefined && missing.length > 0 && !probe.isRoot()) {
    lacks.push(`${missing.join(' ')} (apt-get install ${missing.join(' ')} as root)`);
  }
  const detail = lacks.length === 0
    ? 'npm run test:vm can boot its L1 host (QEMU, a kernel package, busybox-static, e2fsprogs)'
    : `npm run test:vm needs ${lacks.join('; ')}`;
  return { name: 'test-host', ok: lacks.length === 0, need: 'optional', detail };
}

function guestCheck(probe: DoctorProbe): DoctorCheck {
  const missing = ['vmlinux', 'initramfs.cpio'].filter((n) => probe.guestArtifact(n) === undefined);
  const detail = missing.length === 0
    ? 'the bundled guest (@guest/vmlinux, @guest/initramfs.cpio) is built'
    : `${missing.map((n) => `@guest/${n}`).join(', ')} not built yet: run tsvmm guest build (or the first run ` +
      'that names it builds it; minutes)';
  return { name: 'guest', ok: missing.length === 0, need: 'optional', detail };
}

export async function doctor(probe: DoctorProbe): Promise<DoctorReport> {
  const checks = [
    kvmCheck(probe),
    addonCheck(probe),
    tapCheck(probe),
    nodeCheck(probe, 'vhost-net', '/dev/vhost-net', 'not used by tsvmm (it serves virtio-net itself)'),
    nodeCheck(probe, 'vhost-vsock', '/dev/vhost-vsock',
      'not used by tsvmm (it serves vsock itself, over unix sockets)'),
    nodeCheck(probe, 'fuse', '/dev/fuse',
      'not needed to share folders (tsvmm serves virtio-fs itself); one integration test mounts through it'),
    qemuCheck(probe),
    await testHostCheck(probe),
    guestCheck(probe),
  ];
  return { canRunMicroVm: checks.every((c) => c.ok || c.need !== 'required'), checks };
}

/** The report as text: ok, MISSING (required), missing (optional) or absent (unused); the item; what to do. */
export function formatDoctor(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const marks = { required: 'MISSING', optional: 'missing', unused: 'absent' } as const;
  const mark = (c: DoctorCheck): string => (c.ok ? 'ok' : marks[c.need]).padEnd(8);
  const lines = report.checks.map((c) => `${mark(c)}${c.name.padEnd(width + 2)}${c.detail}`);
  lines.push(report.canRunMicroVm
    ? 'This host can run microVMs.'
    : 'This host cannot run microVMs: see the MISSING lines.');
  return lines.join('\n') + '\n';
}

export const DOCTOR_DESCRIBE = 'Check what this host can do (KVM, the native addon, taps, QEMU, the test host)';

export const DOCTOR_EPILOG = 'One line per item: ok; MISSING (every microVM needs it); missing (only some machines, ' +
  'the tests or the benchmark need it); absent (tsvmm does not use it). Then what was found or what to do. Exit ' +
  'status 0 when this host can run a microVM, 1 when it cannot.';

/** Prints the report (text, or JSON with --json); the exit status says whether a microVM can run here. */
export async function doctorCommand(json: boolean,
  deps: { probe: DoctorProbe; stdout: { write(text: string): unknown } }): Promise<number> {
  const report = await doctor(deps.probe);
  deps.stdout.write(json ? JSON.stringify(report, null, 2) + '\n' : formatDoctor(report));
  return report.canRunMicroVm ? 0 : 1;
}
