// The control socket's sandbox routes and VmClient's exec, spawn and files, against a machine stand-in whose
// agent is the real agent run on this host (test/helpers/agent-vm.ts): results, errors with the in-process codes,
// streams both ways, caps, and clients that misbehave or go away.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ApiClientError } from '../../src/api/client';
import { failure } from '../helpers/api-failure';
import { serveAgentVm, type ServedAgentVm } from '../helpers/agent-vm';
import { until } from '../helpers/wait';
import { agentUnbuildable, processGone } from '../sandbox/real-agent';

const skip = agentUnbuildable();
const sha256 = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

/** A raw HTTP exchange on the socket, for what VmClient would not send. */
function exchange(socketPath: string, method: string, target: string, body: string | Buffer):
  Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: target, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('POST /exec and VmClient.exec', { skip, timeout: 120_000 }, () => {
  let s: ServedAgentVm;
  before(async () => { s = await serveAgentVm(); });
  after(async () => { await s.stop(); });

  it('runs a string under /bin/sh and an argv without one; exit codes and signals as in the process', async () => {
    assert.deepEqual(await s.client.exec('echo hi; echo err >&2; exit 3'),
      { exitCode: 3, signal: null, stdout: 'hi\n', stderr: 'err\n' });
    assert.equal((await s.client.exec(['printf', '%s|', 'a b', '$HOME'])).stdout, 'a b|$HOME|');
    for (const code of [0, 1, 255]) assert.equal((await s.client.exec(['sh', '-c', `exit ${code}`])).exitCode, code);
    const killed = await s.client.exec('kill -TERM $$');
    assert.deepEqual([killed.exitCode, killed.signal], [null, 'SIGTERM']);
  });

  it('takes stdin as text or bytes, env and cwd; gives bytes back as base64 when asked', async () => {
    const data = crypto.randomBytes(300_000);
    const sum = await s.client.exec(['sha256sum'], { stdin: data });
    assert.equal(sum.stdout.split(' ')[0], sha256(data));
    assert.equal((await s.client.exec(['cat'], { stdin: 'ünïcode' })).stdout, 'ünïcode');
    const r = await s.client.exec('echo $A; pwd', { env: { A: 'x y' }, cwd: '/tmp' });
    assert.equal(r.stdout, 'x y\n/tmp\n');
    const bytes = await s.client.exec(['head', '-c', '1000', '/dev/urandom'], { encoding: 'buffer' });
    assert.ok(Buffer.isBuffer(bytes.stdout));
    assert.equal(bytes.stdout.length, 1000);
  });

  it('errors carry the agent\'s codes and statuses: NOT_FOUND 404, TIMEOUT 504, LIMIT 413', async () => {
    const missing = await failure(s.client.exec(['no-such-command']));
    assert.deepEqual([missing.status, missing.code, missing.guestErrno], [404, 'NOT_FOUND', 'ENOENT']);
    const slow = await failure(s.client.exec('sleep 30', { timeoutMs: 200 }));
    assert.deepEqual([slow.status, slow.code], [504, 'TIMEOUT']);
    assert.match(slow.message, /did not finish within 200 ms \(timeoutMs\)/);
    const loud = await failure(s.client.exec('head -c 100000 /dev/zero', { maxOutputBytes: 1000 }));
    assert.deepEqual([loud.status, loud.code], [413, 'LIMIT']);
    assert.match(loud.message, /more than 1000 bytes to stdout \(maxOutputBytes\)/);
    const cwd = await failure(s.client.exec('true', { cwd: '/no/such/dir' }));
    assert.equal(cwd.code, 'NOT_FOUND');
  });

  it('a bad body is a 400 naming the field', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{}, 'argv', /^argv: required/],
      [{ argv: [] }, 'argv', /not a non-empty list/],
      [{ argv: ['a', 1] }, 'argv[1]', /is not a string/],
      [{ argv: 'true', env: { A: 1 } }, 'env.A', /is not a string/],
      [{ argv: 'true', env: ['A=1'] }, 'env', /not a mapping/],
      [{ argv: 'true', timeoutMs: 0 }, 'timeoutMs', /out of range/],
      [{ argv: 'true', maxOutputBytes: 17 * 1024 * 1024 }, 'maxOutputBytes', /<= 16777216/],
      [{ argv: 'true', stdin: 'a', stdinBase64: 'YQ==' }, 'stdinBase64', /not both/],
      [{ argv: 'true', stdinBase64: '%%' }, 'stdinBase64', /not base64/],
      [{ argv: 'true', encoding: 'hex' }, 'encoding', /not one of utf8, base64/],
      [{ argv: 'true', pty: true }, 'pty', /unknown key/],
    ];
    for (const [body, field, message] of cases) {
      const e = await failure(s.client.request('POST', '/exec', body));
      assert.equal(e.status, 400, JSON.stringify(body));
      assert.equal(e.field, field, JSON.stringify(body));
      assert.match(e.message, message);
    }
  });

  it('20 commands at once, each with its own output', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      s.client.exec(`sleep 0.1; echo ${i}; echo e${i} >&2; exit ${i % 5}`)));
    results.forEach((r, i) => assert.deepEqual([r.stdout, r.stderr, r.exitCode], [`${i}\n`, `e${i}\n`, i % 5]));
  });

  it('a client that goes away takes its command with it', async () => {
    const pidFile = path.join(s.agent.dir, 'gone.pid');
    const req = http.request({ socketPath: s.socket, method: 'POST', path: '/exec', agent: false });
    req.on('error', () => {});
    req.end(JSON.stringify({ argv: `echo $$ > ${pidFile}; exec sleep 60` }));
    await until(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').endsWith('\n'), 'the command to start', 10_000);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    req.destroy();
    await until(() => processGone(pid), `process ${pid} to be killed`, 10_000);
  });

  it('no agent (no vsock device): 409 ERR_VM_NO_AGENT saying what to add; a machine not running: 409 ERR_VM_STATE',
    async () => {
      const bare = await serveAgentVm({ agent: false });
      try {
        const e = await failure(bare.client.exec('true'));
        assert.deepEqual([e.status, e.code], [409, 'ERR_VM_NO_AGENT']);
        assert.match(e.message, /no vsock device.*type: vsock/);
        const f = await failure(bare.client.files.stat('/'));
        assert.equal(f.code, 'ERR_VM_NO_AGENT');
      } finally {
        await bare.stop();
      }
      s.setState('paused');
      try {
        const e = await failure(s.client.exec('true'));
        assert.deepEqual([e.status, e.code], [409, 'ERR_VM_STATE']);
        assert.match(e.message, /cannot run a command: the machine is paused/);
      } finally {
        s.setState('running');
      }
    });
});

