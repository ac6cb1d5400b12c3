// The control queue (virtio 1.2, 5.6.6.2): task management functions and asynchronous notification requests.
// Commands never wait in the device for their turn: the only ones a TMF can find are reads, writes and syncs
// still on the thread pool, which cannot be stopped there. So ABORT TASK, ABORT TASK SET, CLEAR TASK SET,
// LOGICAL UNIT RESET and I_T NEXUS RESET wait for the commands they name that are running when they arrive, and
// answer FUNCTION COMPLETE once those have completed to the guest (the spec wants the commands completed before
// the TMF); the QUERY functions answer FUNCTION SUCCEEDED while such a command runs. The device has no ACA, so
// CLEAR ACA is rejected. It has no events to report either: AN_QUERY and AN_SUBSCRIBE answer event_actual 0.
import { gather } from '../../virtio-mmio/segments';
import { QueueError, type DescriptorChain } from '../../virtio-mmio/queue';
import { AN_REQ_BYTES, AN_RESP_BYTES, CTRL, FUNCTION_COMPLETE, RESP, TMF, TMF_REQ_BYTES } from './constants';
import type { ScsiDisk, Task } from './disk';
import { parseLun } from './lun';

export interface ControlStats {
  tmfs: number;
  anRequests: number;
}

/** The bytes a control request's response is, now or once the commands it waits for have completed. */
export type ControlReply = Buffer | Promise<Buffer>;

/** Answers one control chain; throws QueueError for a request too short for its type, or of no known type. */
export function controlRequest(chain: DescriptorChain, disks: readonly ScsiDisk[], stats: ControlStats): ControlReply {
  const type = gather(chain.readable, 4)?.readUInt32LE(0);
  if (type === CTRL.TMF) {
    const req = fixed(chain, TMF_REQ_BYTES, 1, 'a task management request');
    stats.tmfs++;
    return taskManagement(req, disks);
  }
  if (type === CTRL.AN_QUERY || type === CTRL.AN_SUBSCRIBE) {
    const req = fixed(chain, AN_REQ_BYTES, AN_RESP_BYTES, 'an asynchronous notification request');
    stats.anRequests++;
    const reply = Buffer.alloc(AN_RESP_BYTES); // event_actual 0: no events are reported
    reply[4] = parseLun(req.subarray(4, 12), disks.length).kind === 'bad-target' ? RESP.BAD_TARGET : RESP.OK;
    return reply;
  }
  throw new QueueError('E_LEN', type === undefined ? 'a control request shorter than its type'
    : `control request type ${type} is not one the device knows`, chain.head);
}

/** The readable part of a request of a known size; the writable part must hold its response. */
function fixed(chain: DescriptorChain, readable: number, writable: number, what: string): Buffer {
  const req = gather(chain.readable, readable);
  if (req === undefined || chain.writableBytes < writable) {
    throw new QueueError('E_LEN', `${what} needs ${readable} readable and ${writable} writable bytes`, chain.head);
  }
  return req;
}

function taskManagement(req: Buffer, disks: readonly ScsiDisk[]): ControlReply {
  const subtype = req.readUInt32LE(4);
  const tag = req.readBigUInt64LE(16);
  const addr = parseLun(req.subarray(8, 16), disks.length);
  if (addr.kind === 'bad-target') return answer(RESP.BAD_TARGET);
  const disk = disks[addr.target]!;
  // I_T NEXUS RESET addresses the whole target and ignores the LUN; the others name a logical unit.
  if (subtype === TMF.I_T_NEXUS_RESET) return completeAfter([...disk.tasks]);
  if (!addr.present && subtype <= TMF.QUERY_TASK_SET) return answer(RESP.INCORRECT_LUN);
  const matching = [...disk.tasks].filter((t) => t.tag === tag);
  switch (subtype) {
    case TMF.ABORT_TASK: return completeAfter(matching);
    case TMF.ABORT_TASK_SET:
    case TMF.CLEAR_TASK_SET:
    case TMF.LOGICAL_UNIT_RESET: return completeAfter([...disk.tasks]);
    case TMF.QUERY_TASK: return answer(matching.length > 0 ? RESP.FUNCTION_SUCCEEDED : FUNCTION_COMPLETE);
    case TMF.QUERY_TASK_SET: return answer(disk.tasks.size > 0 ? RESP.FUNCTION_SUCCEEDED : FUNCTION_COMPLETE);
    default: return answer(RESP.FUNCTION_REJECTED); // CLEAR ACA, and functions the spec does not define
  }
}

const answer = (response: number): Buffer => Buffer.from([response]);

/** FUNCTION COMPLETE, once `tasks` (those running now; later ones are not waited for) have completed. */
function completeAfter(tasks: Task[]): ControlReply {
  if (tasks.length === 0) return answer(FUNCTION_COMPLETE);
  return Promise.all(tasks.map((t) => t.done)).then(() => answer(FUNCTION_COMPLETE));
}
