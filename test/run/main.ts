// `npm test`: the unit tests here, then the integration suites (the ones that boot guests) where there is a KVM to
// boot them on: here when /dev/kvm is usable, otherwise inside the test host (test/host-vm: an L1 Linux with
// /dev/kvm under QEMU's TCG). It ends with a summary that says which files ran on which host, every skip and
// failure with its reason, and one count line in which a skipped suite counts as skipped.
//
//   npm test                 unit, then integration (here or in the test host)
//   npm test -- --unit       unit only          npm test -- --integration   integration only
//   TSVMM_TEST_HOST_VM=auto (default) | force (the test host even with a usable /dev/kvm) | off (never: the
//     integration files are reported as skipped, loudly)
//   TSVMM_TEST_VM_TIMEOUT    seconds the test host may run (default 3600)
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { packageRoot } from '../../src/package-root';
import { kvmUnavailable } from '../helpers/kvm';
import { HostVmError } from '../host-vm/packages';
import { prepareHostVm } from '../host-vm/prepare';
import { runInL1 } from '../host-vm/run';
import { buildUserspaceInitramfs } from '../userspace/image';
import { formatSummary, type RunTally } from './tally';
import { collectTests, nodeTestArgs, readTally, resultsDir, tallyEnv } from './files';

const log = (line: string): void => void process.stderr.write(`${line}\n`);

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'inherit', env, cwd: packageRoot() });
    child.on('error', () => resolve(127));
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

async function runHere(part: string, files: string[], json: string, concurrency?: number): Promise<RunTally | undefined> {
  await run(process.execPath, nodeTestArgs(files, concurrency), tallyEnv(part, json));
  return readTally(json);
}

async function runInTestHost(json: string, missing: string[]): Promise<RunTally | undefined> {
  log('[test] /dev/kvm is not usable here: the integration suites run inside the test host (test/host-vm)');
  log('[test] building the guest artifacts here first (under emulation that would take hours) ...');
  const built = await run(process.execPath, [path.join(packageRoot(), 'bin', 'tsvmm.js'), 'guest', 'build']);
  if (built !== 0) {
    missing.push(`integration: the guest build failed (status ${built}), so nothing was booted`);
    return undefined;
  }
  await buildUserspaceInitramfs(log);
  const host = await prepareHostVm({ log });
  const transcript = path.join(resultsDir(), 'l1-transcript.log');
  const out = fs.createWriteStream(transcript);
  const output = new Writable({
    write(chunk: Buffer, _enc: string, cb: () => void) {
      process.stdout.write(chunk);
      out.write(chunk, cb);
    },
  });
  const timeoutMs = Number(process.env.TSVMM_TEST_VM_TIMEOUT ?? 3600) * 1000;
  const l1 = runInL1({
    host, share: packageRoot(), output, log, timeoutMs,
    command: [process.execPath, path.join('dist', 'test', 'run', 'integration.js'), path.relative(packageRoot(), json)],
  });
  const abort = (status: number) => (): void => l1.abort(status);
  process.once('SIGINT', abort(130));
  process.once('SIGTERM', abort(143));
  const result = await l1.done;
  out.end();
  log(`[test] the test host ran ${((result.wallMs) / 60000).toFixed(1)} min (L1 boot to first output ` +
    `${result.firstOutputMs === undefined ? '-' : (result.firstOutputMs / 1000).toFixed(1)} s), status ${result.status}; ` +
    `transcript: ${path.relative(packageRoot(), transcript)}`);
  const tally = readTally(json);
  const failedFiles = tally?.files.some((f) => f.failed > 0 || f.suites.some((s) => s.status === 'fail')) ?? false;
  // A run cut short (time limit, L1 failing) leaves a tally that may look clean: its end is a failure of its own.
  if (tally === undefined || (result.status !== 0 && !failedFiles)) {
    const why = result.status === 124 ? ' (past its time limit, TSVMM_TEST_VM_TIMEOUT)' : '';
    missing.push(`integration: the test host ended with status ${result.status}${why}` +
      `${tally === undefined ? ' before reporting' : ` after ${tally.files.length} files`}`);
  }
  return tally;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const wantUnit = !argv.includes('--integration');
  const wantIntegration = !argv.includes('--unit');
  const dir = resultsDir();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const { unit, integration } = collectTests();
  if (unit.length + integration.length === 0) {
    log('no compiled tests under dist/test: run `npm run build` first');
    return 1;
  }
  const tallies: RunTally[] = [];
  const missing: string[] = [];
  if (wantUnit) {
    const t = await runHere('unit', unit, path.join(dir, 'unit.json'));
    if (t) tallies.push(t);
    else missing.push('unit: the test runner reported nothing');
  }
  if (wantIntegration && integration.length > 0) {
    const json = path.join(dir, 'integration.json');
    const mode = process.env.TSVMM_TEST_HOST_VM ?? 'auto';
    const why = kvmUnavailable();
    let t: RunTally | undefined;
    if (why === undefined && mode !== 'force') {
      t = await runHere('integration', integration, json, 1);
    } else if (mode === 'off') {
      log(`[test] TSVMM_TEST_HOST_VM=off and ${why ?? 'the test host is off'}: the integration suites are NOT run`);
      t = skippedTally(integration, `not run: ${why ?? 'TSVMM_TEST_HOST_VM=off'} and TSVMM_TEST_HOST_VM=off`);
    } else {
      t = await runInTestHost(json, missing);
    }
    if (t) tallies.push(t);
    else if (missing.length === 0) missing.push('integration: the test runner reported nothing');
  }
  process.stdout.write(formatSummary(tallies, missing));
  const failed = missing.length > 0 || tallies.some((t) => t.files.some((f) => f.failed > 0 || f.suites.some((s) => s.status === 'fail')));
  return failed ? 1 : 0;
}

function skippedTally(files: string[], reason: string): RunTally {
  return {
    part: 'integration', host: 'no KVM',
    files: files.map((file) => ({ file, suites: [{ name: path.basename(file), status: 'skip', reason }], passed: 0, failed: 0, skipped: 1, durationMs: 0 })),
  };
}

main().then((status) => { process.exitCode = status; }, (err: unknown) => {
  log(`test: ${err instanceof HostVmError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
