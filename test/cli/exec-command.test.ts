// `tsvmm exec` against a control socket whose machine's agent is the real agent run on this host: outputs on the
// terminal's streams, the exit status passed through (128 + N for signal N, 124 for --timeout, 127 for a command
// that does not exist), stdin with -i, --env and --cwd, and the errors of a bad command line. `tsvmm sandbox run`
// is driven as far as a host without KVM lets it.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { PassThrough } from 'node:stream';
import { after, before, describe, it, test } from 'node:test';
import type { AttachIo } from '../../src/cli/attach';
import { main } from '../../src/cli';
import { serveAgentVm, type ServedAgentVm } from '../helpers/agent-vm';
import { kvmUnavailable } from '../helpers/kvm';
import { agentUnbuildable } from '../sandbox/real-agent';

const skip = agentUnbuildable();

interface Terminal {
  io: AttachIo;
  stdin: PassThrough;
  out(): string;
  err(): string;
  /** What main() itself printed (its one-line errors). */
  cliErr: string[];
}

function terminal(): Terminal {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => { out += d.toString(); });
  stderr.on('data', (d: Buffer) => { err += d.toString(); });
  return { io: { stdin, stdout, stderr, forwardSignals: false }, stdin, out: () => out, err: () => err, cliErr: [] };
}

async function tsvmm(argv: string[], t: Terminal = terminal()): Promise<{ status: number; t: Terminal }> {
  const status = await main(argv, {
    execIo: t.io, stderr: { write: (s: string) => t.cliErr.push(s) }, stdout: { write: () => true },
  });
  return { status, t };
}

describe('tsvmm exec through a control socket', { skip, timeout: 120_000 }, () => {
  let s: ServedAgentVm;
  before(async () => { s = await serveAgentVm(); });
  after(async () => { await s.stop(); });
  const exec = (...cmd: string[]): string[] => ['exec', '--api-sock', s.socket, ...cmd];

  it('streams stdout and stderr apart and exits with the command\'s status', async () => {
    const { status, t } = await tsvmm(exec('--', 'sh', '-c', 'echo out; echo err >&2; exit 7'));
    assert.equal(status, 7, t.cliErr.join(''));
    assert.equal(t.out(), 'out\n');
    assert.equal(t.err(), 'err\n');
    for (const code of [0, 1, 255]) assert.equal((await tsvmm(exec('--', 'sh', '-c', `exit ${code}`))).status, code);
  });

  it('a death by signal N is status 128 + N, as a shell says', async () => {
    assert.equal((await tsvmm(exec('--', 'sh', '-c', 'kill -TERM $$'))).status, 128 + 15);
    assert.equal((await tsvmm(exec('--', 'sh', '-c', 'kill -KILL $$'))).status, 128 + 9);
  });

  it('-i pipes stdin (1 MiB through sha256sum); without it stdin is closed', async () => {
    const data = crypto.randomBytes(1 << 20);
    const t = terminal();
    t.stdin.end(data);
    const { status } = await tsvmm(exec('-i', '--', 'sha256sum'), t);
    assert.equal(status, 0, t.err() + t.cliErr.join(''));
    assert.equal(t.out().split(' ')[0], crypto.createHash('sha256').update(data).digest('hex'));
    const closed = terminal(); // never ended: without -i it is not read
    assert.equal((await tsvmm(exec('--', 'cat'), closed)).status, 0);
    assert.equal(closed.out(), '');
  });

  it('--env and --cwd reach the command; words without -- are the command too', async () => {
    const { status, t } = await tsvmm(exec('--env', 'A=1', '--env', 'B=x=y', '--cwd', '/tmp', '--', 'sh', '-c', 'echo $A $B; pwd'));
    assert.equal(status, 0, t.cliErr.join(''));
    assert.equal(t.out(), '1 x=y\n/tmp\n');
    const plain = await tsvmm(exec('echo', 'hello'));
    assert.equal(plain.t.out(), 'hello\n');
  });

  it('--timeout kills the command\'s group: status 124, naming the limit; a missing command is 127', async () => {
    const { status, t } = await tsvmm(exec('--timeout', '0.3', '--', 'sh', '-c', 'sleep 30 & sleep 30'));
    assert.equal(status, 124);
    assert.match(t.err(), /did not finish within 300 ms \(--timeout\)/);
    const missing = await tsvmm(exec('--', 'no-such-command-here'));
    assert.equal(missing.status, 127);
    assert.match(missing.t.err(), /command not found in the guest: "no-such-command-here"/);
  });

  it('-t runs the command on a terminal', async () => {
    const { status, t } = await tsvmm(exec('-t', '--', 'sh', '-c', 'test -t 0 && test -t 1 && echo tty; stty size'));
    assert.equal(status, 0, t.cliErr.join(''));
    assert.match(t.out(), /^tty\r?\n24 80\r?\n$/);
  });
});