describe('POST /exec/stream and VmClient.spawn', { skip, timeout: 120_000 }, () => {
  let s: ServedAgentVm;
  before(async () => { s = await serveAgentVm(); });
  after(async () => { await s.stop(); });

  const collect = (p: Readable): Promise<Buffer> => new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    p.on('data', (d: Buffer) => parts.push(d));
    p.on('end', () => resolve(Buffer.concat(parts)));
    p.on('error', reject);
  });

  it('streams stdin in and both outputs out, then exit and close, like a ChildProcess', async () => {
    const p = s.client.spawn('sh', ['-c', 'cat; echo bye >&2; exit 4']);
    const events: string[] = [];
    p.on('spawn', () => events.push('spawn'));
    p.on('exit', (code: number | null) => events.push(`exit ${code}`));
    const closed = new Promise((resolve) => p.on('close', resolve));
    const data = crypto.randomBytes(3 << 20);
    const [out, err] = [collect(p.stdout), collect(p.stderr)];
    p.stdin.end(data);
    assert.equal(sha256(await out), sha256(data));
    assert.equal((await err).toString(), 'bye\n');
    await closed;
    assert.deepEqual(events, ['spawn', 'exit 4']);
    assert.ok(typeof p.pid === 'number');
  });

  it('16 MiB of output arrive whole, at the pace of a slow reader', async () => {
    const p = s.client.spawn('head', ['-c', String(16 << 20), '/dev/zero']);
    let size = 0;
    p.stdout.on('data', (d: Buffer) => {
      size += d.length;
      p.stdout.pause();
      setImmediate(() => p.stdout.resume());
    });
    p.stdin.end();
    await new Promise((resolve) => p.on('close', resolve));
    assert.equal(size, 16 << 20);
    assert.equal(p.exitCode, 0);
  });

  it('signals reach the process or its group; a terminal takes its size', async () => {
    const p = s.client.spawn('sh', ['-c', 'echo ready; sleep 60']);
    p.stdin.end();
    await new Promise<void>((resolve) => p.stdout.once('data', () => resolve()));
    p.killGroup('SIGTERM');
    await new Promise((resolve) => p.on('close', resolve));
    assert.equal(p.signalCode, 'SIGTERM');
    const t = s.client.spawn('sh', ['-c', 'read x; stty size'], { pty: { rows: 30, cols: 100 } });
    t.resize(40, 120);
    t.stdin.write('go\n');
    const out = await collect(t.stdout);
    assert.match(out.toString(), /40 120/);
  });

  it('a missing command is an error event with code NOT_FOUND; a timeout ends with TIMEOUT', async () => {
    const p = s.client.spawn('no-such-command');
    p.stdin.end();
    const e = await new Promise<ApiClientError>((resolve) => p.on('error', resolve));
    assert.deepEqual([e.status, e.code], [404, 'NOT_FOUND']);
    const slow = s.client.spawn('sleep', ['30'], { timeoutMs: 200 });
    slow.stdin.end();
    const t = await new Promise<ApiClientError>((resolve) => slow.on('error', resolve));
    assert.deepEqual([t.code, t.status], ['TIMEOUT', 504]);
  });

  it('a bad first line is a 400 naming the field; a bad later line ends the command with a 400 error line', async () => {
    const bad = await exchange(s.socket, 'POST', '/exec/stream', '{"argv": "true", "stdin": "yes"}\n');
    assert.equal(bad.status, 400);
    assert.match(bad.text, /"field":"stdin"/);
    const notJson = await exchange(s.socket, 'POST', '/exec/stream', 'nope\n');
    assert.equal(notJson.status, 400);
    const later = await exchange(s.socket, 'POST', '/exec/stream', '{"argv": "sleep 30", "stdin": true}\n{"dance": 1}\n');
    assert.equal(later.status, 200);
    const lines = later.text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(lines[0]?.started);
    const last = lines.at(-1);
    assert.equal(last?.status, 400);
    assert.match(String(last.error), /none of \{stdin\}/);
  });

  it('a client that goes away takes the process group with it', async () => {
    const p = s.client.spawn('sh', ['-c', 'sleep 60 & echo $!; wait']);
    p.stdin.end();
    p.on('error', () => {});
    const first = await new Promise<string>((resolve) => p.stdout.once('data', (d: Buffer) => resolve(d.toString())));
    const child = Number(first.trim());
    (p as unknown as { req: http.ClientRequest }).req.destroy();
    await until(() => processGone(child), `the background sleep ${child} to be killed`, 10_000);
  });
});

