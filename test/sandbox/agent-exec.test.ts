// The real agent (compiled from guest/agent/ with gcc, run here on a unix socket) driven by AgentClient: exit
// codes and signals, separate outputs, large output and input, env and cwd, timeouts that kill the process tree,
// many processes at once, a terminal, and a client that vanishes.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AgentClient } from '../../src/sandbox';
import { until } from '../helpers/wait';
import { isCode } from './agent-errors';
import { agentUnbuildable, processGone, startAgent, type RealAgent } from './real-agent';

const skip = agentUnbuildable();
const sha256 = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

describe('the real agent: exec', { skip, timeout: 120_000 }, () => {
  let agent: RealAgent;
  let client: AgentClient;
  before(async () => {
    agent = await startAgent();
    client = agent.client();
  });
  after(async () => { await agent.stop(); });

  it('answers HELLO with its name, version and capabilities', async () => {
    const info = await client.waitReady({ timeoutMs: 10_000 });
    assert.equal(info.version, 1);
    assert.match(info.name, /^tsvmm-agent \d+\.\d+\.\d+$/);
    for (const cap of ['exec', 'pty', 'files', 'signal-group']) assert.ok(info.capabilities.includes(cap), cap);
    assert.ok((await client.ping()) >= 0);
  });

  it('runs echo through /bin/sh -c and an argv without a shell', async () => {
    assert.deepEqual(await client.exec('echo hello'), { exitCode: 0, signal: null, stdout: 'hello\n', stderr: '' });
    const r = await client.exec(['printf', '%s|', 'a b', '$HOME', 'ü']);
    assert.equal(r.stdout, 'a b|$HOME|ü|');
  });

  it('reports exit codes 0, 1 and 255, and death by a signal', async () => {
    for (const code of [0, 1, 255]) {
      const r = await client.exec(['sh', '-c', `exit ${code}`]);
      assert.equal(r.exitCode, code);
      assert.equal(r.signal, null);
    }
    const killed = await client.exec('echo before; kill -TERM $$; echo after');
    assert.deepEqual([killed.exitCode, killed.signal, killed.stdout], [null, 'SIGTERM', 'before\n']);
  });

  it('keeps stderr apart from stdout', async () => {
    const r = await client.exec('echo out1; echo err1 >&2; echo out2; echo err2 >&2');
    assert.equal(r.stdout, 'out1\nout2\n');
    assert.equal(r.stderr, 'err1\nerr2\n');
  });

  it('delivers 16 MiB of stdout whole, the tail included', async () => {
    const r = await client.exec(`head -c ${16 << 20} /dev/urandom > big && cat big && sha256sum big >&2`,
      { cwd: agent.dir, encoding: 'buffer' });
    assert.equal(r.exitCode, 0, r.stderr.toString());
    assert.equal(r.stdout.length, 16 << 20);
    assert.equal(r.stderr.toString().split(' ')[0], sha256(r.stdout));
  });

  it('pipes stdin through sha256sum, and ends it', async () => {
    const input = crypto.randomBytes(8 << 20);
    const r = await client.exec(['sha256sum'], { stdin: input });
    assert.equal(r.stdout, `${sha256(input)}  -\n`);
    const empty = await client.exec(['wc', '-c']);
    assert.equal(empty.stdout.trim(), '0', 'no stdin given: it is closed at once');
  });

  it('sets env on top of the base environment, and the cwd', async () => {
    const r = await client.exec('echo "$FOO|$(pwd)|$HOME"; command -v sh', { env: { FOO: 'bar baz' }, cwd: agent.dir });
    const [line, sh] = r.stdout.trimEnd().split('\n');
    assert.equal(line, `bar baz|${fs.realpathSync(agent.dir)}|/root`);
    assert.match(sh!, /\/sh$/, 'PATH has a default');
    const over = await client.exec('echo $HOME', { env: { HOME: '/tmp' } });
    assert.equal(over.stdout, '/tmp\n', 'a given variable replaces the base one');
  });

  it('says NOT_FOUND for a missing command or cwd', async () => {
    await assert.rejects(client.exec(['no-such-command-here']), isCode('NOT_FOUND', /command not found.*no-such-command-here/));
    await assert.rejects(client.exec('true', { cwd: '/no/such/dir' }), isCode('NOT_FOUND', /chdir \/no\/such\/dir/));
  });

  it('on a timeout kills the whole process tree and rejects with TIMEOUT', async () => {
    const pidFile = path.join(agent.dir, 'bg.pid');
    const started = Date.now();
    await assert.rejects(client.exec(`sleep 1000 & echo $! > ${pidFile}; sleep 1000`, { timeoutMs: 500 }),
      isCode('TIMEOUT', /within 500 ms \(timeoutMs\); its process group was killed/));
    assert.ok(Date.now() - started < 10_000);
    const bg = Number(fs.readFileSync(pidFile, 'utf8'));
    await until(() => processGone(bg), `the background sleep (pid ${bg}) to die`, 5000, { everyMs: 20 });
  });

  it('caps output with maxOutputBytes and names the cap', async () => {
    await assert.rejects(client.exec('yes', { maxOutputBytes: 100_000 }),
      isCode('LIMIT', /more than 100000 bytes to stdout \(maxOutputBytes\)/));
  });

  it('stops on an AbortSignal', async () => {
    const ac = new AbortController();
    const p = client.exec('sleep 1000', { signal: ac.signal });
    setImmediate(() => ac.abort());
    await assert.rejects(p, isCode('ABORTED'));
  });

  it('runs 20 commands at once on one connection', async () => {
    const runs = Array.from({ length: 20 }, (_, i) =>
      client.exec(`sleep 0.2; head -c ${100_000 + i} /dev/zero | wc -c; echo ${i} >&2; exit ${i}`));
    const results = await Promise.all(runs);
    results.forEach((r, i) => {
      assert.equal(r.exitCode, i);
      assert.equal(r.stdout.trim(), String(100_000 + i));
      assert.equal(r.stderr, `${i}\n`);
    });
  });

  it('spawn: stdin and stdout as streams, kill and exit like child_process', async () => {
    const cat = client.spawn('cat');
    await new Promise((r) => cat.once('spawn', r));
    assert.ok(cat.pid! > 0);
    cat.stdin.write('line one\n');
    const first = await new Promise<string>((r) => cat.stdout.once('data', (d: Buffer) => r(d.toString())));
    assert.equal(first, 'line one\n');
    cat.stdin.end('last\n');
    const [code, signal] = await new Promise<[number | null, string | null]>((r) => cat.once('exit', (c, s) => r([c, s])));
    assert.deepEqual([code, signal], [0, null]);

    const sleeper = client.spawn('sleep', ['1000']);
    await new Promise((r) => sleeper.once('spawn', r));
    assert.equal(sleeper.kill(), true);
    const closed = await new Promise<[number | null, string | null]>((r) => sleeper.once('close', (c, s) => r([c, s])));
    assert.deepEqual(closed, [null, 'SIGTERM']);
    assert.equal(sleeper.kill(), false, 'nothing to signal after the exit');
  });

  it('ends when the process does, even while a descendant holds its stdout or its terminal open', async () => {
    const r = await client.exec('sleep 1000 & echo $!', { timeoutMs: 20_000 });
    const bg = Number(r.stdout);
    assert.equal(r.exitCode, 0);
    process.kill(bg, 'SIGKILL');
    const started = Date.now();
    const t = await client.exec("trap '' HUP; sleep 1000 & echo $!", { pty: true, timeoutMs: 20_000 });
    assert.equal(t.exitCode, 0);
    assert.ok(Date.now() - started < 15_000);
    process.kill(Number(t.stdout.trim()), 'SIGKILL');
  });

  it('runs on a terminal with the size given, and resizes it', async () => {
    const p = client.spawn('sh', ['-c', 'tty; stty size; read x; stty size'], { pty: { rows: 30, cols: 100 } });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    await until(() => out.includes('30 100'), 'the first stty size', 10_000, { everyMs: 10 });
    p.resize(40, 120);
    p.stdin.write('go\n');
    const [code] = await new Promise<[number | null]>((r) => p.once('close', (c) => r([c])));
    assert.equal(code, 0, out);
    assert.match(out, /\/dev\/pts\/\d+/);
    assert.match(out, /40 120/);
  });
});

