// A PCM stream's command lifecycle (virtio 1.2, 5.14.6.6.1): which command may follow which. A stream starts
// with no parameters, so SET_PARAMS comes first; data moves only between START and STOP (playback may queue
// periods ahead from PREPARE on), and RELEASE gives back every transfer the stream still holds.
import { REQ } from './protocol';

export type StreamState = 'initial' | 'params' | 'prepared' | 'started' | 'stopped' | 'released';

export type PcmCommand = 'SET_PARAMS' | 'PREPARE' | 'START' | 'STOP' | 'RELEASE';

export const COMMAND_OF: ReadonlyMap<number, PcmCommand> = new Map([
  [REQ.PCM_SET_PARAMS, 'SET_PARAMS'], [REQ.PCM_PREPARE, 'PREPARE'], [REQ.PCM_START, 'START'],
  [REQ.PCM_STOP, 'STOP'], [REQ.PCM_RELEASE, 'RELEASE'],
] as const);

/** The state each command leaves a stream in. */
const AFTER: Record<PcmCommand, StreamState> = {
  SET_PARAMS: 'params', PREPARE: 'prepared', START: 'started', STOP: 'stopped', RELEASE: 'released',
};

/** The commands allowed in each state; any other is BAD_MSG and leaves the state as it was. */
const ALLOWED: Record<StreamState, readonly PcmCommand[]> = {
  initial: ['SET_PARAMS'],
  params: ['SET_PARAMS', 'PREPARE'],
  prepared: ['SET_PARAMS', 'PREPARE', 'START', 'RELEASE'],
  started: ['STOP'],
  stopped: ['START', 'RELEASE'],
  released: ['SET_PARAMS', 'PREPARE'],
};

/** The state `command` moves a stream in `state` to, or undefined when the lifecycle does not allow it there. */
export function transition(state: StreamState, command: PcmCommand): StreamState | undefined {
  return ALLOWED[state].includes(command) ? AFTER[command] : undefined;
}

/** Whether a stream in `state` takes transfers: held from PREPARE on, moved only while started. */
export const takesTransfers = (state: StreamState): boolean =>
  state === 'prepared' || state === 'started' || state === 'stopped';