describe('/files and VmClient.files', { skip, timeout: 120_000 }, () => {
  let s: ServedAgentVm;
  let dir: string;
  before(async () => {
    s = await serveAgentVm({ limits: { maxFileBytes: 96 << 20 } });
    dir = path.join(s.agent.dir, 'files');
    fs.mkdirSync(dir);
  });
  after(async () => { await s.stop(); });

  it('64 MiB round trip, streamed both ways, and a name with spaces and non-ASCII', async () => {
    const data = crypto.randomBytes(64 << 20);
    const file = path.join(dir, 'sub dir', 'dätä ✓.bin');
    const pieces = Readable.from((function* chunks() {
      for (let off = 0; off < data.length; off += 1 << 20) yield data.subarray(off, off + (1 << 20));
    })());
    assert.equal(await s.client.files.write(file, pieces, { parents: true, mode: 0o600 }), data.length);
    assert.equal(sha256(fs.readFileSync(file)), sha256(data), 'what landed on disk');
    assert.equal(sha256(await s.client.files.read(file)), sha256(data));
    const st = await s.client.files.stat(file);
    assert.deepEqual([st.kind, st.mode, st.size], ['file', 0o600, data.length]);
    const opened = await s.client.files.readStream(file);
    assert.deepEqual([opened.size, opened.mode], [data.length, 0o600]);
    let n = 0;
    for await (const chunk of opened.stream) n += (chunk as Buffer).length;
    assert.equal(n, data.length);
    assert.deepEqual((await s.client.files.list(path.join(dir, 'sub dir'))).map((e) => e.name), ['dätä ✓.bin']);
  });

  it('write takes text, appends, and names errors with the agent\'s codes', async () => {
    const file = path.join(dir, 'text.txt');
    await s.client.files.write(file, 'one\n');
    await s.client.files.write(file, 'two\n', { append: true });
    assert.equal((await s.client.files.read(file)).toString(), 'one\ntwo\n');
    const missing = await failure(s.client.files.read(path.join(dir, 'nope')));
    assert.deepEqual([missing.status, missing.code, missing.guestErrno], [404, 'NOT_FOUND', 'ENOENT']);
    const isDir = await failure(s.client.files.read(dir));
    assert.equal(isDir.status, 422);
    assert.equal(isDir.code, 'FAILED');
    const noParent = await failure(s.client.files.write(path.join(dir, 'a', 'b'), 'x'));
    assert.equal(noParent.code, 'NOT_FOUND');
  });

  it('remove: a file, a tree with recursive, a missing path with force; query errors name the parameter', async () => {
    fs.mkdirSync(path.join(dir, 'tree', 'deep'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'tree', 'deep', 'f'), 'x');
    const notEmpty = await failure(s.client.files.remove(path.join(dir, 'tree')));
    assert.equal(notEmpty.code, 'FAILED');
    await s.client.files.remove(path.join(dir, 'tree'), { recursive: true });
    assert.equal(fs.existsSync(path.join(dir, 'tree')), false);
    await s.client.files.remove(path.join(dir, 'tree'), { force: true });
    for (const [method, target, field] of [['GET', '/files', 'path'], ['GET', '/files/stat?path=', 'path'],
      ['PUT', `/files?path=${encodeURIComponent(path.join(dir, 'm'))}&mode=999`, 'mode'],
      ['DELETE', `/files?path=/x&recursive=maybe`, 'recursive']] as const) {
      const r = await exchange(s.socket, method, target, '');
      assert.equal(r.status, 400, `${method} ${target}: ${r.text}`);
      assert.equal((JSON.parse(r.text) as { field?: string }).field, field);
    }
  });

  it('files over maxFileBytes are refused both ways (413 LIMIT)', async () => {
    const big = path.join(dir, 'big.bin');
    fs.writeFileSync(big, Buffer.alloc((96 << 20) + 1));
    const down = await failure(s.client.files.read(big, { maxBytes: 1 << 30 }));
    assert.deepEqual([down.status, down.code], [413, 'LIMIT']);
    const declared = await exchange(s.socket, 'PUT', `/files?path=${encodeURIComponent(big)}`, Buffer.alloc((96 << 20) + 1));
    assert.equal(declared.status, 413);
    const streamed = await failure(s.client.files.write(path.join(dir, 'up.bin'), Readable.from((function* chunks() {
      for (let i = 0; i < 97; i++) yield Buffer.alloc(1 << 20);
    })())));
    assert.equal(streamed.status, 413);
    assert.match(streamed.message, /larger than 100663296 bytes \(maxFileBytes\)/);
  });
});
