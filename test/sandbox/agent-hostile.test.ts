// The real agent against a host that breaks the protocol (it answers once on stream 0 and closes that connection
// only), and AgentClient against garbage coming back from the agent's side (PROTOCOL, for that connection only).
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Fields, FieldWriter } from '../../src/sandbox/codec';
import { AgentClient, AgentError } from '../../src/sandbox';
import { FrameType, MAX_PAYLOAD, Tag } from '../../src/sandbox/protocol';
import { until } from '../helpers/wait';
import { agentUnbuildable, processGone, startAgent, type RealAgent } from './real-agent';
import { RawPeer } from './raw-peer';

const skip = agentUnbuildable();

describe('the real agent against a hostile host', { skip, timeout: 60_000 }, () => {
  let agent: RealAgent;
  before(async () => { agent = await startAgent(); });
  after(async () => { await agent.stop(); });

  /** The ERROR on stream 0 that the agent sends before it closes the connection. */
  async function closedWith(peer: RawPeer, pattern: RegExp, errno = 'EPROTO'): Promise<void> {
    const f = await peer.waitFrame((x) => x.type === FrameType.ERROR && x.stream === 0);
    const fields = Fields.parse(f.payload, 'ERROR');
    assert.equal(fields.str(Tag.ERRNO), errno);
    assert.match(fields.str(Tag.MESSAGE)!, pattern);
    await peer.waitClosed();
  }

  it('refuses another protocol version, saying its own', async () => {
    const peer = await RawPeer.connect(agent.socket);
    peer.hello(99);
    const f = await peer.waitFrame((x) => x.type === FrameType.ERROR);
    const fields = Fields.parse(f.payload, 'ERROR');
    assert.equal(fields.u32(Tag.VERSION), 1);
    await closedWith(peer, /protocol version 99 is not supported \(this agent speaks 1\)/, 'EPROTONOSUPPORT');
  });

  it('closes a connection whose first frame is not HELLO', async () => {
    const peer = await RawPeer.connect(agent.socket);
    peer.send(FrameType.PING, 1);
    await closedWith(peer, /first frame must be HELLO/);
  });

  it('closes a connection that announces a frame over the limit, before reading it', async () => {
    const peer = await RawPeer.connect(agent.socket);
    peer.hello();
    const header = Buffer.alloc(9);
    header.writeUInt32LE(MAX_PAYLOAD + 1, 0);
    header[4] = FrameType.EXEC;
    header.writeUInt32LE(1, 5);
    peer.sock.write(header);
    await closedWith(peer, new RegExp(`frame of ${MAX_PAYLOAD + 1} bytes \\(at most ${MAX_PAYLOAD}\\)`));
  });

  it('closes a connection that sends stdin past its credit, and kills its process', async () => {
    const peer = await RawPeer.connect(agent.socket);
    peer.hello();
    const argv = new FieldWriter().bytes(Tag.ARG, 'sleep').bytes(Tag.ARG, '1000').u32(Tag.WINDOW, 0).finish();
    peer.send(FrameType.EXEC, 7, argv);
    const started = Fields.parse((await peer.waitFrame((x) => x.type === FrameType.STARTED)).payload, 'STARTED');
    const window = started.requireU32(Tag.WINDOW);
    peer.send(FrameType.DATA_IN, 7, Buffer.alloc(window));
    peer.send(FrameType.DATA_IN, 7, Buffer.alloc(window));
    await closedWith(peer, /DATA_IN of \d+ bytes on stream 7 past its credit/);
    const pid = started.requireU32(Tag.PID);
    await until(() => processGone(pid), `its sleep (pid ${pid}) to be killed`, 5000, { everyMs: 20 });
  });

  it('closes a connection for an unknown frame type or a reused stream id', async () => {
    const a = await RawPeer.connect(agent.socket);
    a.hello();
    a.send(0x77, 3);
    await closedWith(a, /unknown frame type 0x77/);
    const b = await RawPeer.connect(agent.socket);
    b.hello();
    b.send(FrameType.EXEC, 5, new FieldWriter().bytes(Tag.ARG, 'sleep').bytes(Tag.ARG, '1000').finish());
    b.send(FrameType.EXEC, 5, new FieldWriter().bytes(Tag.ARG, 'true').finish());
    await closedWith(b, /stream 5, which is in use/);
  });

  it('answers a malformed or incomplete request on its stream and goes on serving', async () => {
    const peer = await RawPeer.connect(agent.socket);
    peer.hello();
    const cut = new FieldWriter().bytes(Tag.ARG, 'true').finish().subarray(0, 6);
    peer.send(FrameType.EXEC, 1, cut);
    peer.send(FrameType.EXEC, 2, new FieldWriter().bytes(Tag.CWD, '/').finish());
    peer.send(FrameType.EXEC, 3, new FieldWriter().bytes(Tag.ARG, 'a\0b').finish());
    peer.send(FrameType.STAT, 4, Buffer.alloc(0));
    peer.send(FrameType.PING, 5);
    const errors = await Promise.all([1, 2, 3, 4].map((s) => peer.waitFrame((x) => x.stream === s)));
    const texts = errors.map((f) => {
      assert.equal(f.type, FrameType.ERROR);
      return Fields.parse(f.payload, 'ERROR').str(Tag.MESSAGE);
    });
    assert.match(texts[0]!, /runs past the end/);
    assert.match(texts[1]!, /no ARG field/);
    assert.match(texts[2]!, /NUL/);
    assert.match(texts[3]!, /no PATH field/);
    assert.equal((await peer.waitFrame((x) => x.stream === 5)).type, FrameType.PONG);
    peer.sock.destroy();
  });

  it('still serves a well-behaved client after all that', async () => {
    const client = agent.client();
    assert.equal((await client.exec('echo fine')).stdout, 'fine\n');
  });
});

describe('AgentClient against garbage from the agent side', { skip, timeout: 60_000 }, () => {
  let agent: RealAgent;
  before(async () => { agent = await startAgent(); });
  after(async () => { await agent.stop(); });

  it('fails what is in flight with PROTOCOL, and the next call connects afresh', async () => {
    // A proxy in the middle: on cue, it sends garbage to the client instead of the agent's frames.
    const proxyPath = path.join(agent.dir, 'proxy.sock');
    const spoil: net.Socket[] = [];
    const server = net.createServer((down) => {
      const up = net.createConnection(agent.socket);
      down.pipe(up);
      up.pipe(down);
      up.on('error', () => down.destroy());
      down.on('error', () => up.destroy());
      spoil.push(down);
    });
    await new Promise<void>((r) => server.listen(proxyPath, r));
    const client = new AgentClient(proxyPath, 'direct');
    try {
      const proc = client.spawn('sleep', ['1000']);
      await new Promise((r) => proc.once('spawn', r));
      const failed = new Promise<unknown>((r) => proc.once('error', r));
      spoil[0]!.write(Buffer.from('\x05\x00\x00\x00\x99\x01\x00\x00\x00hello', 'latin1'));
      const e = await failed;
      assert.ok(e instanceof AgentError);
      assert.equal(e.code, 'PROTOCOL');
      assert.match(e.message, /frame of type 0x99/);
      assert.equal((await client.exec('echo again')).stdout, 'again\n');
      assert.equal(spoil.length, 2, 'a second connection');
    } finally {
      client.close();
      server.close();
    }
  });
});
