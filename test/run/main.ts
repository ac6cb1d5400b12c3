// `npm test`: the unit tests here, then the integration suites (the ones that boot guests) where there is a KVM to
// boot them on: here when /dev/kvm is usable, otherwise inside the test host (test/host-vm: an L1 Linux with
// /dev/kvm under QEMU's TCG). It ends with a summary that says which files ran on which host, every skip and
// failure with its reason, and one count line in which a skipped suite counts as skipped.
//
//   npm test                 unit, then integration (here or in the test host)
//   npm test -- --unit       unit only          npm test -- --integration   integration only
//   TSVMM_TEST_HOST_VM=auto (default: the test host without a usable /dev/kvm or on kvm_pvm) | force (the test
//     host even with a usable /dev/kvm) | off (never: here on kvm_pvm, else the files are reported as skipped, loudly)
//   TSVMM_TEST_VM_TIMEOUT    seconds the test host may run (default 4800)
//   TSVMM_TEST_DEADLINE      a Unix time (seconds) by which the test host must be done, whatever the timeout says:
//     .ci/run sets it from its own start, so the whole CI job stays inside its limit
//   TSVMM_TEST_FILES         a,b: only the integration files whose names hold one of these
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { packageRoot } from '../../src/base/package-root';
import { DEBIAN_IMAGE_TEST_FILE, prepareDebianTestImage } from '../helpers/debian-image';
import { kvmUnavailable } from '../helpers/kvm';
import { isPvmHost } from '../../src/vmm/host-quirks';
import { HostVmError } from '../host-vm/packages';
import { prepareHostVm } from '../host-vm/prepare';
import type { PreparedHost } from '../host-vm/prepare';
import { L1_FAILED, runInL1 } from '../host-vm/run';
import { buildStockGuest } from '../stock/image';
import { buildUserspaceInitramfs } from '../userspace/image';
import { fileStatus, formatSummary, type RunTally } from './tally';
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

/** The integration files one L1 runs: one file, or a few short ones (each L1 costs about 20 s to boot). */
interface L1Unit { name: string; files: string[] }

/** Files short enough to share an L1, four at a time: each takes well under a minute on a good run. */
const SHORT_FILES = /^(tiny-|api-tiny|bench-emulated|fs-host-fuse|vsock-machine|snapshot-devices|snapshot-net)/;
const SHORT_PER_L1 = 4;

function l1Units(files: readonly string[]): L1Unit[] {
  const units: L1Unit[] = [];
  let batch: string[] = [];
  const flush = (): void => {
    if (batch.length > 0) units.push({ name: batch.map((f) => path.basename(f, '.test.js')).join('+'), files: batch });
    batch = [];
  };
  for (const file of files) {
    if (!SHORT_FILES.test(path.basename(file))) {
      units.push({ name: path.basename(file, '.test.js'), files: [file] });
      continue;
    }
    batch.push(file);
    if (batch.length === SHORT_PER_L1) flush();
  }
  flush();
  return units;
}

/** Runs one L1 for `unit`; a soft lockup in L1's own kernel (QEMU's TCG sometimes wedges a nested CPU) ends it. */
async function oneUnitInL1(host: PreparedHost, unit: L1Unit, json: string, output: Writable,
  deadline: number): Promise<{ status: number; wedged: boolean; ms: number; failure?: string }> {
  const l1 = runInL1({
    host, share: packageRoot(), output, log, timeoutMs: Math.max(60_000, Math.min(unitLimitMs(unit), deadline - Date.now())),
    command: [process.execPath, path.join('dist', 'test', 'run', 'integration.js'), path.relative(packageRoot(), json),
      ...unit.files.map((f) => path.basename(f))],
  });
  let wedged = false;
  const started = Date.now();
  const watch = setInterval(() => {
    let text: string;
    try { text = fs.readFileSync(l1.consoleLog, 'utf8'); } catch { return; }
    // Two signs: L1's kernel says so, or L1's process list (rewritten every 15 s) has gone stale.
    const lockup = /soft lockup - CPU#\d+ stuck for (\d{3,}|[6-9]\d)s/.test(text);
    // Before the first list, the time since L1 was started counts: an L1 that wedges before its first list (about
    // 20 s after boot) would otherwise never look stale.
    let listed = started;
    try { listed = fs.statSync(path.join(path.dirname(l1.consoleLog), 'ps')).mtimeMs; } catch { /* none yet */ }
    const staleMs = Date.now() - listed;
    if (!wedged && (lockup || staleMs > STALE_PS_MS)) {
      wedged = true;
      log(`[test] L1 wedged while running ${unit.name} (${lockup ? 'its kernel reports a soft lockup'
        : `its process list is ${Math.round(staleMs / 1000)} s old`}); stopping this L1`);
      // L1's own console says where its kernel was stuck: kept, since the control folder goes with L1.
      const kept = path.join(resultsDir(), `l1-wedge-${unit.name}-${Date.now()}.console.log`);
      try { fs.copyFileSync(l1.consoleLog, kept); } catch { /* nothing to keep */ }
      l1.abort(L1_WEDGED);
    }
  }, 5000);
  const stop = (): void => l1.abort(130);
  process.once('SIGINT', stop);
  try {
    const result = await l1.done;
    return { status: result.status, wedged, ms: result.wallMs, ...(result.failure ? { failure: result.failure } : {}) };
  } finally {
    clearInterval(watch);
    process.off('SIGINT', stop);
  }
}

