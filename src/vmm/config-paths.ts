// Paths of one machine config that must not be the same file: the serial log written over a disk image, or a
// control socket where a guest's vsock connections land, would hand the guest (or its console output) something
// that the config never meant to give it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from './config-check';
import type { DeviceConfig } from './config-devices';

type Role = 'disk' | 'log' | 'socket' | 'recording';

interface Named {
  field: string;
  path: string;
  role: Role;
}

/** One key per file: its inode when it exists, else its path with the folder's symlinks resolved. */
function identity(p: string): string {
  try {
    const st = fs.statSync(p);
    return `inode:${st.dev}:${st.ino}`;
  } catch {
    return `path:${realFolder(p)}`;
  }
}

function realFolder(p: string): string {
  try {
    return path.join(fs.realpathSync(path.dirname(p)), path.basename(p));
  } catch {
    return p;
  }
}

const ROLE_NAMES: Record<Role, string> = {
  disk: 'a disk image', log: 'a console log', socket: 'a socket', recording: 'a sound recording',
};

/** Disks first, so that an error names the log or socket that would land on one. */
function named(serialPath: string | undefined, devices: DeviceConfig[], apiSocket?: string): Named[] {
  const out: Named[] = [];
  devices.forEach((d, i) => {
    if (d.type === 'blk') out.push({ field: `devices[${i}].path`, path: d.path, role: 'disk' });
    if (d.type === 'scsi') {
      d.disks.forEach((disk, j) => out.push({ field: `devices[${i}].disks[${j}].path`, path: disk.path, role: 'disk' }));
    }
  });
  if (serialPath !== undefined) out.push({ field: 'serial.path', path: serialPath, role: 'log' });
  devices.forEach((d, i) => {
    const at = `devices[${i}]`;
    if (d.type === 'console' && d.path !== undefined) {
      out.push({ field: `${at}.path`, path: d.path, role: d.backend === 'file' ? 'log' : 'socket' });
    }
    if (d.type === 'vsock') out.push({ field: `${at}.socket`, path: d.socket, role: 'socket' });
    if (d.type === 'snd' && d.playback.backend === 'wav') {
      out.push({ field: `${at}.playback.path`, path: d.playback.path, role: 'recording' });
    }
  });
  if (apiSocket !== undefined) out.push({ field: 'apiSocket', path: apiSocket, role: 'socket' });
  return out;
}

/**
 * Refuses two uses of one file, except two console logs (serial and virtio console output may share a log) and
 * two disks or two recordings (config-devices.ts says those in its own words).
 */
export function checkPathClashes(serialPath: string | undefined, devices: DeviceConfig[], apiSocket?: string): void {
  const seen = new Map<string, Named>();
  for (const n of named(serialPath, devices, apiSocket)) {
    const key = identity(n.path);
    const first = seen.get(key);
    if (first && !(first.role === n.role && n.role !== 'socket')) {
      throw new ConfigError(n.field, `${n.path} is also ${first.field} (${ROLE_NAMES[first.role]})`);
    }
    if (!first) seen.set(key, n);
  }
  if (apiSocket !== undefined) checkVsockPorts('apiSocket', apiSocket, devices);
}

/**
 * A guest connection to vsock port P goes to `<socket>_P`: a control socket there would take the guest's
 * connection and let it drive its own machine.
 */
export function checkVsockPorts(field: string, apiSocket: string, devices: DeviceConfig[]): void {
  const api = realFolder(apiSocket);
  devices.forEach((d, i) => {
    if (d.type !== 'vsock') return;
    const prefix = `${realFolder(d.socket)}_`;
    if (api === realFolder(d.socket)) {
      throw new ConfigError(field, `${apiSocket} is also devices[${i}].socket (the vsock device's socket)`);
    }
    if (api.startsWith(prefix) && /^[0-9]+$/.test(api.slice(prefix.length))) {
      throw new ConfigError(field, `${apiSocket} is where guest connections to vsock port ` +
        `${api.slice(prefix.length)} go (devices[${i}].socket + "_${api.slice(prefix.length)}")`);
    }
  });
}