test('tsvmm exec: usage errors name the option; a socket nobody serves says so', async () => {
  const noSock = await tsvmm(['exec', '--', 'true']);
  assert.equal(noSock.status, 2);
  assert.match(noSock.t.cliErr.join(''), /^tsvmm: --api-sock: required/);
  const noCmd = await tsvmm(['exec', '--api-sock', 'x.sock']);
  assert.equal(noCmd.status, 2);
  assert.match(noCmd.t.cliErr.join(''), /^tsvmm: command: name the command to run, after --/);
  const option = await tsvmm(['exec', '--api-sock', 'x.sock', 'sh', '-c', 'true']);
  assert.equal(option.status, 2);
  assert.match(option.t.cliErr.join(''), /unknown option -c.*put the command after --/);
  const env = await tsvmm(['exec', '--api-sock', 'x.sock', '--env', 'NOEQUALS', '--', 'true']);
  assert.match(env.t.cliErr.join(''), /^tsvmm: --env: "NOEQUALS" is not NAME=VALUE/);
  const timeout = await tsvmm(['exec', '--api-sock', 'x.sock', '--timeout', '-1', '--', 'true']);
  assert.match(timeout.t.cliErr.join(''), /^tsvmm: --timeout: "-1" is not a number of seconds above 0/);
  const gone = await tsvmm(['exec', '--api-sock', '/nonexistent/tsvmm.sock', '--', 'true']);
  assert.equal(gone.status, 1);
  assert.match(gone.t.cliErr.join(''), /nothing serves a control socket at \/nonexistent\/tsvmm\.sock \(ENOENT\)/);
});

test('tsvmm sandbox run: bad settings name the option; a host without KVM is refused before anything is built',
  async () => {
    const mem = await tsvmm(['sandbox', 'run', '--memory', 'lots', '--', 'true']);
    assert.equal(mem.status, 2);
    assert.match(mem.t.cliErr.join(''), /^tsvmm: --memory: "lots" is not a size/);
    const vcpus = await tsvmm(['sandbox', 'run', '--vcpus', 'two', '--', 'true']);
    assert.match(vcpus.t.cliErr.join(''), /^tsvmm: --vcpus: "two" is not a number of vCPUs/);
    const disk = await tsvmm(['sandbox', 'run', '--disk-size', '1K', '--', 'true']);
    assert.equal(disk.status, 2);
    assert.match(disk.t.cliErr.join(''), /^tsvmm: --disk-size: "1K" is not a size of at least 1M/);
    const image = await tsvmm(['sandbox', 'run', '--image', '/no/such.img', '--', 'true']);
    assert.equal(image.status, 2);
    assert.match(image.t.cliErr.join(''), /^tsvmm: --image: /);
    if (kvmUnavailable() !== undefined) {
      const noKvm = await tsvmm(['sandbox', 'run', '--', 'true']);
      assert.equal(noKvm.status, 1);
      assert.match(noKvm.t.cliErr.join(''), /\/dev\/kvm/);
    }
  });
