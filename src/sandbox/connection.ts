// One connection to the agent: the HELLO exchange, then frames routed to the stream each belongs to. Anything
// the agent sends that the protocol does not allow (a frame type it may not send, a frame for a stream that is
// not open, a malformed field, more data than was granted) ends the connection with a PROTOCOL error, which
// every open stream gets; a connection that closes gives them AGENT_GONE. Either way, only this sandbox fails.
import type * as net from 'node:net';
import { Fields, FieldWriter, encodeFrame, FrameDecoder, type Frame } from './codec';
import { dial, type DialOptions } from './dial';
import { AgentError } from './errors';
import { AGENT_FRAME_TYPES, FrameType, frameTypeName, MAX_PAYLOAD, PROTOCOL_VERSION, Tag } from './protocol';

export interface AgentInfo {
  /** The protocol version both sides speak. */
  version: number;
  /** The agent's own name and version, e.g. `tsvmm-agent 0.1.0`. */
  name: string;
  capabilities: string[];
  /** The largest frame payload the agent accepts. */
  maxFrame: number;
  /** How many streams (running processes, file transfers) one connection may have open. */
  maxStreams: number;
}

export interface StreamHandler {
  /** A frame for this stream. Throwing an AgentError ends the whole connection with it. */
  onFrame(frame: Frame): void;
  /** The connection ended (AGENT_GONE, PROTOCOL, or closed by the host). */
  onClose(err: AgentError): void;
}

const MAX_CAPS = 64;

export class AgentConnection {
  private readonly streams = new Map<number, StreamHandler>();
  private readonly decoder = new FrameDecoder(MAX_PAYLOAD);
  private nextId = 1;
  private failure: AgentError | undefined;
  private readonly closeListeners = new Set<(err: AgentError) => void>();
  private helloWaiter: { resolve: (info: AgentInfo) => void; reject: (e: AgentError) => void } | undefined;
  private agentInfo: AgentInfo | undefined;

  private constructor(private readonly socket: net.Socket, private readonly where: string) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (e: NodeJS.ErrnoException) => this.fail(new AgentError('AGENT_GONE',
      `the agent at ${where} closed the connection (${e.code ?? e.message})`, undefined, { cause: e })));
    socket.on('close', () => this.fail(new AgentError('AGENT_GONE', `the agent at ${where} closed the connection`)));
  }

  /** Dials, says HELLO and checks the answer; the connection is ready for requests when this resolves. */
  static async open(opts: DialOptions & { clientName?: string }): Promise<AgentConnection> {
    const where = opts.port === 'direct' ? opts.socketPath : `vsock port ${opts.port} (${opts.socketPath})`;
    const { socket, early } = await dial(opts);
    const conn = new AgentConnection(socket, where);
    await conn.greet(early, opts.timeoutMs, opts.clientName ?? 'tsvmm');
    return conn;
  }

  /** What the agent said about itself in HELLO_OK. */
  get info(): AgentInfo {
    if (this.agentInfo === undefined) throw new Error('AgentConnection.info: the HELLO exchange has not finished');
    return this.agentInfo;
  }

  get closed(): boolean {
    return this.failure !== undefined;
  }

  /** Why the connection ended, once it has. */
  get closeReason(): AgentError | undefined {
    return this.failure;
  }

  onClose(listener: (err: AgentError) => void): () => void {
    if (this.failure) {
      listener(this.failure);
      return () => {};
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** Registers a handler under a fresh stream id. Throws when the connection has ended or is full. */
  openStream(handler: StreamHandler): number {
    if (this.failure) throw this.failure;
    if (this.streams.size >= this.info.maxStreams) {
      throw new AgentError('LIMIT', `${this.streams.size} operations are open on this connection; the agent allows ` +
        `${this.info.maxStreams} (maxStreams)`);
    }
    while (this.streams.has(this.nextId) || this.nextId === 0) this.nextId = (this.nextId + 1) >>> 0;
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0;
    this.streams.set(id, handler);
    this.updateRef();
    return id;
  }

  /** The agent ended this stream: a later frame for it is a protocol error. */
  endStream(id: number): void {
    this.streams.delete(id);
    this.updateRef();
  }

  send(type: number, stream: number, payload?: Uint8Array): void {
    if (this.failure) return;
    this.socket.write(encodeFrame(type, stream, payload));
  }

  sendCredit(stream: number, channel: number, bytes: number): void {
    const p = Buffer.allocUnsafe(5);
    p.writeUInt8(channel, 0);
    p.writeUInt32LE(bytes, 1);
    this.send(FrameType.CREDIT, stream, p);
  }

  /** Ends the connection; open streams get AGENT_GONE (or `err`). */
  close(err?: AgentError): void {
    this.fail(err ?? new AgentError('AGENT_GONE', `the connection to the agent at ${this.where} was closed by the host`));
  }

  private greet(early: Buffer, timeoutMs: number, clientName: string): Promise<AgentInfo> {
    return new Promise<AgentInfo>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new AgentError('TIMEOUT',
        `the agent at ${this.where} did not answer HELLO within ${timeoutMs} ms (connectTimeoutMs)`)), timeoutMs);
      this.helloWaiter = {
        resolve: (info) => { clearTimeout(timer); resolve(info); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      this.send(FrameType.HELLO, 0, new FieldWriter().u32(Tag.VERSION, PROTOCOL_VERSION).bytes(Tag.NAME, clientName).finish());
      this.updateRef();
      this.socket.resume();
      if (early.length > 0) this.receive(early);
    });
  }

  private fail(err: AgentError): void {
    if (this.failure) return;
    this.failure = err;
    this.socket.destroy();
    const waiter = this.helloWaiter;
    this.helloWaiter = undefined;
    waiter?.reject(err);
    const handlers = [...this.streams.values()];
    this.streams.clear();
    for (const h of handlers) h.onClose(err);
    for (const l of this.closeListeners) l(err);
    this.closeListeners.clear();
  }

  // An idle connection does not keep the process alive; one with work in progress (or a HELLO) does.
  private updateRef(): void {
    if (this.streams.size > 0 || this.helloWaiter !== undefined) this.socket.ref();
    else this.socket.unref();
  }

  private receive(chunk: Buffer): void {
    if (this.failure) return;
    try {
      for (const frame of this.decoder.push(chunk)) {
        this.route(frame);
        // route() may have ended the connection (narrowing on this.failure cannot see that).
        if (this.closed) return;
      }
    } catch (e) {
      this.fail(e instanceof AgentError ? e : new AgentError('PROTOCOL', `handling a frame from the agent: ${(e as Error).message}`));
    }
  }

  private route(frame: Frame): void {
    const waiter = this.helloWaiter;
    if (waiter !== undefined) {
      this.agentInfo = helloAnswer(frame, this.where);
      this.helloWaiter = undefined;
      this.updateRef();
      waiter.resolve(this.agentInfo);
      return;
    }
    const name = frameTypeName(frame.type);
    if (!AGENT_FRAME_TYPES.has(frame.type) || frame.type === FrameType.HELLO_OK) {
      throw new AgentError('PROTOCOL', `the agent sent a frame of type ${name}, which it may not send now`);
    }
    if (frame.stream === 0) {
      if (frame.type !== FrameType.ERROR) throw new AgentError('PROTOCOL', `the agent sent ${name} on stream 0`);
      const f = Fields.parse(frame.payload, 'ERROR on stream 0');
      throw new AgentError('PROTOCOL', `the agent closed the connection: ${f.str(Tag.MESSAGE, 1024) ?? '(no message)'}`);
    }
    const handler = this.streams.get(frame.stream);
    if (handler === undefined) {
      throw new AgentError('PROTOCOL', `the agent sent ${name} for stream ${frame.stream}, which is not open`);
    }
    handler.onFrame(frame);
  }
}

