// Runs a machine inside this Node process with the programmatic API: the console as a stream, pause and resume,
// counters, and a stop that asks the guest first.
//
//   npm run build
//   node dist/examples/in-process.js <kernel> [--expect TEXT] [--seconds N]
import { once } from 'node:events';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createVm } from '../src'; // from 'tsvmm' in a project that depends on it

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { expect: { type: 'string' }, seconds: { type: 'string', default: '10' } },
  });
  if (!positionals[0]) {
    process.stderr.write('usage: in-process <kernel> [--expect TEXT] [--seconds N]\n');
    return 2;
  }
  const vm = await createVm({ kernel: path.resolve(positionals[0]), memory: '64M' });
  let text = '';
  vm.console.on('data', (chunk: Buffer) => { text += chunk.toString('latin1'); });
  vm.console.pipe(process.stdout, { end: false });
  vm.on('exit', (exit) => process.stderr.write(`\n[example] ended: ${exit.reason}, status ${exit.status}\n`));
  vm.start();

  const deadline = Date.now() + Number(values.seconds) * 1000;
  const seen = (): boolean => values.expect !== undefined && text.includes(values.expect);
  while (!seen() && Date.now() < deadline && vm.state === 'running') await new Promise((r) => setTimeout(r, 20));

  if (vm.state === 'running') {
    await vm.pause();
    const exits = vm.counters().vcpus[0]!.exits;
    process.stderr.write(`\n[example] paused after ${exits.io} port I/O exits\n`);
    await vm.resume();
  }
  const exit = await vm.stop({ timeoutMs: 1000 }); // Ctrl-Alt-Del, then force after a second
  if (!vm.console.readableEnded) await once(vm.console, 'end');
  process.stderr.write(`[example] stop: ${exit.detail}\n`);
  return values.expect === undefined || seen() ? 0 : 1;
}

main().then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`[example] ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
