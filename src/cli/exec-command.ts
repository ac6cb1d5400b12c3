// `tsvmm exec --api-sock S [-i] [-t] [--env K=V] [--cwd D] [--timeout S] -- CMD...`: a command in the guest of a
// machine that `tsvmm run --api-sock S` serves, through POST /exec/stream; and `tsvmm sandbox run -- CMD...`,
// the same in a sandbox booted for it in this process. Both take the terminal (src/cli/attach.ts) and exit with
// the command's status.
import * as path from 'node:path';
import type { Options } from 'yargs';
import { attach, windowSize, type AttachIo, type GuestProcess } from './attach';
import { ConfigError } from '../vmm/config-check';
import { lastValue, allValues } from './overrides';

/** Options both commands take. */
const COMMAND_OPTIONS: Readonly<Record<string, Options>> = {
  interactive: { alias: 'i', type: 'boolean', default: false, describe: 'pass stdin to the command' },
  tty: {
    alias: 't', type: 'boolean', default: false,
    describe: 'run the command on a pseudo-terminal (with -i: raw mode, the window size follows)',
  },
  env: { type: 'string', array: true, describe: 'K=V in the command\'s environment (repeatable)' },
  cwd: { type: 'string', describe: 'the command\'s working directory in the guest' },
  timeout: { type: 'string', describe: 'seconds after which the command\'s process group is killed (status 124)' },
};

export const EXEC_OPTIONS: Readonly<Record<string, Options>> = {
  'api-sock': { type: 'string', describe: 'the control socket of the machine (tsvmm run --api-sock)' },
  ...COMMAND_OPTIONS,
};

export const SANDBOX_RUN_OPTIONS: Readonly<Record<string, Options>> = {
  memory: { type: 'string', describe: 'guest RAM, e.g. 512M (default 256M)' },
  vcpus: { type: 'string', describe: 'number of vCPUs (default 1)' },
  'boot-timeout': { type: 'string', describe: 'seconds the guest\'s agent has to answer after boot (default 120)' },
  image: { type: 'string', describe: 'an ext4 root image from tsvmm image build, or an initramfs that runs tsvmm-agent' },
  'disk-size': { type: 'string', describe: 'the sandbox\'s writable space (/tmp), e.g. 64M (default half the RAM)' },
  ...COMMAND_OPTIONS,
};

export const EXEC_DESCRIBE = 'Run a command in the guest of a machine served on a control socket';
export const SANDBOX_DESCRIBE = 'Boot a throwaway sandbox, run one command in it, and exit with its status';

const STATUS_HELP = 'Exit status: the command\'s (128 + N when signal N ended it, as a shell says); 124 when ' +
  '--timeout ended it; 127 when the command does not exist in the guest; 1 for a failure of tsvmm or the agent; ' +
  '2 for a usage error.';

export const EXEC_EPILOG = [
  'The machine needs a vsock device and a guest that runs tsvmm-agent: the sandbox initramfs (sandbox.cpio; ' +
    '`tsvmm guest build` prints where it is) does, on the project\'s kernel. Put the command after --, so its ' +
    'options are not taken for tsvmm\'s: tsvmm exec --api-sock vm.sock -- ls -l /',
  '',
  STATUS_HELP,
].join('\n');

export const SANDBOX_EPILOG = [
  'The sandbox is the project\'s kernel with the sandbox initramfs (busybox and tsvmm-agent), built on first use, ' +
    'a vsock device and no network. It is stopped and removed when the command ends. Example: tsvmm sandbox run ' +
    '--memory 512M -- sh -c \'uname -a; exit 7\'; with --image py.img (tsvmm image build) it boots that root image.',
  '',
  STATUS_HELP,
].join('\n');

export interface CommandSpec {
  argv: [string, ...string[]];
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
  interactive: boolean;
  tty: boolean;
}

/** The command and its settings from the parsed options; ConfigError naming the option for a bad one. */
export function commandSpec(args: Record<string, unknown>): CommandSpec {
  const words = [...allValues(args.command), ...allValues(args['--'])].map(String);
  const first = words.at(0);
  if (first === undefined) throw new ConfigError('command', 'name the command to run, after -- (e.g. -- ls -l /)');
  const spec: CommandSpec = {
    argv: [first, ...words.slice(1)], interactive: args.interactive === true, tty: args.tty === true,
  };
  const env = allValues(args.env);
  if (env.length > 0) {
    spec.env = {};
    for (const kv of env) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new ConfigError('--env', `${JSON.stringify(kv)} is not NAME=VALUE`);
      spec.env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
  }
  const cwd = lastValue(args.cwd);
  if (cwd !== undefined) spec.cwd = cwd;
  const timeoutMs = seconds('--timeout', lastValue(args.timeout));
  if (timeoutMs !== undefined) spec.timeoutMs = timeoutMs;
  return spec;
}

