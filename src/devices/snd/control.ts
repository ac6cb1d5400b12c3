// The control queue: the info requests (JACK_INFO, PCM_INFO, CHMAP_INFO), JACK_REMAP (NOT_SUPP: no jack offers
// remapping) and the PCM lifecycle commands. Every answer starts with a virtio_snd_hdr status; an info request's
// items follow it, `size` bytes apart. A chain that cannot hold the request its code states, or a status, is broken
// (QueueError); any other bad value is answered BAD_MSG or NOT_SUPP and changes nothing.
import { QueueError, type DescriptorChain } from '../../virtio-mmio/queue';
import { gather } from '../../virtio-mmio/segments';
import { checkParams, type PcmParams } from './formats';
import {
  CHMAP_INFO_BYTES, HDR_BYTES, ITEM_HDR_BYTES, ITEM_ID, JACK_INFO_BYTES, JACK_REMAP_BYTES, PCM_INFO_BYTES, QUERY,
  QUERY_INFO_BYTES, REQ, SET_PARAMS, SET_PARAMS_BYTES, STATUS, type Status, type Topology,
} from './protocol';
import { COMMAND_OF, transition, type PcmCommand } from './states';
import type { PcmStream } from './stream';
import { chmapInfo, jackInfo, pcmInfo } from './topology';

/** The most bytes an info request may ask for each item (the structures are 24 and 32 bytes). */
export const MAX_INFO_SIZE = 1024;

export interface ControlTarget {
  readonly topology: Topology;
  readonly streams: readonly PcmStream[];
  /** Why the stream's backend cannot take `p` (a WAV file that holds another format), or undefined. */
  refuses(stream: PcmStream, p: PcmParams): string | undefined;
  /** A lifecycle command the stream's state allows, before the stream takes its new state. */
  command(stream: PcmStream, command: PcmCommand): void;
}

export interface ControlAnswer {
  /** The bytes written at the start of the chain's writable part. */
  reply: Buffer;
  status: Status;
  /** A lifecycle command its stream's state did not allow. */
  outOfOrder: boolean;
  /** Why a backend refused SET_PARAMS, for the device's counters and log. */
  refusal?: string;
}

const statusOnly = (status: Status, outOfOrder = false): ControlAnswer => {
  const reply = Buffer.alloc(HDR_BYTES);
  reply.writeUInt32LE(status, 0);
  return { reply, status, outOfOrder };
};

/** The request's first `bytes`, which its code says it has; a chain that holds fewer is broken. */
function readRequest(chain: DescriptorChain, bytes: number, code?: number): Buffer {
  const b = gather(chain.readable, bytes);
  if (b === undefined) {
    const what = code === undefined ? 'a snd control request' : `snd control request 0x${code.toString(16)}`;
    throw new QueueError('E_LEN', `${what} needs ${bytes} device-readable bytes, the chain has ` +
      `${chain.readableBytes}`, chain.head);
  }
  return b;
}

export function runControl(target: ControlTarget, chain: DescriptorChain): ControlAnswer {
  if (chain.writableBytes < HDR_BYTES) {
    throw new QueueError('E_LEN', `a snd control request is answered at least ${HDR_BYTES} bytes, the chain has ` +
      `room for ${chain.writableBytes}`, chain.head);
  }
  const code = readRequest(chain, HDR_BYTES).readUInt32LE(0);
  const { jacks, streams, chmaps } = target.topology;
  switch (code) {
    case REQ.JACK_INFO: return info(chain, code, jacks, JACK_INFO_BYTES, jackInfo);
    case REQ.PCM_INFO:
      return info(chain, code, streams, PCM_INFO_BYTES, (id) => pcmInfo(target.streams[id]!.caps, target.streams[id]!.direction));
    case REQ.CHMAP_INFO: return info(chain, code, chmaps, CHMAP_INFO_BYTES, chmapInfo);
    case REQ.JACK_REMAP: {
      const id = readRequest(chain, JACK_REMAP_BYTES, code).readUInt32LE(ITEM_ID);
      return statusOnly(id < jacks ? STATUS.NOT_SUPP : STATUS.BAD_MSG);
    }
    default: {
      const command = COMMAND_OF.get(code);
      return command === undefined ? statusOnly(STATUS.NOT_SUPP) : pcmCommand(target, chain, code, command);
    }
  }
}

/** An info request: `count` items from `start_id`, each in `size` bytes (its structure, zero-padded). */
function info(chain: DescriptorChain, code: number, total: number, itemBytes: number,
  item: (id: number) => Buffer): ControlAnswer {
  const req = readRequest(chain, QUERY_INFO_BYTES, code);
  const start = req.readUInt32LE(QUERY.START_ID);
  const count = req.readUInt32LE(QUERY.COUNT);
  const size = req.readUInt32LE(QUERY.SIZE);
  if (start > total || count > total - start || size < itemBytes || size > MAX_INFO_SIZE) {
    return statusOnly(STATUS.BAD_MSG);
  }
  if (chain.writableBytes < HDR_BYTES + count * size) return statusOnly(STATUS.BAD_MSG);
  const reply = Buffer.alloc(HDR_BYTES + count * size);
  reply.writeUInt32LE(STATUS.OK, 0);
  for (let i = 0; i < count; i++) item(start + i).copy(reply, HDR_BYTES + i * size);
  return { reply, status: STATUS.OK, outOfOrder: false };
}

function pcmCommand(target: ControlTarget, chain: DescriptorChain, code: number, command: PcmCommand): ControlAnswer {
  const req = readRequest(chain, command === 'SET_PARAMS' ? SET_PARAMS_BYTES : ITEM_HDR_BYTES, code);
  const stream = target.streams[req.readUInt32LE(ITEM_ID)];
  if (stream === undefined) return statusOnly(STATUS.BAD_MSG);
  const next = transition(stream.state, command);
  if (next === undefined) return statusOnly(STATUS.BAD_MSG, true);
  let params = stream.params;
  if (command === 'SET_PARAMS') {
    const checked = checkParams(stream.caps, {
      bufferBytes: req.readUInt32LE(SET_PARAMS.BUFFER_BYTES), periodBytes: req.readUInt32LE(SET_PARAMS.PERIOD_BYTES),
      features: req.readUInt32LE(SET_PARAMS.FEATURES), channels: req[SET_PARAMS.CHANNELS]!,
      format: req[SET_PARAMS.FORMAT]!, rate: req[SET_PARAMS.RATE]!,
    });
    if (typeof checked === 'string') return statusOnly(STATUS[checked]);
    const refusal = target.refuses(stream, checked);
    if (refusal !== undefined) return { ...statusOnly(STATUS.NOT_SUPP), refusal };
    params = checked;
  }
  target.command(stream, command);
  stream.params = params;
  stream.state = next;
  return statusOnly(STATUS.OK);
}
