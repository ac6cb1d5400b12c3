// File requests against the real agent (run here, so the guest paths are this host's temporary folder): a 64 MiB
// round trip, names with spaces and non-ASCII text, stat, list, mkdir, remove, and the errors each can give.
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { AgentError, type AgentClient } from '../../src/sandbox';
import { isCode } from './agent-errors';
import { agentUnbuildable, startAgent, type RealAgent } from './real-agent';

const skip = agentUnbuildable();
const sha256 = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

/** This process's umask (the agent's too), read without process.umask(), which has to set it to read it. */
function umask(): number {
  const line = /^Umask:\s*([0-7]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  if (!line) throw new Error('/proc/self/status has no Umask line');
  return parseInt(line[1]!, 8);
}

describe('the real agent: files', { skip, timeout: 120_000 }, () => {
  let agent: RealAgent;
  let client: AgentClient;
  let dir: string;
  before(async () => {
    agent = await startAgent();
    client = agent.client();
    dir = path.join(agent.dir, 'files');
    fs.mkdirSync(dir);
  });
  after(async () => { await agent.stop(); });

  it('writes and reads back 64 MiB, byte for byte', async () => {
    const data = crypto.randomBytes(64 << 20);
    const file = path.join(dir, 'big.bin');
    assert.equal(await client.files.write(file, data), data.length);
    assert.equal(sha256(fs.readFileSync(file)), sha256(data), 'what landed on disk');
    const back = await client.files.read(file);
    assert.equal(back.length, data.length);
    assert.equal(sha256(back), sha256(data));
    fs.rmSync(file);
  });

  it('writes from a Readable, with a mode, appends, and makes parents', async () => {
    const file = path.join(dir, 'a/b/c/stream.txt');
    const parts = Array.from({ length: 300 }, (_, i) => `line ${i} ${'x'.repeat(i * 10)}\n`);
    await client.files.write(file, Readable.from(parts), { mode: 0o600, parents: true });
    await client.files.write(file, 'appended\n', { append: true, mode: 0o600 });
    assert.equal(fs.readFileSync(file, 'utf8'), parts.join('') + 'appended\n');
    const st = await client.files.stat(file);
    assert.equal(st.kind, 'file');
    assert.equal(st.mode, 0o600);
    assert.equal(st.size, Buffer.byteLength(parts.join('') + 'appended\n'));
    assert.ok(Math.abs(st.mtimeMs - fs.statSync(file).mtimeMs) < 1000);
  });

  it('keeps a name with spaces and non-ASCII text exact', async () => {
    const name = 'résumé 2024 – 日本語 🚀.txt';
    const sub = path.join(dir, 'with space');
    await client.files.mkdir(sub);
    await client.files.write(path.join(sub, name), 'contents ü\n');
    const entries = await client.files.list(sub);
    assert.deepEqual(entries.map((e) => e.name), [name]);
    assert.equal((await client.files.read(path.join(sub, name))).toString(), 'contents ü\n');
    assert.equal(fs.readFileSync(path.join(sub, name), 'utf8'), 'contents ü\n', 'the same name on disk');
  });

  it('stats and lists links, directories and files without following links', async () => {
    const d = path.join(dir, 'listing');
    await client.files.mkdir(path.join(d, 'inner'), { parents: true, mode: 0o750 });
    await client.files.write(path.join(d, 'f'), '12345');
    fs.symlinkSync('f', path.join(d, 'link'));
    const byName = Object.fromEntries((await client.files.list(d)).map((e) => [e.name, e]));
    assert.deepEqual(Object.keys(byName).sort(), ['f', 'inner', 'link']);
    assert.equal(byName.f!.kind, 'file');
    assert.equal(byName.f!.size, 5);
    assert.equal(byName.inner!.kind, 'dir');
    assert.equal(byName.inner!.mode, 0o750 & ~umask());
    assert.equal(byName.link!.kind, 'symlink');
    const link = await client.files.stat(path.join(d, 'link'));
    assert.deepEqual([link.kind, link.target], ['symlink', 'f']);
  });

  it('removes files, empty directories and whole trees', async () => {
    const d = path.join(dir, 'tree');
    await client.files.write(path.join(d, 'x/y/z.txt'), 'z', { parents: true });
    await assert.rejects(client.files.remove(d), isCode('FAILED', /remove .*tree: Directory not empty/));
    await client.files.remove(path.join(d, 'x/y/z.txt'));
    await client.files.remove(path.join(d, 'x/y'));
    await client.files.remove(d, { recursive: true });
    assert.equal(fs.existsSync(d), false);
    await assert.rejects(client.files.remove(d), isCode('NOT_FOUND'));
    await client.files.remove(d, { force: true });
  });

  it('names what went wrong: missing paths, directories, caps', async () => {
    await assert.rejects(client.files.read(path.join(dir, 'missing')), isCode('NOT_FOUND', /open .*missing: No such file/));
    await assert.rejects(client.files.stat(path.join(dir, 'missing')), isCode('NOT_FOUND'));
    await assert.rejects(client.files.list(path.join(dir, 'missing')), isCode('NOT_FOUND'));
    await assert.rejects(client.files.read(dir), (e) => isCode('FAILED', /is a directory/)(e) && (e as AgentError).guestErrno === 'EISDIR');
    await assert.rejects(client.files.write(path.join(dir, 'no/parent/f'), 'x'), isCode('NOT_FOUND'));
    await assert.rejects(client.files.mkdir(dir), isCode('FAILED', /File exists/));
    await client.files.mkdir(dir, { parents: true });
    const file = path.join(dir, 'capped');
    await client.files.write(file, Buffer.alloc(10_000));
    await assert.rejects(client.files.read(file, { maxBytes: 9999 }), isCode('LIMIT', /10000 bytes, over maxBytes \(9999\)/));
    await assert.rejects(client.files.read('/dev/null'), isCode('FAILED', /not a regular file/));
    await assert.rejects(client.files.read(''), /not a guest path/);
    assert.equal((await client.files.read(file)).length, 10_000, 'the connection is still good');
  });

  it('caps a listing at maxEntries', async () => {
    const d = path.join(dir, 'many');
    fs.mkdirSync(d);
    for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(d, `f${i}`), '');
    assert.equal((await client.files.list(d)).length, 50);
    await assert.rejects(client.files.list(d, { maxEntries: 10 }), isCode('LIMIT', /more than maxEntries \(10\)/));
    assert.equal((await client.files.list(d)).length, 50);
  });
});
