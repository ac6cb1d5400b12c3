// The two initramfs images, both uncompressed newc cpio (a compressed one costs the guest a minute of emulated
// inflate on hosts without hardware virtualization):
// - initramfs.cpio: busybox-static as /init (busybox's init applet), a shell and a small rcS;
// - init-pause.cpio: /init is a static binary that never makes a system call (configs/init-pause.S), for hosts
//   where guest user space cannot make system calls.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type CpioEntry, writeNewcArchive } from './cpio';
import { summarizeElf64 } from './elf-check';
import { runCommand } from './exec';

const EM_X86_64 = 62;

const RC_S = `#!/bin/sh
# tsvmm guest: mount the kernel file systems and give busybox's applets their names.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
/bin/busybox --install -s /bin
echo "tsvmm guest: busybox up"
`;

/** The entries every image has: the mount points and /dev/console (the kernel opens it for init's stdio). */
function baseEntries(): CpioEntry[] {
  return [
    { type: 'dir', path: 'dev' },
    { type: 'char', path: 'dev/console', major: 5, minor: 1, mode: 0o600 },
    { type: 'dir', path: 'proc', mode: 0o555 },
    { type: 'dir', path: 'sys', mode: 0o555 },
  ];
}

export function busyboxInitramfsEntries(busybox: Uint8Array): CpioEntry[] {
  return [
    ...baseEntries(),
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
    { type: 'symlink', path: 'bin/sh', target: 'busybox' },
    { type: 'symlink', path: 'init', target: '/bin/busybox' },
    { type: 'dir', path: 'etc' },
    { type: 'dir', path: 'etc/init.d' },
    { type: 'file', path: 'etc/init.d/rcS', data: Buffer.from(RC_S), mode: 0o755 },
    { type: 'dir', path: 'root', mode: 0o700 },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
  ];
}

export function pauseInitramfsEntries(init: Uint8Array): CpioEntry[] {
  return [...baseEntries(), { type: 'file', path: 'init', data: init, mode: 0o755 }];
}

/** Refuses a binary the guest kernel could not run as /init: not x86-64, or dynamically linked. */
export function checkStaticInit(image: Uint8Array, what: string): void {
  const elf = summarizeElf64(image);
  if (elf === undefined || elf.machine !== EM_X86_64) throw new Error(`guest build: ${what} is not an x86-64 ELF`);
  if (elf.hasInterpreter) throw new Error(`guest build: ${what} is dynamically linked; /init must be static`);
}

export interface InitramfsBuildInputs {
  busyboxPath: string;
  initPause: { path: string; text: string };
  workDir: string;
  outDir: string;
  log: (line: string) => void;
}

export async function buildInitramfs(inputs: InitramfsBuildInputs): Promise<void> {
  fs.mkdirSync(inputs.outDir, { recursive: true });
  inputs.log('[guest] writing initramfs.cpio (busybox) and init-pause.cpio ...');
  const busybox = fs.readFileSync(inputs.busyboxPath);
  checkStaticInit(busybox, `${inputs.busyboxPath} (install busybox-static)`);
  fs.writeFileSync(path.join(inputs.outDir, 'initramfs.cpio'), writeNewcArchive(busyboxInitramfsEntries(busybox)));

  const init = await buildInitPause(inputs.initPause, inputs.workDir);
  fs.writeFileSync(path.join(inputs.outDir, 'init-pause.cpio'), writeNewcArchive(pauseInitramfsEntries(init)));
}

/** The no-syscall /init (configs/init-pause.S), built in `workDir`: a static x86-64 ELF. */
export async function buildInitPause(source: { path: string; text: string }, workDir: string): Promise<Buffer> {
  const asm = path.join(workDir, 'init-pause.S');
  const binary = path.join(workDir, 'init-pause');
  fs.writeFileSync(asm, source.text);
  await runCommand('gcc', ['-nostdlib', '-static', '-Wl,--build-id=none', '-o', binary, asm]);
  const init = fs.readFileSync(binary);
  checkStaticInit(init, `${binary} (built from ${source.path})`);
  return init;
}
