// The sandbox agent (guest/agent/, a static C program) and the sandbox initramfs that runs it: busybox init, a
// start script, and the agent respawned by init. Both are built with the system gcc into the guest cache, keyed
// by their inputs like the other artifacts: agent-<key>/tsvmm-agent and sandbox-<key>/sandbox.cpio.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureCached } from './cache-store';
import { writeNewcArchive } from './cpio';
import { runCommand } from './exec';
import { busyboxInitramfsEntries, checkStaticInit } from './initramfs';
import { ensurePackages, INITRAMFS_PACKAGES } from './packages';
import { BUSYBOX_PATH, guestCacheRoot, packageFolder } from './paths';
import { compilerIdentity } from './test-kernel';

export const AGENT_BINARY = 'tsvmm-agent';
export const SANDBOX_INITRAMFS = 'sandbox.cpio';
// Bump when the build steps change in a way that changes the output for the same inputs.
const AGENT_RECIPE = 1;
const SANDBOX_RECIPE = 1;

export const AGENT_CFLAGS: readonly string[] = ['-std=gnu11', '-D_GNU_SOURCE', '-O2', '-Wall', '-Wextra', '-static'];

export interface AgentBuildOptions {
  force?: boolean;
  log?: (line: string) => void;
  /** The C compiler; default `gcc`. */
  cc?: string;
  /** Default: guestCacheRoot(). */
  cacheRoot?: string;
  /** Default: the package's guest/agent. */
  sourceDir?: string;
}

/** The package's guest/agent folder, found from this file in src/ or dist/src/. */
export function agentSourceDir(): string {
  return packageFolder(path.join('guest', 'agent'), 'agent.h');
}

/** The .c and .h files of the agent, sorted; the .c files are what gcc compiles. */
export function listAgentSources(dir: string): { files: string[]; compile: string[] } {
  const files = fs.readdirSync(dir).filter((f) => /\.(c|h)$/.test(f)).sort();
  if (!files.includes('agent.h')) throw new Error(`agent build: ${dir} has no agent.h`);
  return { files, compile: files.filter((f) => f.endsWith('.c')) };
}

export function agentKey(dir: string, files: readonly string[], compiler: string | undefined): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ recipe: AGENT_RECIPE, cflags: AGENT_CFLAGS, compiler: compiler ?? 'missing' }));
  for (const f of files) h.update(`\0${f}\0`).update(fs.readFileSync(path.join(dir, f)));
  return h.digest('hex').slice(0, 16);
}

/** Compiles the agent unless the cache has it; returns the static binary's path. */
export async function buildAgent(opts: AgentBuildOptions = {}): Promise<{ path: string; built: boolean }> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const cc = opts.cc ?? 'gcc';
  const dir = opts.sourceDir ?? agentSourceDir();
  const sources = listAgentSources(dir);
  const compiler = compilerIdentity(cc);
  const spec = { cacheRoot: opts.cacheRoot ?? guestCacheRoot(), name: `agent-${agentKey(dir, sources.files, compiler)}`,
    files: [AGENT_BINARY], force: opts.force ?? false, log };
  const result = await ensureCached(spec, async (workDir) => {
    if (compiler === undefined) {
      throw new Error(`agent build: the C compiler \`${cc}\` is not installed or does not run; install gcc (and libc6-dev)`);
    }
    const outDir = path.join(workDir, 'out');
    fs.mkdirSync(outDir);
    const binary = path.join(outDir, AGENT_BINARY);
    log(`[guest] building ${AGENT_BINARY} from ${dir} (${sources.compile.length} files, ${compiler})`);
    await runCommand(cc, [...AGENT_CFLAGS, '-o', binary, ...sources.compile.map((f) => path.join(dir, f))]);
    checkStaticInit(fs.readFileSync(binary), `${binary} (built from ${dir})`);
    return outDir;
  });
  return { path: path.join(result.dir, AGENT_BINARY), built: result.built };
}

// busybox init runs the start script once, then keeps the agent running (a crashed agent comes back).
const INITTAB = `# tsvmm sandbox: the start script, then the agent, respawned if it ends.
::sysinit:/etc/sandbox-init
::respawn:/bin/${AGENT_BINARY}
::ctrlaltdel:/bin/reboot
::shutdown:/bin/umount -a -r
`;

