// AgentClient against a scripted fake agent: the vsock CONNECT handshake, waitReady's retries, version refusal,
// and an agent that is silent, sends garbage, overruns its credit, names streams that are not open, or vanishes.
// Each failure is the one AgentError code it should be, with a message that says what went wrong.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { Fields, FieldWriter } from '../../src/sandbox/codec';
import { AgentClient } from '../../src/sandbox';
import { isCode } from './agent-errors';
import { FrameType, Tag } from '../../src/sandbox/protocol';
import { FakeAgent, helloOk, type FakeConn } from './fake-agent';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-fake-agent-'));
let n = 0;
const sockPath = (): string => path.join(dir, `s${n++}.sock`);
const fakes: FakeAgent[] = [];
const clients: AgentClient[] = [];
after(() => {
  for (const c of clients) c.close();
  for (const f of fakes) f.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function fake(behaviour: ConstructorParameters<typeof FakeAgent>[1]): Promise<FakeAgent> {
  const f = await new FakeAgent(sockPath(), behaviour).listen();
  fakes.push(f);
  return f;
}

function client(f: FakeAgent, port: number | 'direct' = 'direct', opts: ConstructorParameters<typeof AgentClient>[2] = {}): AgentClient {
  const c = new AgentClient(f.path, port, { connectTimeoutMs: 2000, ...opts });
  clients.push(c);
  return c;
}


/** Answers EXEC with STARTED (pid 99, stdin window 1 MiB), then runs `then`. */
function onExec(then: (conn: FakeConn, stream: number, window: number) => void) {
  return (frame: { type: number; stream: number; payload: Buffer }, conn: FakeConn): void => {
    if (frame.type !== FrameType.EXEC) return;
    const window = Fields.parse(frame.payload, 'EXEC').requireU32(Tag.WINDOW);
    conn.send(FrameType.STARTED, frame.stream, new FieldWriter().u32(Tag.PID, 99).u32(Tag.WINDOW, 1 << 20).finish());
    then(conn, frame.stream, window);
  };
}

describe('connecting', () => {
  it('asks the vsock device for the port with CONNECT, then says HELLO', async () => {
    const f = await fake({
      hybrid: () => 'ok',
      frame: (fr, c) => { if (fr.type === FrameType.PING) c.send(FrameType.PONG, fr.stream); },
    });
    const c = client(f, 1024);
    const info = await c.waitReady({ timeoutMs: 5000 });
    assert.deepEqual(f.lines, ['CONNECT 1024']);
    assert.equal(info.name, 'fake-agent 0.0.1');
    const hello = Fields.parse(f.conns[0]!.frames[0]!.payload, 'HELLO');
    assert.equal(hello.u32(Tag.VERSION), 1);
    assert.ok((await c.ping()) >= 0);
  });

  it('waitReady retries while the device turns the CONNECT away, then succeeds', async () => {
    const f = await fake({ hybrid: (_l, conn) => (conn.index < 3 ? 'close' : 'ok') });
    const info = await client(f, 1024).waitReady({ timeoutMs: 10_000, intervalMs: 10 });
    assert.equal(info.version, 1);
    assert.equal(f.conns.length, 4);
  });

  it('waitReady gives up with TIMEOUT and says what the last try met', async () => {
    const f = await fake({ hybrid: () => 'close' });
    await assert.rejects(client(f, 1024).waitReady({ timeoutMs: 300, intervalMs: 10 }),
      isCode('TIMEOUT', /within 300 ms .*closed the connection before the agent answered/));
    const missing = new AgentClient(path.join(dir, 'nothing-here.sock'), 1024);
    await assert.rejects(missing.waitReady({ timeoutMs: 200, intervalMs: 10 }), isCode('TIMEOUT', /ENOENT/));
  });

  it('a device that never answers CONNECT, or an agent that never answers HELLO, is a TIMEOUT', async () => {
    const quiet = await fake({ hybrid: () => 'silent' });
    await assert.rejects(client(quiet, 5, { connectTimeoutMs: 150 }).connect(), isCode('TIMEOUT', /no answer from vsock port 5/));
    const mute = await fake({ hello: () => {} });
    await assert.rejects(client(mute, 'direct', { connectTimeoutMs: 150 }).connect(), isCode('TIMEOUT', /did not answer HELLO within 150 ms/));
  });

  it('another protocol version is REFUSED, whichever side says so, and waitReady does not retry it', async () => {
    const newer = await fake({ hello: (_f, c) => helloOk(c, 2) });
    await assert.rejects(client(newer).waitReady({ timeoutMs: 5000 }), isCode('REFUSED', /speaks protocol version 2; this host speaks 1/));
    assert.equal(newer.conns.length, 1);
    const refusing = await fake({
      hello: (_f, c) => c.send(FrameType.ERROR, 0, new FieldWriter().bytes(Tag.ERRNO, 'EPROTONOSUPPORT')
        .bytes(Tag.MESSAGE, 'too old').u32(Tag.VERSION, 7).finish()),
    });
    await assert.rejects(client(refusing).connect(), isCode('REFUSED', /refused protocol version 1 \(it speaks 7\): too old/));
  });

  it('garbage instead of HELLO_OK is PROTOCOL', async () => {
    const f = await fake({ hello: (_f, c) => c.sock.write(Buffer.alloc(64, 0xee)) });
    await assert.rejects(client(f).connect(), isCode('PROTOCOL', /frame of \d+ bytes/));
  });
});

describe('a misbehaving agent fails its requests, with the code that fits', () => {
  it('output past the granted window is PROTOCOL', async () => {
    const f = await fake({ frame: onExec((c, s, window) => c.send(FrameType.DATA_OUT, s, Buffer.alloc(window + 1))) });
    await assert.rejects(client(f).exec('x', { window: 1000 }), isCode('PROTOCOL', /sent 1001 bytes of stdout; only 1000 were granted/));
  });

  it('a frame for a stream that is not open is PROTOCOL, and the next call connects afresh', async () => {
    const f = await fake({
      frame: (fr, c) => {
        if (c.index === 0) c.send(FrameType.DONE, fr.stream + 100);
        else c.send(FrameType.PONG, fr.stream);
      },
    });
    const c = client(f);
    await assert.rejects(c.files.stat('/x'), isCode('PROTOCOL', /DONE for stream \d+, which is not open/));
    assert.ok((await c.ping()) >= 0);
    assert.equal(f.conns.length, 2);
  });

  it('an EXIT with both a code and a signal, or a code over 255, is PROTOCOL', async () => {
    const both = await fake({ frame: onExec((c, s) => c.send(FrameType.EXIT, s, new FieldWriter().u32(Tag.CODE, 0).u32(Tag.SIGNO, 9).finish())) });
    await assert.rejects(client(both).exec('x'), isCode('PROTOCOL', /exactly one of CODE and SIGNO/));
    const big = await fake({ frame: onExec((c, s) => c.send(FrameType.EXIT, s, new FieldWriter().u32(Tag.CODE, 256).finish())) });
    await assert.rejects(client(big).exec('x'), isCode('PROTOCOL', /exit code 256 is over 255/));
  });

  it('an agent that closes mid-exec is AGENT_GONE', async () => {
    const f = await fake({ frame: onExec((c) => setImmediate(() => c.sock.destroy())) });
    await assert.rejects(client(f).exec('sleep 1000'), isCode('AGENT_GONE', /closed the connection/));
  });

  it('a file request the agent never answers times out, is cancelled, and a late answer is no error', async () => {
    let late: (() => void) | undefined;
    const f = await fake({
      frame: (fr, c) => {
        if (fr.type === FrameType.STAT) late = () => c.send(FrameType.ERROR, fr.stream, new FieldWriter().bytes(Tag.ERRNO, 'ECANCELED').finish());
        if (fr.type === FrameType.CANCEL) late?.();
        if (fr.type === FrameType.PING) c.send(FrameType.PONG, fr.stream);
      },
    });
    const c = client(f, 'direct', { requestTimeoutMs: 150 });
    await assert.rejects(c.files.stat('/slow'), isCode('TIMEOUT', /stat \/slow: the agent sent nothing for 150 ms/));
    assert.ok((await c.ping()) >= 0, 'the connection survived the late answer');
    assert.ok(f.conns[0]!.frames.some((fr) => fr.type === FrameType.CANCEL));
  });

  it('an exec past its timeout gets SIGKILL for its group; an agent that never reports the end still rejects', async () => {
    const f = await fake({ frame: onExec(() => {}) });
    await assert.rejects(client(f).exec('sleep 1000', { timeoutMs: 100, killGraceMs: 100 }), isCode('TIMEOUT', /within 100 ms/));
    const signal = f.conns[0]!.frames.find((fr) => fr.type === FrameType.SIGNAL)!;
    const fields = Fields.parse(signal.payload, 'SIGNAL');
    assert.equal(fields.u32(Tag.SIGNO), 9);
    assert.equal(fields.has(Tag.GROUP), true);
  });

  it('a read whose DONE miscounts, or a listing with a / in a name, is PROTOCOL', async () => {
    const f = await fake({
      frame: (fr, c) => {
        if (fr.type === FrameType.FILE_READ) {
          c.send(FrameType.READY, fr.stream, new FieldWriter().u64(Tag.SIZE, 3).u32(Tag.MODE, 0o644).finish());
          c.send(FrameType.DATA_OUT, fr.stream, Buffer.from('abc'));
          c.send(FrameType.DONE, fr.stream, new FieldWriter().u64(Tag.SIZE, 4).finish());
        } else if (fr.type === FrameType.LIST) {
          const entry = new FieldWriter().bytes(Tag.NAME, '../etc').bytes(Tag.KIND, 'f').u32(Tag.MODE, 0).u64(Tag.SIZE, 0)
            .u64(Tag.MTIME, 0).u32(Tag.UID, 0).u32(Tag.GID, 0).finish();
          c.send(FrameType.ENTRIES, fr.stream, new FieldWriter().bytes(Tag.ENTRY, entry).finish());
        }
      },
    });
    const c = client(f);
    await assert.rejects(c.files.read('/f'), isCode('PROTOCOL', /says it sent 4 bytes for read \/f; 3 came/));
    await assert.rejects(c.files.list('/d'), isCode('PROTOCOL', /entry name "\.\.\/etc"/));
  });
});
