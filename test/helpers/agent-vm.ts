// A stand-in for a running Vm whose guest agent is the real agent (guest/agent/, compiled with gcc) run on this
// host on a unix socket: what the sandbox routes, VmClient and `tsvmm exec` need of a machine, without KVM. The
// Vm's own VmAgent does the work, reached 'direct' instead of through a vsock device.
import * as fs from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import { VmClient } from '../../src/api/client';
import { ApiController } from '../../src/api/controller';
import { VmError } from '../../src/api/errors';
import { ApiServer, type SocketLimits } from '../../src/api/server';
import type { Vm, VmState } from '../../src/api/vm';
import { VmAgent } from '../../src/api/vm-agent';
import { validateConfig } from '../../src/vmm/config';
import { startAgent, type RealAgent } from '../sandbox/real-agent';

export interface AgentVm {
  agent: RealAgent;
  vm: Vm;
  /** Makes the stand-in's state what a real machine's would be (exec needs 'running'). */
  setState(state: VmState): void;
  /** Ends the stand-in, as a machine's end would: its agent client is closed. */
  end(how: string): void;
}

/** A Vm stand-in; with `agent: false` it has no vsock device (no agent to reach). */
export async function startAgentVm(opts: { agent?: boolean } = {}): Promise<AgentVm> {
  const agent = await startAgent();
  const kernel = path.join(agent.dir, 'vmlinux');
  fs.writeFileSync(kernel, 'never booted');
  const config = validateConfig({ kernel });
  let state: VmState = 'running';
  let ended: (how: string) => void = () => {};
  const vmAgent = new VmAgent({
    endpoint: opts.agent === false ? undefined : { socketPath: agent.socket, port: 'direct' },
    check: (operation) => {
      if (state !== 'running') throw new VmError('ERR_VM_STATE', `cannot ${operation}: the machine is ${state}`);
    },
    ended: new Promise((resolve) => { ended = resolve; }),
    client: { connectTimeoutMs: 10_000, requestTimeoutMs: 20_000 },
  });
  const stand = {
    config,
    get state() { return state; },
    files: vmAgent.files,
    exec: vmAgent.exec.bind(vmAgent),
    spawn: vmAgent.spawn.bind(vmAgent),
    waitForAgent: vmAgent.waitReady.bind(vmAgent),
  };
  return {
    agent, vm: stand as unknown as Vm,
    setState: (s) => { state = s; },
    end: (how) => { state = 'exited'; ended(how); },
  };
}

export interface ServedAgentVm extends AgentVm {
  server: ApiServer;
  client: VmClient;
  socket: string;
  stop(): Promise<void>;
}

/** The stand-in served on a control socket in the agent's folder. */
export async function serveAgentVm(opts: { agent?: boolean; limits?: Partial<SocketLimits> } = {}): Promise<ServedAgentVm> {
  const a = await startAgentVm(opts);
  const socket = path.join(a.agent.dir, 'api.sock');
  const logger = pino({ level: 'silent' });
  const server = await ApiServer.listen(socket, new ApiController({ logger, baseDir: a.agent.dir, vm: a.vm }),
    { logger, ...(opts.limits ? { limits: opts.limits } : {}) });
  return {
    ...a, server, socket, client: new VmClient(socket),
    stop: async () => {
      a.end('stopped');
      await server.close();
      await a.agent.stop();
    },
  };
}