/** How long one file may hold an L1: about three times what it takes on a good run, so a file that hangs (an
 *  emulated CPU that stops making progress, say) costs minutes, not the run. The Linux suites boot many guests. */
const FILE_LIMIT_MS = 10 * 60_000;
const LONG_FILE_LIMIT_MS = 25 * 60_000;
const LONG_FILES = /^(linux-userspace|linux-devices|linux-browser|sandbox-|stock-kernel|linux-iommu|readme-examples)/;
const unitLimitMs = (unit: L1Unit): number =>
  (unit.files.some((f) => LONG_FILES.test(path.basename(f))) ? LONG_FILE_LIMIT_MS : FILE_LIMIT_MS);
const STALE_PS_MS = 150_000;
const L1_WEDGED = 126;
const FILE_TRIES = 4;
/** Tries of a file whose tests fail in L1 (apart from L1 giving out). */
const FAILED_FILE_TRIES = 3;

// One L1 per integration file (short ones four to an L1): each starts from a clean L1 (about 20 s of boot), and an
// L1 whose emulated CPU wedges costs only its files, which run again in a new L1 (at most FILE_TRIES times, each
// said on stderr and counted in .test-results/l1-wedges.log).
async function runInTestHost(files: string[], json: string, missing: string[], why: string): Promise<RunTally | undefined> {
  log(`[test] ${why}: the integration suites run inside the test host (test/host-vm)`);
  log('[test] building the guest artifacts here first (under emulation that would take hours) ...');
  const built = await run(process.execPath, [path.join(packageRoot(), 'bin', 'tsvmm.js'), 'guest', 'build']);
  if (built !== 0) {
    missing.push(`integration: the guest build failed (status ${built}), so nothing was booted`);
    return undefined;
  }
  await buildUserspaceInitramfs(log);
  const host = await prepareHostVm({ log });
  await buildStockGuest(log);
  const transcript = fs.createWriteStream(path.join(resultsDir(), 'l1-transcript.log'));
  const output = new Writable({
    write(chunk: Buffer, _enc: string, cb: () => void) {
      process.stdout.write(chunk);
      transcript.write(chunk, cb);
    },
  });
  const deadline = testHostDeadline();
  log(`[test] the test host has until ${new Date(deadline).toISOString()} (${Math.round((deadline - Date.now()) / 60000)} min)`);
  const merged: RunTally = { part: 'integration', host: 'nested L1', files: [] };
  const started = Date.now();
  for (const unit of l1Units(files)) {
    let done = false;
    const retries: string[] = [];
    let lastL1Failure = '';
    for (let attempt = 1; attempt <= FILE_TRIES && !done; attempt++) {
      if (Date.now() > deadline) break;
      const part = path.join(resultsDir(), `integration-${unit.name}.json`);
      fs.rmSync(part, { force: true });
      const r = await oneUnitInL1(host, unit, part, output, deadline);
      if (r.status === 130) { transcript.end(); return undefined; }
      fs.appendFileSync(path.join(resultsDir(), 'l1-times.log'), `${unit.name}\t${Math.round(r.ms / 1000)} s\tstatus ${r.status}\n`);
      log(`[test] ${unit.name}: ${Math.round(r.ms / 1000)} s in L1, status ${r.status}${r.wedged ? ' (wedged)' : ''}`);
      const tally = readTally(part);
      // L1 itself gave out (wedged, or QEMU ended without the command's status): the file did not really run, even
      // if it reported some results before L1 went, so it runs again in a new L1; the reason is kept and said.
      if (r.wedged || r.status === L1_FAILED) {
        lastL1Failure = r.failure ?? (r.wedged ? 'L1 wedged' : `L1 ended with status ${r.status}`);
        fs.appendFileSync(path.join(resultsDir(), 'l1-wedges.log'), `${unit.name}: try ${attempt} (status ${r.status}): ${lastL1Failure}\n`);
        log(`[test] ${unit.name}: L1 gave out on try ${attempt} (${lastL1Failure})`);
        continue;
      }
      const timedOut = r.status === 124;
      const failed = timedOut || (tally?.files.some((f) => fileStatus(f) === 'fail') ?? false);
      // The emulated host faults now and then (a guest's timer or an L1 CPU stops for minutes; an L2 Linux
      // triple-faults early, docs/testing.md). A file that fails there runs again in a fresh L1, at most
      // FAILED_FILE_TRIES times in all; the summary names every such retry with what failed before, so a real
      // fault, which fails every time, still fails the run, and an intermittent one stays visible.
      if (failed && retries.length < FAILED_FILE_TRIES - 1 && deadline - Date.now() > unitLimitMs(unit) / 2) {
        const why = timedOut ? `still running after ${unitLimitMs(unit) / 60_000} min (its L1 was stopped)` : firstTryFailures(tally!);
        retries.push(why);
        fs.appendFileSync(path.join(resultsDir(), 'l1-retries.log'), `${unit.name}: ${why}\n`);
        log(`[test] ${unit.name} failed in L1 (try ${retries.length}); running it again in a fresh L1 (${why})`);
        attempt--;
        continue;
      }
      if (tally) {
        const firstTry = [lastL1Failure && `L1 gave out: ${lastL1Failure}`, ...retries].filter(Boolean).join('; then ');
        if (firstTry) for (const f of tally.files) f.firstTry = firstTry;
        merged.files.push(...tally.files);
      }
      if (r.status !== 0 && (timedOut || !failed)) {
        missing.push(`integration: ${unit.name} ended with status ${r.status}${r.status === 124 ? ' (past its time limit)' : ''}`);
      }
      done = true;
    }
    if (!done) missing.push(`integration: ${unit.name} did not finish (${Date.now() > deadline ? 'out of time' : `L1 gave out ${FILE_TRIES} times; the last: ${lastL1Failure}`})`);
  }
  transcript.end();
  log(`[test] the test host ran ${((Date.now() - started) / 60000).toFixed(1)} min for ${files.length} files`);
  fs.writeFileSync(json, `${JSON.stringify(merged)}\n`);
  return merged;
}

