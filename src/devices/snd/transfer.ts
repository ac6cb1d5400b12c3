// A PCM transfer as a chain carries it (virtio 1.2, 5.14.6.8): virtio_snd_pcm_xfer (the stream ID) readable, the
// frames (readable for playback, writable for capture), and virtio_snd_pcm_status as the last 8 writable bytes.
// A chain too short for the header or the status cannot be answered and is broken (QueueError); one whose frames
// do not fit its stream is answered BAD_MSG at once.
import { QueueError, type DescriptorChain } from '../../virtio-mmio/queue';
import { gather, scatter, sliceSegments } from '../../virtio-mmio/segments';
import { frameBytes } from './formats';
import { DIRECTION, PCM_STATUS_BYTES, STATUS, XFER_BYTES, type Direction, type Status } from './protocol';
import { takesTransfers } from './states';
import type { PcmStream, Transfer } from './stream';

/** The stream ID a transfer names, after the checks that make the chain answerable. */
export function transferStreamId(chain: DescriptorChain): number {
  const hdr = gather(chain.readable, XFER_BYTES);
  if (hdr === undefined || chain.writableBytes < PCM_STATUS_BYTES) {
    throw new QueueError('E_LEN', `a snd transfer needs ${XFER_BYTES} device-readable bytes and a ` +
      `${PCM_STATUS_BYTES}-byte status, the chain has ${chain.readableBytes} and ${chain.writableBytes}`, chain.head);
  }
  return hdr.readUInt32LE(0);
}

/**
 * The transfer a chain on the `direction` queue asks of `stream` (undefined: no such stream), or BAD_MSG: a
 * stream of the other direction or one that takes no transfers now, frames that are not whole or more than the
 * stream's buffer, a playback chain with writable bytes besides its status, a capture chain with readable ones
 * besides its header.
 */
export function checkTransfer(chain: DescriptorChain, direction: Direction, stream: PcmStream | undefined):
  Transfer | typeof STATUS.BAD_MSG {
  if (stream?.direction !== direction || !takesTransfers(stream.state)) return STATUS.BAD_MSG;
  const params = stream.params!;
  let frames: Uint8Array[];
  let bytes: number;
  if (direction === DIRECTION.OUTPUT) {
    if (chain.writableBytes !== PCM_STATUS_BYTES) return STATUS.BAD_MSG;
    bytes = chain.readableBytes - XFER_BYTES;
    frames = sliceSegments(chain.readable, XFER_BYTES, bytes);
  } else {
    if (chain.readableBytes !== XFER_BYTES) return STATUS.BAD_MSG;
    bytes = chain.writableBytes - PCM_STATUS_BYTES;
    frames = sliceSegments(chain.writable, 0, bytes);
  }
  if (bytes % frameBytes(params) !== 0 || bytes > params.bufferBytes) return STATUS.BAD_MSG;
  return { chain, frames, bytes };
}

/**
 * Writes virtio_snd_pcm_status at the end of the chain's writable bytes; the used length: the status alone for
 * playback, the frames and the status for capture when they were filled, and 0 when the status is not at the
 * start of what was written.
 */
export function writeStatus(chain: DescriptorChain, status: Status, latencyBytes: number, framesFilled: boolean): number {
  const b = Buffer.alloc(PCM_STATUS_BYTES);
  b.writeUInt32LE(status, 0);
  b.writeUInt32LE(latencyBytes >>> 0, 4);
  const at = chain.writableBytes - PCM_STATUS_BYTES;
  scatter(chain.writable, at, b);
  if (framesFilled || at === 0) return chain.writableBytes;
  return 0;
}
