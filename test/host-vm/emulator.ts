// Which QEMU runs L1: the installed one, or the binary TSVMM_TEST_HOST_QEMU names (an unpacked newer QEMU, say;
// docs/testing.md has what QEMU 10 did as L1's emulator). Its version goes in the log, since the emulator's own
// faults are most of what goes wrong in the test host.
import { execFile } from 'node:child_process';
import { HostVmError, findQemu } from './packages';

export interface Emulator {
  binary: string;
  /** The first line of `--version`. */
  version: string;
  /** Where it came from, for the log line. */
  source: string;
}

const versionOf = (file: string): Promise<string> => new Promise((resolve, reject) => {
  execFile(file, ['--version'], (err, stdout, stderr) => {
    if (err) reject(new Error((stderr || err.message).trim().split('\n')[0]));
    else resolve(parseQemuVersion(stdout));
  });
});

/** The first line of `qemu --version`. */
export function parseQemuVersion(text: string): string {
  return text.split('\n')[0]?.trim() ?? '';
}

export async function prepareEmulator(env: NodeJS.ProcessEnv = process.env): Promise<Emulator> {
  const named = env.TSVMM_TEST_HOST_QEMU;
  if (named !== undefined && named !== '') {
    const version = await versionOf(named).catch((e: unknown) => {
      throw new HostVmError(`TSVMM_TEST_HOST_QEMU=${named} does not run: ${(e as Error).message}`);
    });
    return { binary: named, version, source: 'TSVMM_TEST_HOST_QEMU' };
  }
  const binary = findQemu(env);
  const version = await versionOf(binary).catch((e: unknown) => {
    throw new HostVmError(`${binary} does not run: ${(e as Error).message}`);
  });
  return { binary, version, source: 'installed' };
}