/** The earlier of TSVMM_TEST_VM_TIMEOUT from now and TSVMM_TEST_DEADLINE less a minute for the summary. */
function testHostDeadline(): number {
  const timeout = Date.now() + Number(process.env.TSVMM_TEST_VM_TIMEOUT ?? 4800) * 1000;
  const outer = Number(process.env.TSVMM_TEST_DEADLINE ?? 0) * 1000;
  return outer > 0 ? Math.min(timeout, outer - 60_000) : timeout;
}

/** What failed on a first try, in one line: the failed tests' names and the first line of each error. */
function firstTryFailures(t: RunTally): string {
  const parts = t.files.flatMap((f) => (f.failures ?? []).map((x) => `${x.test}: ${x.error.split('\n')[0]}`));
  return (parts.length > 0 ? parts.join('; ') : 'a suite failed').slice(0, 400);
}

/** Boots that a suite gave up on and booted again (the test host's stalls), and L1s that gave out: said in the
 *  summary so that a green run still shows them. */
function rebootNotes(dir: string): string[] {
  let names: string[];
  try { names = fs.readdirSync(dir).filter((n) => /-(stalls|wedges)\.log$/.test(n)).sort(); } catch { return []; }
  return names.flatMap((n) => fs.readFileSync(path.join(dir, n), 'utf8').split('\n').filter(Boolean)
    .map((line) => `${n.replace(/\.log$/, '')}: ${line.slice(0, 300)}`));
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const wantUnit = !argv.includes('--integration');
  const wantIntegration = !argv.includes('--unit');
  const dir = resultsDir();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const { unit, integration: allIntegration } = collectTests();
  // TSVMM_TEST_FILES=a,b runs only the integration files whose names hold one of those words.
  const only = (process.env.TSVMM_TEST_FILES ?? '').split(',').filter(Boolean);
  const integration = allIntegration.filter((f) => only.length === 0 || only.some((o) => path.basename(f).includes(o)));
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
    // debootstrap needs the network, which the test host lacks: the image is built here, its outcome left for the test.
    if ((why === undefined || mode !== 'off') && integration.some((f) => path.basename(f) === DEBIAN_IMAGE_TEST_FILE)) {
      log(`[test] building the Debian root image for ${DEBIAN_IMAGE_TEST_FILE} (cached after the first time) ...`);
      await prepareDebianTestImage(log);
    }
    // kvm_pvm runs guest CPL3 natively but breaks SYSCALL, so no guest user space runs on it: by default the whole
    // integration suite goes to the test host, where every file runs on (emulated) hardware virtualization.
    const pvm = why === undefined && isPvmHost();
    if (why === undefined && mode !== 'force' && !(pvm && mode === 'auto')) {
      t = await runHere('integration', integration, json, 1);
    } else if (mode === 'off') {
      log(`[test] TSVMM_TEST_HOST_VM=off and ${why ?? 'the test host is off'}: the integration suites are NOT run`);
      t = skippedTally(integration, `not run: ${why ?? 'TSVMM_TEST_HOST_VM=off'} and TSVMM_TEST_HOST_VM=off`);
    } else {
      t = await runInTestHost(integration, json, missing,
        why ?? (pvm ? '/dev/kvm is kvm_pvm, where guest user space cannot make system calls' : 'TSVMM_TEST_HOST_VM=force'));
    }
    if (t) tallies.push(t);
    else if (missing.length === 0) missing.push('integration: the test runner reported nothing');
  }
  process.stdout.write(formatSummary(tallies, missing, rebootNotes(dir)));
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
