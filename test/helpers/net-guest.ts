// Runs inside a network namespace (`ip netns exec NS node net-guest.js SPEC`) for test/integration/linux-net:
// boots Linux with a virtio-net device on the namespace's tap, collects the kernel log that netconsole sends as
// UDP, then, once the guest is up, sends a UDP datagram to a closed port of the guest and waits for the guest
// kernel's ICMP port-unreachable (which needs ARP both ways first). Writes what it saw as JSON to SPEC.result.
import { execFileSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import { validateConfig } from '../../src/vmm/config';
import { Machine } from '../../src/vmm/machine';

export interface NetGuestSpec {
  kernel: string;
  initrd: string;
  tap: string;
  mac: string;
  hostIp: string;
  guestIp: string;
  netconsolePort: number;
  /** Where the JSON result and the serial console log go. */
  result: string;
  serialLog: string;
  timeoutMs: number;
}

export interface NetGuestResult {
  netconsole: string[];
  /** The guest kernel answered the probe with ICMP port unreachable (ECONNREFUSED here). */
  refused: boolean;
  probes: number;
  /** `ip neigh show GUEST` while the tap is still up (the host flushes it when the VMM closes the tap). */
  neighbour: string;
  counters: Record<string, number>;
  exit: string;
  ranMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One datagram to the guest's discard port from a connected socket; true when the ICMP error comes back. */
function probe(spec: NetGuestSpec): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const done = (refused: boolean): void => { clearTimeout(timer); s.close(); resolve(refused); };
    const timer = setTimeout(() => done(false), 3000);
    s.on('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED'));
    s.connect(9, spec.guestIp, () => s.send(Buffer.from('tsvmm probe'), (e) => { if (e) done((e as NodeJS.ErrnoException).code === 'ECONNREFUSED'); }));
  });
}

async function main(spec: NetGuestSpec): Promise<NetGuestResult> {
  const started = Date.now();
  const netconsole: string[] = [];
  const listener = dgram.createSocket('udp4');
  listener.on('message', (m) => netconsole.push(m.toString('latin1')));
  await new Promise<void>((r) => listener.bind(spec.netconsolePort, spec.hostIp, r));
  const config = validateConfig({
    kernel: spec.kernel, initrd: spec.initrd, memory: '128M', serial: { mode: 'none' },
    cmdline: `console=ttyS0 reboot=k panic=-1 ip=${spec.guestIp}::${spec.hostIp}:255.255.255.0::eth0:off `
      + `netconsole=6665@${spec.guestIp}/eth0,${spec.netconsolePort}@${spec.hostIp}/`,
    devices: [{ type: 'net', tap: spec.tap, mac: spec.mac }],
  });
  let serial = '';
  const m = Machine.create(config, {
    consoleOutput: (c) => { serial += c.toString('latin1'); fs.appendFileSync(spec.serialLog, c); },
  });
  let ended = false as boolean; // set by the callback below, which narrowing cannot see
  void m.wait().then(() => { ended = true; });
  m.start();
  const deadline = started + spec.timeoutMs;
  while (!ended && !serial.includes('Run /init') && Date.now() < deadline) await sleep(200);
  let refused = false;
  let probes = 0;
  // Each probe waits up to 3 s for the answer; only the overall deadline bounds how many it takes under emulation.
  while (!ended && !refused && Date.now() < deadline) {
    probes++;
    refused = await probe(spec);
  }
  // The kernel's lines reach the host as datagrams that may still be in flight: wait for the one the test looks for.
  while (!ended && !netconsole.join('').includes('Run /init as init process') && Date.now() < deadline) await sleep(50);
  const neighbour = execFileSync('ip', ['neigh', 'show', spec.guestIp], { encoding: 'utf8' }).trim();
  const exit = await m.stop('test finished');
  listener.close();
  return { netconsole, refused, probes, neighbour, counters: m.deviceCounters()[0] ?? {}, exit: `${exit.reason}: ${exit.detail}`,
    ranMs: Date.now() - started };
}

if (require.main === module) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as NetGuestSpec;
  main(spec).then(
    (r) => fs.writeFileSync(spec.result, JSON.stringify(r)),
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
