// Builds the guest kernel from Debian's linux-source: an extracted and patched source tree that is kept in the
// cache (extracting and deleting 80k files is the slow part on this kind of host), then an out-of-tree build
// (O=) per config: tinyconfig + the project's fragment, a check that the fragment survived, `make bzImage` with a
// progress line, and vmlinux + bzImage copied out.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { summarizeElf64 } from './elf-check';
import { runCommand } from './exec';
import { findKconfigMismatches, formatKconfigMismatches, parseKconfig } from './kconfig';
import { formatDuration, MakeProgress } from './make-progress';
import type { LinuxSourceTarball } from './paths';
import { applySourcePatches, SOURCE_PATCHES } from './source-patches';

const PROGRESS_INTERVAL_MS = 5_000;
// ARCH=x86_64 (not the default x86) makes tinyconfig start from a 64-bit configuration.
const MAKE_ARCH = 'ARCH=x86_64';

type LineSink = (line: string) => void;

/** Extracts the tarball into workDir and applies SOURCE_PATCHES; returns the tree's folder. */
export async function prepareSourceTree(tarball: LinuxSourceTarball, workDir: string, log: LineSink): Promise<string> {
  log(`[guest] extracting ${tarball.topDir} ...`);
  await runCommand('tar', ['-xf', tarball.path, '-C', workDir]);
  const sourceDir = path.join(workDir, tarball.topDir);
  if (!fs.existsSync(path.join(sourceDir, 'Makefile'))) {
    throw new Error(`guest build: ${tarball.path} did not unpack to ${tarball.topDir}/ with a Makefile`);
  }
  applySourcePatches(sourceDir, SOURCE_PATCHES, log);
  return sourceDir;
}

export interface KernelBuildInputs {
  fragment: { path: string; text: string };
  /** A prepared (extracted, patched) source tree; only read. */
  sourceDir: string;
  /** A fresh folder: the O= build folder goes in it. */
  workDir: string;
  /** Where vmlinux, bzImage, config and build.log are written. */
  outDir: string;
  log: LineSink;
}

export async function buildKernel(inputs: KernelBuildInputs): Promise<void> {
  const { log, sourceDir } = inputs;
  fs.mkdirSync(inputs.outDir, { recursive: true });
  const objDir = path.join(inputs.workDir, 'build');
  fs.mkdirSync(objDir);
  const buildLog = fs.openSync(path.join(inputs.outDir, 'build.log'), 'w');
  const toLog: LineSink = (line) => fs.writeSync(buildLog, line + '\n');
  try {
    log('[guest] configuring ...');
    await configureKernel(sourceDir, objDir, inputs.fragment, inputs.workDir, toLog);
    fs.copyFileSync(path.join(objDir, '.config'), path.join(inputs.outDir, 'config'));
    await compileKernel(sourceDir, objDir, toLog, log);
    await collectKernelArtifacts(objDir, inputs.outDir, toLog);
  } finally {
    fs.closeSync(buildLog);
  }
}

async function configureKernel(sourceDir: string, objDir: string, fragment: { path: string; text: string },
  workDir: string, toLog: LineSink): Promise<void> {
  // Parse before building so a malformed fragment fails in a second, naming the line.
  const wanted = parseKconfig(fragment.text, { source: fragment.path, strict: true });
  const fragmentCopy = path.join(workDir, 'kernel.config');
  fs.writeFileSync(fragmentCopy, fragment.text);
  const make = (target: string): Promise<void> =>
    runCommand('make', ['-C', sourceDir, `O=${objDir}`, MAKE_ARCH, target], { onLine: toLog });
  await make('tinyconfig');
  await runCommand(path.join(sourceDir, 'scripts/kconfig/merge_config.sh'),
    ['-m', '-O', objDir, path.join(objDir, '.config'), fragmentCopy],
    { cwd: sourceDir, onLine: toLog, env: { ...process.env, ARCH: 'x86_64' } });
  await make('olddefconfig');
  const final = parseKconfig(fs.readFileSync(path.join(objDir, '.config'), 'utf8'), { source: '.config' });
  const mismatches = findKconfigMismatches(wanted, final);
  if (mismatches.length > 0) {
    throw new Error(`guest build: Kconfig did not keep ${mismatches.length} value(s) of ${fragment.path} ` +
      `(usually a dependency that is off; see the symbol's "depends on" in Kconfig):\n` +
      formatKconfigMismatches(mismatches));
  }
}

async function compileKernel(sourceDir: string, objDir: string, toLog: LineSink, log: LineSink): Promise<void> {
  const jobs = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  log(`[guest] building kernel (takes a few minutes) ... make -j${jobs} bzImage`);
  const progress = new MakeProgress();
  const started = Date.now();
  const ticker = setInterval(() => log(progress.summary(Date.now() - started)), PROGRESS_INTERVAL_MS);
  try {
    await runCommand('make', ['-C', sourceDir, `O=${objDir}`, MAKE_ARCH, `-j${jobs}`, 'bzImage'], {
      env: { ...process.env, KBUILD_BUILD_USER: 'tsvmm', KBUILD_BUILD_HOST: 'tsvmm' },
      onLine: (line) => { toLog(line); progress.addLine(line); },
    });
  } finally {
    clearInterval(ticker);
  }
  log(`[guest] kernel built: ${progress.objectsCompiled} objects in ${formatDuration(Date.now() - started)}`);
}

async function collectKernelArtifacts(objDir: string, outDir: string, toLog: LineSink): Promise<void> {
  const vmlinux = path.join(objDir, 'vmlinux');
  const outVmlinux = path.join(outDir, 'vmlinux');
  // Debug sections are useless to the loaders; the symbol table stays for anyone reading a trace.
  await runCommand('strip', ['--strip-debug', '-o', outVmlinux, vmlinux], { onLine: toLog });
  const summary = summarizeElf64(fs.readFileSync(outVmlinux));
  if (summary === undefined) throw new Error(`guest build: ${vmlinux} is not a 64-bit ELF`);
  if (summary.pvhEntry === undefined) {
    throw new Error(`guest build: ${vmlinux} has no Xen PVH entry note (is CONFIG_PVH on?)`);
  }
  fs.copyFileSync(path.join(objDir, 'arch', 'x86', 'boot', 'bzImage'), path.join(outDir, 'bzImage'));
}