function helloAnswer(frame: Frame, where: string): AgentInfo {
  if (frame.stream !== 0) throw new AgentError('PROTOCOL', `the agent answered HELLO on stream ${frame.stream}, not 0`);
  if (frame.type === FrameType.ERROR) {
    const f = Fields.parse(frame.payload, 'answer to HELLO');
    const theirs = f.u32(Tag.VERSION);
    throw new AgentError('REFUSED', `the agent at ${where} refused protocol version ${PROTOCOL_VERSION}` +
      `${theirs === undefined ? '' : ` (it speaks ${theirs})`}: ${f.str(Tag.MESSAGE, 1024) ?? 'no reason given'}`,
    f.str(Tag.ERRNO, 64));
  }
  if (frame.type !== FrameType.HELLO_OK) {
    throw new AgentError('PROTOCOL', `the agent answered HELLO with ${frameTypeName(frame.type)}`);
  }
  const f = Fields.parse(frame.payload, 'HELLO_OK');
  const version = f.requireU32(Tag.VERSION);
  if (version !== PROTOCOL_VERSION) {
    throw new AgentError('REFUSED', `the agent at ${where} speaks protocol version ${version}; this host speaks ${PROTOCOL_VERSION}`);
  }
  const caps = f.all(Tag.CAP);
  if (caps.length > MAX_CAPS) throw f.error(`${caps.length} capabilities (at most ${MAX_CAPS})`);
  const maxFrame = f.u32(Tag.MAX_FRAME) ?? MAX_PAYLOAD;
  const maxStreams = f.u32(Tag.MAX_STREAMS) ?? 64;
  if (maxStreams === 0) throw f.error('MAX_STREAMS is 0');
  return {
    version, name: f.str(Tag.NAME, 256) ?? '(unnamed)', capabilities: caps.map((c) => c.subarray(0, 64).toString('utf8')),
    maxFrame: Math.min(maxFrame, MAX_PAYLOAD), maxStreams,
  };
}
