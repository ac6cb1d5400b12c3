// For a test that gives up: what the machine was doing then (vCPU states and exits, device and console counters),
// read over its control socket in one line, or why that could not be read. Bounded, so a machine whose server no
// longer answers cannot hold the failure's report.
import { VmClient } from '../../src/api/client';

const REPORT_TIMEOUT_MS = 10_000;

export async function countersReport(socketPath: string): Promise<string> {
  try {
    return JSON.stringify(await new VmClient(socketPath, { timeoutMs: REPORT_TIMEOUT_MS }).counters());
  } catch (e) {
    return `unreadable (${(e as Error).message})`;
  }
}
