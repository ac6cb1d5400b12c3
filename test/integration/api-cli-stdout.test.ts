// `tsvmm run` puts the serial console on its stdout as the console stream's consumer never could: a reader that
// takes its time (a pipe nobody reads until the machine has ended) still gets every byte, and the process exits
// only once they have left. The control socket tells the test when the machine has ended.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { VmClient } from '../../src/api/client';
import { BIN, REPO } from '../helpers/cli-run';
import { countersReport } from '../helpers/counters-report';
import { kvmUnavailable } from '../helpers/kvm';
import { pvhElf } from '../helpers/pvh-elf';

const skip = kvmUnavailable();
const DOTS = 0x60000; // 384 KiB: more than a pipe and the UART's ring hold together
/** A safety net: under emulated KVM a string write still costs an exit per 4 KiB page, and an exit is slow there. */
const LIMIT_MS = 300_000;
/** Where the guest builds its dots before writing them: above the PVH image, inside the 64 MiB of RAM. */
const BUFFER = 0x200000;
const le32 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];

function note(line: string): void {
  process.stderr.write(`# ${line}\n`);
}

/**
 * Fills DOTS bytes of RAM with '.', writes them to COM1 with one `rep outsb` (KVM hands a page of it to user space
 * per exit, so the flood costs about a hundred exits instead of 384 Ki: under emulation that is seconds, not
 * minutes), then pulses the i8042 reset line: the machine ends with reason reset.
 */
const FLOOD_THEN_RESET = Uint8Array.from([
  0xbf, ...le32(BUFFER), // mov edi, BUFFER
  0xb9, ...le32(DOTS), // mov ecx, DOTS
  0xb0, 0x2e, // mov al, '.'
  0xf3, 0xaa, // rep stosb
  0xbe, ...le32(BUFFER), // mov esi, BUFFER
  0xb9, ...le32(DOTS), // mov ecx, DOTS
  0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
  0xf3, 0x6e, // rep outsb
  0xb0, 0xfe, 0xe6, 0x64, // mov al, 0xfe; out 0x64, al
  0xf4, // hlt
]);

describe('tsvmm run behind a slow stdout', { skip, timeout: 3 * LIMIT_MS }, () => {
  let dir: string;
  let child: ReturnType<typeof spawn> | undefined;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-stdout-')); });
  after(() => {
    // A failed run must not leave a tsvmm behind that keeps the test runner waiting.
    if (child?.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loses no console output when stdout is read only after the machine has ended', async () => {
    const kernel = path.join(dir, 'flood.elf');
    fs.writeFileSync(kernel, pvhElf(FLOOD_THEN_RESET));
    const sock = path.join(dir, 'vm.sock');
    child = spawn(process.execPath, [BIN, 'run', '--kernel', kernel, '--memory', '64M', '--api-sock', sock,
      '--log-level', 'warn'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const proc = child;
    proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
    proc.stdout!.pause();

    const client = new VmClient(sock);
    // Starting node alone takes seconds under emulated KVM; ready() returns as soon as the socket answers.
    await client.ready(LIMIT_MS);
    // GET /exit answers when the machine has ended, however long the flood takes; a tsvmm that lost output may
    // have gone already, and a dropped connection ends the wait too. The limit is only a safety net.
    let limit: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      client.waitForExit().then(() => 'the machine ended', (e: unknown) => `the socket failed (${(e as Error).message})`),
      new Promise<never>((_, reject) => {
        limit = setTimeout(() => {
          // What the machine was doing then: whether the vCPU still made exits, and what the console dropped.
          void countersReport(sock).then((c) => reject(new Error(`no end of the machine (GET /exit) within ${LIMIT_MS} ` +
            `ms while stdout was left unread; counters then: ${c}; stderr: ${err}`)));
        }, LIMIT_MS);
      }),
    ]).finally(() => clearTimeout(limit));
    note(ended);
    let out = 0;
    let other = 0;
    proc.stdout!.on('data', (d: Buffer) => {
      for (const b of d) { if (b === 0x2e) out++; else other++; }
    });
    proc.stdout!.resume();
    let exitLimit: NodeJS.Timeout | undefined;
    const status = await Promise.race([exited, new Promise<never>((_, reject) => {
      exitLimit = setTimeout(() => reject(new Error(`tsvmm did not exit within ${LIMIT_MS} ms of its stdout being read; ` +
        `stderr: ${err}`)), LIMIT_MS);
    })]).finally(() => clearTimeout(exitLimit));
    assert.equal(status, 0, err);
    assert.deepEqual([out, other], [DOTS, 0], 'every dot the guest printed, nothing else');
  });
});