const START_SCRIPT = `#!/bin/sh
# tsvmm sandbox: the kernel file systems, busybox's applets by name, the loopback interface.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /tmp /run
mount -t devpts -o mode=0620,ptmxmode=0666 devpts /dev/pts
# tsvmm.tmp_size= (bytes, from createSandbox's diskSize) bounds the sandbox's writable space.
size=$(sed -n 's/.*tsvmm\\.tmp_size=\\([0-9]*\\).*/\\1/p' /proc/cmdline)
mount -t tmpfs -o mode=1777\${size:+,size=$size} tmpfs /tmp
hostname sandbox
ip link set lo up 2>/dev/null
echo "tsvmm sandbox: starting ${AGENT_BINARY}"
`;

function sandboxKey(agentBinary: Uint8Array, busybox: Uint8Array): string {
  const h = createHash('sha256').update(JSON.stringify({ recipe: SANDBOX_RECIPE, inittab: INITTAB, start: START_SCRIPT }));
  return h.update(agentBinary).update(busybox).digest('hex').slice(0, 16);
}

/**
 * Where the sandbox initramfs of the current sources is, without building anything. Its key hashes the built agent,
 * so before the agent of these sources is built there is no such file: the path returned then names a folder that
 * cannot exist (`sandbox-unbuilt`), and callers that check for the file see it missing.
 */
export function sandboxInitramfsPath(cacheRoot: string = guestCacheRoot(), cc = 'gcc'): string {
  const dir = agentSourceDir();
  const agent = path.join(cacheRoot, `agent-${agentKey(dir, listAgentSources(dir).files, compilerIdentity(cc))}`,
    AGENT_BINARY);
  try {
    return path.join(cacheRoot, `sandbox-${sandboxKey(fs.readFileSync(agent), fs.readFileSync(BUSYBOX_PATH))}`,
      SANDBOX_INITRAMFS);
  } catch {
    return path.join(cacheRoot, 'sandbox-unbuilt', SANDBOX_INITRAMFS);
  }
}

export interface SandboxInitramfs {
  path: string;
  agent: string;
  built: boolean;
}

/** The sandbox initramfs (busybox from busybox-static, the agent), built unless the cache has it. */
export async function buildSandboxInitramfs(opts: AgentBuildOptions = {}): Promise<SandboxInitramfs> {
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  await ensurePackages(INITRAMFS_PACKAGES, log);
  const agent = await buildAgent(opts);
  const agentBinary = fs.readFileSync(agent.path);
  const busybox = fs.readFileSync(BUSYBOX_PATH);
  checkStaticInit(busybox, `${BUSYBOX_PATH} (install busybox-static)`);
  const spec = { cacheRoot: opts.cacheRoot ?? guestCacheRoot(), name: `sandbox-${sandboxKey(agentBinary, busybox)}`,
    files: [SANDBOX_INITRAMFS], force: opts.force ?? false, log };
  const result = await ensureCached(spec, (workDir) => {
    log(`[guest] writing ${SANDBOX_INITRAMFS} (busybox, ${AGENT_BINARY})`);
    const entries = busyboxInitramfsEntries(busybox).filter((e) => e.path !== 'etc/init.d' && e.path !== 'etc/init.d/rcS');
    entries.push(
      { type: 'file', path: 'etc/inittab', data: Buffer.from(INITTAB), mode: 0o644 },
      { type: 'file', path: 'etc/sandbox-init', data: Buffer.from(START_SCRIPT), mode: 0o755 },
      { type: 'file', path: `bin/${AGENT_BINARY}`, data: agentBinary, mode: 0o755 },
    );
    const outDir = path.join(workDir, 'out');
    fs.mkdirSync(outDir);
    fs.writeFileSync(path.join(outDir, SANDBOX_INITRAMFS), writeNewcArchive(entries));
    return outDir;
  });
  return { path: path.join(result.dir, SANDBOX_INITRAMFS), agent: agent.path, built: result.built || agent.built };
}
