// The `tsvmm` command line. main() returns the exit status instead of exiting, so tests can drive it in-process;
// bin/tsvmm.js exits with it. User mistakes (bad options, bad config) print one line and exit 2, never a stack.
import yargs from 'yargs';
import { commandAt, COMPLETION_SHELLS, DOCTOR_OPTIONS, GUEST_BUILD_OPTIONS } from './cli/command-tree';
import { DEVICE_OPTIONS_HELP, separateBareDeviceFlags } from './cli/device-flags';
import { COMPLETION_DESCRIBE, COMPLETION_EPILOG, completionScript } from './cli/completion';
import { explainUnknown } from './cli/did-you-mean';
import { DOCTOR_DESCRIBE, DOCTOR_EPILOG, doctorCommand } from './cli/doctor';
import type { DoctorProbe } from './cli/doctor-probe';
import type { AttachIo } from './cli/attach';
import {
  EXEC_DESCRIBE, EXEC_EPILOG, EXEC_OPTIONS, execCommand, SANDBOX_DESCRIBE, SANDBOX_EPILOG, SANDBOX_RUN_OPTIONS,
  sandboxRunCommand,
} from './cli/exec-command';
import { EXIT, EXIT_CODES_HELP } from './cli/exit-codes';
import { guestBuildCommand, guestPathCommand, type GuestBuildModule } from './cli/guest-command';
import { IMAGE_BUILD_EPILOG, IMAGE_BUILD_OPTIONS, IMAGE_DESCRIBE, imageBuildCommand, type ImageBuilder } from './cli/image-command';
import { RUN_DESCRIBE, RUN_EPILOG, runCommand, runOptions, type RunMachine } from './cli/run-command';
import { VmError } from './api/errors';
import type { Logger } from './log';
import type { HostProbe } from './vmm/host-probe';
import { ConfigError, type MachineConfig } from './vmm/config';
import { packageVersion } from './version';

/** A mistake in how tsvmm was called (unknown option, missing command). */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface CliDeps {
  cwd?: string;
  stdout?: { write(text: string): unknown };
  stderr?: { write(text: string): unknown };
  runMachine?: RunMachine;
  createLogger?: (level: MachineConfig['log']['level']) => Logger;
  guest?: GuestBuildModule;
  /** What `image build` calls; default src/guest/image-build.ts. */
  imageBuilder?: ImageBuilder;
  /** The host `run`'s preflight checks look at (default: this one, when runMachine is the default). */
  hostProbe?: HostProbe;
  /** The host `doctor` looks at; default this one. */
  doctorProbe?: DoctorProbe;
  /** Print stacks for internal errors (also TSVMM_DEBUG=1). */
  debug?: boolean;
  /** The terminal `exec` and `sandbox run` attach the guest's process to; default this process's. */
  execIo?: AttachIo;
}

/**
 * `exec` and `sandbox run` take a command: an option after its first word, with no -- before it, was meant for the
 * command, likely (`tsvmm exec --api-sock s sh -c ...`).
 */
function commandHint(argv: readonly string[]): string {
  const { path, node } = commandAt(argv);
  const p = path.join(' ');
  if ((p !== 'exec' && p !== 'sandbox run') || argv.includes('--')) return '';
  const valued = (word: string | undefined): boolean =>
    word !== undefined && node.options[word.replace(/^--?/, '')]?.type === 'string' && !word.includes('=');
  const first = argv.findIndex((w, i) => i >= path.length && !w.startsWith('-') && !valued(argv[i - 1]));
  if (first < 0 || !argv.slice(first).some((w) => w.startsWith('-'))) return '';
  return ` (put the command after --, e.g. tsvmm ${p} ... -- sh -c 'echo hi')`;
}

const COMMAND_POSITIONAL = { type: 'string', array: true, describe: 'the command and its arguments (after --)' } as const;