export interface CommandDeps {
  cwd: string;
  io: AttachIo;
}

/** The status for a failure: 124 a timeout, 127 a command that does not exist; else the error is thrown on. */
export function failureStatus(e: unknown, stderr: { write(text: string): unknown }): number {
  const code = (e as { code?: unknown }).code;
  if (code === 'TIMEOUT' || code === 'NOT_FOUND') {
    stderr.write(`tsvmm: ${(e as Error).message.replace('(timeoutMs)', '(--timeout)')}\n`);
    return code === 'TIMEOUT' ? 124 : 127;
  }
  throw e;
}

/** Runs `proc` on the terminal; resolves with the exit status. */
export async function runAttached(proc: GuestProcess, spec: CommandSpec, io: AttachIo, timeoutWhat?: string): Promise<number> {
  try {
    return await attach(proc, io, {
      interactive: spec.interactive, tty: spec.tty,
      ...(timeoutWhat !== undefined && spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs, timeoutWhat } : {}),
    });
  } catch (e) {
    return failureStatus(e, io.stderr);
  }
}

export async function execCommand(args: Record<string, unknown>, deps: CommandDeps): Promise<number> {
  const sock = lastValue(args['api-sock']);
  if (sock === undefined) {
    throw new ConfigError('--api-sock', 'required: the control socket of the machine (tsvmm run --api-sock PATH)');
  }
  const spec = commandSpec(args);
  const socketPath = path.resolve(deps.cwd, sock);
  const { VmClient } = await import('../api/client');
  const [command, ...rest] = spec.argv;
  const proc = new VmClient(socketPath).spawn(command, rest, {
    ...(spec.env ? { env: spec.env } : {}), ...(spec.cwd !== undefined ? { cwd: spec.cwd } : {}),
    ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}),
    ...(spec.tty ? { pty: windowSize(deps.io) } : {}),
  });
  try {
    return await runAttached(proc, spec, deps.io);
  } catch (e) {
    const code = (e as { code?: unknown; status?: unknown }).code;
    if ((e as { status?: unknown }).status === 0 && (code === 'ENOENT' || code === 'ECONNREFUSED')) {
      throw new Error(`nothing serves a control socket at ${socketPath} (${code}); start one with tsvmm run --api-sock`, { cause: e });
    }
    throw e;
  }
}

function seconds(option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const s = Number(text);
  if (!(s > 0) || !Number.isFinite(s)) throw new ConfigError(option, `${JSON.stringify(text)} is not a number of seconds above 0`);
  return Math.max(1, Math.round(s * 1000));
}

/** A ConfigError about a sandbox setting, renamed to the option that gave it. */
function asOption(e: unknown): unknown {
  if (e instanceof ConfigError && ['memory', 'vcpus', 'image'].includes(e.field)) {
    return new ConfigError(`--${e.field}`, e.message.slice(e.field.length + 2));
  }
  if (e instanceof Error && (e as { code?: unknown }).code === 'TIMEOUT') e.message = e.message.replace('(readyTimeoutMs)', '(--boot-timeout)');
  return e;
}

export async function sandboxRunCommand(args: Record<string, unknown>, deps: CommandDeps): Promise<number> {
  const spec = commandSpec(args);
  const memory = lastValue(args.memory);
  const vcpusText = lastValue(args.vcpus);
  if (vcpusText !== undefined && !/^[0-9]{1,3}$/.test(vcpusText)) {
    throw new ConfigError('--vcpus', `${JSON.stringify(vcpusText)} is not a number of vCPUs`);
  }
  const readyTimeoutMs = seconds('--boot-timeout', lastValue(args['boot-timeout']));
  const image = lastValue(args.image);
  const diskSize = lastValue(args['disk-size']);
  const { createSandbox, diskBytes } = await import('../api/sandbox');
  if (diskSize !== undefined) {
    try {
      diskBytes(diskSize);
    } catch {
      throw new ConfigError('--disk-size', `${JSON.stringify(diskSize)} is not a size of at least 1M (e.g. 64M, 1G)`);
    }
  }
  const sandbox = await createSandbox({
    ...(memory === undefined ? {} : { memory }), ...(vcpusText === undefined ? {} : { vcpus: Number(vcpusText) }),
    ...(readyTimeoutMs === undefined ? {} : { readyTimeoutMs }), ...(image === undefined ? {} : { image }),
    ...(diskSize === undefined ? {} : { diskSize }),
  }).catch((e: unknown) => { throw asOption(e); });
  try {
    const [command, ...rest] = spec.argv;
    const proc = sandbox.spawn(command, rest, {
      ...(spec.env ? { env: spec.env } : {}), ...(spec.cwd !== undefined ? { cwd: spec.cwd } : {}),
      ...(spec.tty ? { pty: windowSize(deps.io) } : {}),
    });
    return await runAttached(proc, spec, deps.io, '--timeout');
  } finally {
    await sandbox.close();
  }
}
