// The package root's values are the Vm API and its helpers; the machine underneath (Machine and its errors) stays
// internal, so a program meets one way to run a VM and one error type for what a VM cannot do.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as root from '../src/index';

test('the package root exports the Vm API and nothing of the machine underneath', () => {
  assert.deepEqual(Object.keys(root).sort(), [
    'AgentClient', 'AgentError', 'AgentProcess', 'ApiClientError', 'ApiController', 'ApiServer', 'ConfigError',
    'DEFAULT_AGENT_PORT', 'DEFAULT_STOP_TIMEOUT_MS', 'HostError', 'MachineConfigSchema', 'NativeAddonError',
    'PROTOCOL_VERSION', 'Sandbox', 'SandboxPool', 'Vm', 'VmClient', 'VmConsole', 'VmError', 'buildAgent', 'buildGuest',
    'buildSandboxInitramfs', 'checkConfigInput', 'createLogger', 'createPool', 'createSandbox', 'createVm', 'guestArtifactPath',
    'parseConfigFile', 'reserveVcpuThreads', 'resolveGuestArtifact', 'restoreSandbox', 'restoreVm', 'serveVm', 'toConfigInput', 'validateConfig',
  ]);
});
