// A Vm's agent without a machine: where it is reached (the vsock device's socket, the port the agent takes from
// the kernel command line), what a machine without one says, and the Vm stand-in's agent across the machine's end.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { VmError } from '../../src/api/errors';
import { createSandbox, sandboxConfig } from '../../src/api/sandbox';
import { agentEndpoint, agentPortOf, VmAgent } from '../../src/api/vm-agent';
import { AgentError } from '../../src/sandbox';
import { ConfigError, validateConfig } from '../../src/vmm/config';
import { HostError } from '../../src/vmm/preflight';
import { startAgentVm } from '../helpers/agent-vm';
import { kvmUnavailable } from '../helpers/kvm';
import { agentUnbuildable } from '../sandbox/real-agent';

test('the agent\'s port comes from the first valid tsvmm.agent_port= word, as the agent reads it', () => {
  assert.equal(agentPortOf('console=ttyS0'), 1024);
  assert.equal(agentPortOf('console=ttyS0 tsvmm.agent_port=2049 tsvmm.agent_port=7'), 2049);
  assert.equal(agentPortOf('tsvmm.agent_port=0 tsvmm.agent_port=x tsvmm.agent_port=9'), 9);
  assert.equal(agentPortOf('xtsvmm.agent_port=5'), 1024);
});

test('the endpoint is the vsock device\'s socket; a machine without one has none, and says what to add', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-vm-agent-'));
  try {
    const kernel = path.join(dir, 'vmlinux');
    fs.writeFileSync(kernel, 'k');
    const socket = path.join(dir, 'v.sock');
    const withVsock = validateConfig({ kernel, cmdline: 'tsvmm.agent_port=77', devices: [{ type: 'rng' }, { type: 'vsock', cid: 3, socket }] });
    assert.deepEqual(agentEndpoint(withVsock), { socketPath: socket, port: 77 });
    assert.equal(agentEndpoint(validateConfig({ kernel })), undefined);
    const agent = new VmAgent({ endpoint: undefined, check: () => {}, ended: new Promise(() => {}) });
    assert.throws(() => agent.spawn('true'), (e: unknown) => e instanceof VmError && e.code === 'ERR_VM_NO_AGENT'
      && /cannot spawn a process: the machine has no vsock device/.test(e.message));
    await assert.rejects(agent.exec('true'), { code: 'ERR_VM_NO_AGENT' });
    await assert.rejects(agent.files.read('/etc/hosts'), { code: 'ERR_VM_NO_AGENT' });
    await assert.rejects(agent.waitReady(), { code: 'ERR_VM_NO_AGENT' });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a Vm\'s agent: exec and files while running; its end fails what is in flight and refuses what comes after',
  { skip: agentUnbuildable(), timeout: 60_000 }, async () => {
    const a = await startAgentVm();
    try {
      assert.equal((await a.vm.exec('echo up')).stdout, 'up\n');
      assert.equal((await a.vm.waitForAgent({ timeoutMs: 5000 })).version, 1);
      const file = path.join(a.agent.dir, 'f.txt');
      await a.vm.files.write(file, 'data');
      assert.equal((await a.vm.files.read(file)).toString(), 'data');
      const running = a.vm.exec('sleep 30');
      a.end('poweroff: the guest powered off');
      await assert.rejects(running, (e: unknown) => e instanceof AgentError && e.code === 'AGENT_GONE');
      await assert.rejects(a.vm.exec('true'), { code: 'ERR_VM_STATE' });
    } finally {
      await a.agent.stop();
    }
  });

test('waitReady gives up as soon as the machine ends, saying how it ended', async () => {
  let end: (how: string) => void = () => {};
  const agent = new VmAgent({
    endpoint: { socketPath: path.join(os.tmpdir(), 'tsvmm-no-such-agent.sock'), port: 'direct' }, check: () => {},
    ended: new Promise((resolve) => { end = resolve; }),
  });
  const waiting = agent.waitReady({ timeoutMs: 60_000, intervalMs: 20 });
  setTimeout(() => end('panic: Kernel panic - not syncing'), 50);
  await assert.rejects(waiting, (e: unknown) => e instanceof VmError && e.code === 'ERR_VM_STATE'
    && /the machine ended \(panic: Kernel panic - not syncing\) before its agent answered/.test(e.message));
});

test('createSandbox: the machine it boots, and what it refuses before building anything', async () => {
  const c = sandboxConfig({ memory: '512M', net: { tap: 'tap9' }, append: 'quiet=1' }, '/i.cpio', '/d/agent.sock');
  assert.deepEqual(c.devices, [{ type: 'vsock', cid: 3, socket: '/d/agent.sock' }, { type: 'net', tap: 'tap9' }]);
  assert.deepEqual([c.kernel, c.initrd, c.memory, c.vcpus], ['@guest/vmlinux', '/i.cpio', '512M', 1]);
  assert.match(c.cmdline ?? '', /^console=ttyS0 .* quiet=1$/);
  assert.deepEqual(sandboxConfig({}, '/i', '/s').devices, [{ type: 'vsock', cid: 3, socket: '/s' }], 'no network');
  await assert.rejects(createSandbox({ memory: 'lots' }), (e: unknown) => e instanceof ConfigError && e.field === 'memory');
  await assert.rejects(createSandbox({ vcpus: 0 }), (e: unknown) => e instanceof ConfigError && e.field === 'vcpus');
  await assert.rejects(createSandbox({ image: '/no/such.cpio' }), (e: unknown) => e instanceof ConfigError && e.field === 'image');
  await assert.rejects(createSandbox({ memroy: 1 } as never), { code: 'ERR_INVALID_ARG_VALUE' });
  await assert.rejects(createSandbox({ execTimeoutMs: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(createSandbox({ diskSize: 'roomy' }), { code: 'ERR_OUT_OF_RANGE', message: /"diskSize"/ });
  await assert.rejects(createSandbox({ diskSize: '512K' }), { code: 'ERR_OUT_OF_RANGE', message: /at least 1M/ });
  await assert.rejects(createSandbox({ diskSize: true } as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.match(sandboxConfig({ diskSize: 64 }, '/i', '/s').cmdline ?? '', / tsvmm\.tmp_size=67108864(\s|$)/, 'a bare number is MiB');
  assert.match(sandboxConfig({ diskSize: '1G', append: 'x=1' }, '/i', '/s').cmdline ?? '', /tsvmm\.tmp_size=1073741824 x=1$/);
  assert.doesNotMatch(sandboxConfig({}, '/i', '/s').cmdline ?? '', /tmp_size/, 'no limit unless asked');
  if (kvmUnavailable() !== undefined) {
    await assert.rejects(createSandbox(), (e: unknown) => e instanceof HostError && /\/dev\/kvm/.test(e.message));
  }
});