describe('the real agent: failures', { skip, timeout: 60_000 }, () => {
  it('a killed agent fails the exec in flight with AGENT_GONE', async () => {
    const agent = await startAgent();
    const client = agent.client();
    let pid = 0;
    try {
      const p = client.spawn('sleep', ['1000']);
      await new Promise((r) => p.once('spawn', r));
      pid = p.pid!;
      const failed = new Promise<unknown>((r) => p.once('error', r));
      agent.child.kill('SIGKILL');
      const e = await failed;
      isCode('AGENT_GONE', /closed the connection/)(e);
      await assert.rejects(client.exec('true'), isCode('AGENT_GONE'), 'and later calls, with nobody listening');
    } finally {
      if (pid > 0) try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
      await agent.stop();
    }
  });

  it('a client that vanishes has its processes killed', async () => {
    const agent = await startAgent();
    try {
      const client = agent.client();
      const p = client.spawn('sh', ['-c', 'sleep 1000 & echo $!; wait']);
      const bg = await new Promise<number>((r) => p.stdout.once('data', (d: Buffer) => r(Number(d.toString()))));
      p.on('error', () => {});
      client.close();
      await until(() => processGone(p.pid!) && processGone(bg), 'the processes of the vanished client to die', 5000, { everyMs: 20 });
      const again = agent.client();
      assert.equal((await again.exec('echo still serving')).stdout, 'still serving\n');
    } finally {
      await agent.stop();
    }
  });
});
