// Supervises a machine in another process, the way Firecracker users do: spawns `tsvmm run --api-sock`, sends the
// machine config and the start action through the control socket, reads what the guest prints on its serial
// console (the tsvmm process's stdout), shows the counters and stops the machine.
//
//   npm run build
//   node dist/examples/boot-through-api.js [kernel] [--initrd FILE] [--cmdline TEXT] [--expect TEXT] [--seconds N]
//
// Without a kernel it boots the project's tiny test kernel (`@guest/test-kernel.elf`, built on first use) with a
// virtio-rng device and `test=rng`, and expects its PASS line. It stops the machine once the console shows --expect
// (or after --seconds, default 10) and exits 0 when the text was seen (or none was asked for), 1 otherwise.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { VmClient } from '../src'; // from 'tsvmm' in a project that depends on it

const TSVMM = path.join(__dirname, '..', '..', 'bin', 'tsvmm.js');
const TINY_KERNEL = '@guest/test-kernel.elf';

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      initrd: { type: 'string' },
      cmdline: { type: 'string' },
      expect: { type: 'string' },
      seconds: { type: 'string', default: '10' },
    },
  });
  const tiny = positionals[0] === undefined;
  const kernel = positionals[0] ?? TINY_KERNEL;
  const expect = values.expect ?? (tiny ? 'TSVMM-TEST: PASS rng' : undefined);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-example-'));
  const socket = path.join(dir, 'api.sock');
  const vmm = spawn(process.execPath, [TSVMM, 'run', '--api-sock', socket, '--log-level', 'warn'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  let console = '';
  vmm.stdout.on('data', (chunk: Buffer) => {
    console += chunk.toString('latin1');
    process.stdout.write(chunk);
  });
  const ended = new Promise<number | null>((resolve) => vmm.on('exit', resolve));
  try {
    const client = new VmClient(socket);
    // A fresh tsvmm needs a moment before its socket answers (seconds on a slow or emulated host); if it ends
    // first, say so rather than wait out the limit.
    await Promise.race([client.ready(120_000), ended.then((code) => {
      throw new Error(`tsvmm ended (status ${code}) before its socket answered`);
    })]);
    await client.putConfig({
      kernel: kernel.startsWith('@guest/') ? kernel : path.resolve(kernel),
      memory: '128M',
      ...(values.initrd ? { initrd: path.resolve(values.initrd) } : {}),
      ...(values.cmdline ?? tiny ? { cmdline: values.cmdline ?? 'test=rng' } : {}),
      ...(tiny ? { devices: [{ type: 'rng' }] } : {}),
      serial: { mode: 'stdio' },
    });
    await client.start();
    const deadline = Date.now() + Number(values.seconds) * 1000;
    const seen = (): boolean => expect !== undefined && console.includes(expect);
    // A guest that ends by itself (the tiny kernel resets after its verdict) takes the tsvmm process and its socket
    // with it, so from the start every question may find nobody to answer.
    const state = (): Promise<string> => client.info().then((i) => i.state, () => 'gone');
    while (!seen() && Date.now() < deadline && await state() === 'running') {
      await new Promise((r) => setTimeout(r, 50));
    }
    const { vcpus } = await client.counters().catch(() => ({ vcpus: [] }));
    process.stderr.write(`\n[example] vCPU exits: ${JSON.stringify(vcpus.map((v) => v.exits))}\n`);
    const now = await state();
    if (now !== 'gone') {
      const exit = await (now === 'exited' ? client.waitForExit() : client.stop({ timeoutMs: 1000 })).catch(() => undefined);
      if (exit) process.stderr.write(`[example] machine ended: ${exit.reason} (${exit.detail})\n`);
    }
    process.stderr.write(`[example] tsvmm exit status ${await ended}\n`);
    return expect === undefined || seen() ? 0 : 1;
  } finally {
    if (vmm.exitCode === null) vmm.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`[example] ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
