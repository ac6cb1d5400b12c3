// The tiny test kernel (test/guest): a freestanding PVH ELF with its own virtio drivers, compiled by the system
// gcc in one invocation (a few seconds) into <cache>/test-kernel-<key>/test-kernel.elf. The key hashes every source
// file, the flags and the compiler's identity, so an edit gives a new folder and an unchanged tree reuses the old.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureCached } from './cache-store';
import { summarizeElf64 } from './elf-check';
import { runCommand } from './exec';
import { guestCacheRoot, packageFolder } from './paths';

export const TEST_KERNEL_NAME = 'test-kernel.elf';
// Bump when the build steps change in a way that changes the output for the same inputs.
const TEST_KERNEL_RECIPE = 1;

/**
 * Freestanding, no libc, no PIE, at the linker script's addresses. No red zone (exceptions land on the running
 * stack's owner), no SSE (CR4.OSFXSR stays off, and emulated kernel code should not meet vector instructions),
 * no loop-to-memset rewrites (memset itself would call memset).
 */
export const TEST_KERNEL_CFLAGS: readonly string[] = [
  '-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', '-ffreestanding', '-fno-builtin', '-fno-strict-aliasing',
  '-fno-pic', '-fno-pie', '-mno-red-zone', '-mgeneral-regs-only', '-fno-stack-protector',
  '-fno-asynchronous-unwind-tables', '-fno-tree-loop-distribute-patterns', '-fcf-protection=none',
];
export const TEST_KERNEL_LDFLAGS: readonly string[] = [
  '-no-pie', '-static', '-nostdlib', '-Wl,--build-id=none', '-Wl,-z,noexecstack', '-Wl,-z,max-page-size=4096',
  '-Wl,--no-warn-rwx-segments',
];

export interface TestKernelOptions {
  /** Rebuild even when the cache has a build of the same inputs. */
  force?: boolean;
  /** Progress lines (`[guest] ...`); default: stderr. */
  log?: (line: string) => void;
  /** The C compiler; default `gcc`. */
  cc?: string;
  /** Default: guestCacheRoot(). */
  cacheRoot?: string;
  /** The source folder; default: the package's test/guest. */
  sourceDir?: string;
}

export interface TestKernelSources {
  dir: string;
  /** Every file that goes into the key (sources, headers, the linker script), relative and sorted. */
  files: string[];
  /** The .c and .S files gcc compiles, relative and sorted. */
  compile: string[];
}

/** The package's test/guest folder, found from this file in src/ or dist/src/. */
export function testKernelSourceDir(): string {
  return packageFolder(path.join('test', 'guest'), 'linker.ld');
}

/** The files of a test-kernel source tree: everything under `dir` ending in .c, .S, .h or .ld. */
export function listTestKernelSources(dir: string): TestKernelSources {
  const files: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(child);
      else if (/\.(c|S|h|ld)$/.test(entry.name)) files.push(child);
    }
  };
  walk('');
  files.sort();
  if (!files.includes('linker.ld')) throw new Error(`test kernel: ${dir} has no linker.ld`);
  return { dir, files, compile: files.filter((f) => /\.(c|S)$/.test(f)) };
}

/** The compiler's version and target (`12.2.0 x86_64-linux-gnu`), or undefined when it cannot be run. */
export function compilerIdentity(cc: string): string | undefined {
  const parts: string[] = [];
  for (const query of ['-dumpfullversion', '-dumpmachine']) {
    const r = spawnSync(cc, [query], { encoding: 'utf8', timeout: 30_000 });
    if (r.error || r.status !== 0) return undefined;
    parts.push(r.stdout.trim());
  }
  return parts.join(' ');
}

export function testKernelKey(sources: TestKernelSources, compiler: string | undefined): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ recipe: TEST_KERNEL_RECIPE, cflags: TEST_KERNEL_CFLAGS, ldflags: TEST_KERNEL_LDFLAGS,
    compiler: compiler ?? 'missing' }));
  for (const f of sources.files) {
    h.update(`\0${f}\0`);
    h.update(fs.readFileSync(path.join(sources.dir, f)));
  }
  return h.digest('hex').slice(0, 16);
}

/** The gcc command line that compiles and links `sources` into `output`. */
export function testKernelGccArgs(sources: TestKernelSources, output: string): string[] {
  return [
    ...TEST_KERNEL_CFLAGS, ...TEST_KERNEL_LDFLAGS, '-T', path.join(sources.dir, 'linker.ld'), '-o', output,
    ...sources.compile.map((f) => path.join(sources.dir, f)),
  ];
}

function missingCompiler(cc: string): Error {
  return new Error(`test kernel: the C compiler \`${cc}\` is not installed or does not run; ` +
    'install gcc (e.g. `apt-get install gcc`) to build test/guest');
}

function resolveOptions(opts: TestKernelOptions): { cc: string; sources: TestKernelSources; cacheRoot: string } {
  const cc = opts.cc ?? 'gcc';
  return { cc, sources: listTestKernelSources(opts.sourceDir ?? testKernelSourceDir()),
    cacheRoot: opts.cacheRoot ?? guestCacheRoot() };
}

/** Where the current sources build to (the file may not exist yet). */
export function testKernelPath(opts: TestKernelOptions = {}): string {
  const { cc, sources, cacheRoot } = resolveOptions(opts);
  return path.join(cacheRoot, `test-kernel-${testKernelKey(sources, compilerIdentity(cc))}`, TEST_KERNEL_NAME);
}

/** Builds the test kernel unless the cache has it; returns the ELF's path. */
export async function buildTestKernel(opts: TestKernelOptions = {}): Promise<{ path: string; built: boolean }> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const { cc, sources, cacheRoot } = resolveOptions(opts);
  const compiler = compilerIdentity(cc);
  const spec = { cacheRoot, name: `test-kernel-${testKernelKey(sources, compiler)}`, files: [TEST_KERNEL_NAME],
    force: opts.force ?? false, log };
  const result = await ensureCached(spec, async (workDir) => {
    if (compiler === undefined) throw missingCompiler(cc);
    const outDir = path.join(workDir, 'out');
    fs.mkdirSync(outDir);
    const elf = path.join(outDir, TEST_KERNEL_NAME);
    const started = Date.now();
    log(`[guest] building ${TEST_KERNEL_NAME} from ${sources.dir} (${sources.compile.length} files, ${compiler})`);
    await runCommand(cc, testKernelGccArgs(sources, elf));
    checkTestKernel(elf);
    log(`[guest] ${TEST_KERNEL_NAME} built in ${Date.now() - started} ms`);
    return outDir;
  });
  return { path: path.join(result.dir, TEST_KERNEL_NAME), built: result.built };
}

/** A build that boots: a 64-bit x86 executable with the PVH entry note. */
export function checkTestKernel(file: string): void {
  const elf = summarizeElf64(fs.readFileSync(file));
  if (elf === undefined || elf.machine !== 62 || elf.type !== 2) {
    throw new Error(`test kernel: ${file} is not an x86-64 ELF executable`);
  }
  if (elf.pvhEntry === undefined) throw new Error(`test kernel: ${file} has no PVH entry note`);
}