/** One line for the user; exit 2 for their mistakes, 1 for ours (with the stack when debugging). */
export function reportError(err: unknown, stderr: { write(text: string): unknown }, debug: boolean): number {
  // A kernel or initrd the boot code cannot use is the user's input too: its message already names the field.
  const usersInput = err instanceof ConfigError || err instanceof UsageError
    || (err instanceof VmError && err.code === 'ERR_VM_BOOT');
  if (usersInput) {
    stderr.write(`tsvmm: ${err.message}\n`);
    return EXIT.usage;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  // A VmError's own code is for programs; the user gets the errno behind it (ENOENT for a missing /dev/kvm).
  const code = (e instanceof VmError ? e.cause as NodeJS.ErrnoException | undefined : e as NodeJS.ErrnoException)?.code;
  const firstLine = e.message.split('\n')[0];
  stderr.write(`tsvmm: ${code && !firstLine?.includes(code) ? `${code}: ` : ''}${firstLine}\n`);
  if (debug && e.stack) stderr.write(e.stack + '\n');
  return EXIT.internalError;
}

export async function main(argv: string[], deps: CliDeps = {}): Promise<number> {
  const stdout = deps.stdout ?? process.stdout;
  const stderr = deps.stderr ?? process.stderr;
  const cwd = deps.cwd ?? process.cwd();
  const debug = deps.debug ?? Boolean(process.env.TSVMM_DEBUG);
  let status: number = EXIT.ok;
  const given = commandAt(argv).path[0] === 'run' ? separateBareDeviceFlags(argv) : argv;
  const io: AttachIo = deps.execIo
    ?? { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, forwardSignals: true };
  const parser = yargs(given)
    .parserConfiguration({ 'populate--': true })
    .scriptName('tsvmm')
    .usage('$0 <command> [options]\n\nA microVM monitor for Linux KVM.')
    .command('run [config]', RUN_DESCRIBE,
      (y) => runOptions(y).epilog(`${RUN_EPILOG}\n\n${DEVICE_OPTIONS_HELP}\n\n${EXIT_CODES_HELP}`),
      async (args) => {
        status = await runCommand(args, {
          cwd,
          ...(deps.runMachine ? { runMachine: deps.runMachine } : {}),
          ...(deps.createLogger ? { createLogger: deps.createLogger } : {}),
          ...(deps.hostProbe ? { hostProbe: deps.hostProbe } : {}),
          argv: given,
        });
      })
    .command('exec [command..]', EXEC_DESCRIBE,
      (y) => y.positional('command', COMMAND_POSITIONAL).options(EXEC_OPTIONS).epilog(EXEC_EPILOG),
      async (args) => {
        status = await execCommand(args, { cwd, io });
      })
    .command('sandbox', 'Throwaway sandboxes: boot one, run a command in it, remove it', (y) => y
      .command('run [command..]', SANDBOX_DESCRIBE,
        (r) => r.positional('command', COMMAND_POSITIONAL).options(SANDBOX_RUN_OPTIONS).epilog(SANDBOX_EPILOG),
        async (args) => {
          status = await sandboxRunCommand(args, { cwd, io });
        })
      .demandCommand(1, 'sandbox: name a subcommand (run)'))
    .command('guest', 'Build or locate the bundled test guest (kernel and initramfs)', (y) => y
      .command('build', 'Build the guest artifacts (skipped when up to date)',
        (b) => b.options(GUEST_BUILD_OPTIONS),
        async (args) => {
          status = await guestBuildCommand(Boolean(args.force), { guest: deps.guest, stdout, stderr });
        })
      .command('path [name]',
        'Print where a built artifact is (e.g. vmlinux), or all of them; status 1 for one not built yet',
        (p) => p.positional('name', { type: 'string', describe: 'artifact name, with or without @guest/' }),
        (args) => {
          status = guestPathCommand(args.name, { guest: deps.guest, stdout, stderr });
        })
      .demandCommand(1, 'guest: name a subcommand (build or path)'))
    .command('image', 'Root images for sandboxes', (y) => y
      .command('build', IMAGE_DESCRIBE,
        (b) => b.options(IMAGE_BUILD_OPTIONS).epilog(IMAGE_BUILD_EPILOG),
        async (args) => {
          status = await imageBuildCommand(args, cwd, { stderr, ...(deps.imageBuilder ? { builder: deps.imageBuilder } : {}) });
        })
      .demandCommand(1, 'image: name a subcommand (build)'))
    .command('doctor', DOCTOR_DESCRIBE,
      (y) => y.options(DOCTOR_OPTIONS).epilog(DOCTOR_EPILOG),
      async (args) => {
        // Loaded here: the probe reaches for the guest builder and dpkg, which no other command needs.
        const probe = deps.doctorProbe ?? (await import('./cli/doctor-probe')).doctorProbe();
        status = await doctorCommand(Boolean(args.json), { probe, stdout });
      })
    .command('completion [shell]', COMPLETION_DESCRIBE,
      (y) => y.positional('shell', { type: 'string', choices: [...COMPLETION_SHELLS], default: 'bash' })
        .epilog(COMPLETION_EPILOG),
      (args) => {
        stdout.write(completionScript(args.shell));
      })
    .demandCommand(1, 'name a command (run, exec, sandbox, guest, image, doctor or completion); see tsvmm --help')
    .strict()
    .epilog(EXIT_CODES_HELP)
    .version(packageVersion())
    .help()
    .alias('h', 'help')
    .wrap(Math.min(110, process.stdout.isTTY ? process.stdout.columns : 100))
    .exitProcess(false)
    .fail((msg, err: Error | undefined) => {
      // yargs spreads some messages over lines ("Invalid values:\n  Argument: ..."); the user gets one.
      const line = explainUnknown(msg, given) ?? msg.replace(/\s*\n\s*/g, ' ').trim();
      throw err ?? new UsageError(line + commandHint(given));
    });
  try {
    await parser.parseAsync();
  } catch (err) {
    return reportError(err, stderr, debug);
  }
  return status;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
