// `tsvmm run` options that override the config file. They are merged into the parsed YAML before validation, so
// a value given on the command line is checked exactly as the same value in the file would be. Paths given on the
// command line start at the current directory (not the config's folder) and are checked here, where the error can
// name the option.
import { checkBootFile, DEFAULT_CMDLINE } from '../vmm/config';
import { checkPath, checkSocketPath, ConfigError, isMapping, show, type Raw } from '../vmm/config-check';

export interface RunOverrides {
  vcpus?: string;
  memory?: string;
  kernel?: string;
  initrd?: string;
  /** Replaces the config's cmdline. */
  cmdline?: string;
  /** Appended to the cmdline (after --cmdline, when both are given), separated by a space. */
  append?: string[];
  logLevel?: string;
  /** stdio | none | file:PATH */
  serial?: string;
  apiSock?: string;
  /** end | wait */
  onHalt?: string;
  /** none | web | web:PORT */
  display?: string;
}

/** A repeated option arrives as a list; a scalar option keeps its last value, as most CLIs do. */
export function lastValue(value: unknown): string | undefined {
  if (Array.isArray(value)) return lastValue(value[value.length - 1]);
  if (value === undefined || value === null) return undefined;
  return text(value);
}

export function allValues(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]).map(text);
}

/** yargs makes `--memory.size 1` an object: shown as JSON, so that the error says what was given. */
function text(value: unknown): string {
  if (typeof value === 'object') return JSON.stringify(value);
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- objects returned above
  return String(value);
}

function parseSerial(value: string, cwd: string): Raw {
  if (value === 'stdio' || value === 'none') return { mode: value };
  if (value.startsWith('file:')) return { mode: 'file', path: checkPath('--serial', value.slice(5), cwd, 'new-file') };
  throw new ConfigError('--serial', `${show(value)} is not one of stdio, none, file:PATH`);
}

function parseDisplay(value: string): Raw {
  if (value === 'none' || value === 'web') return { mode: value };
  const port = /^web:([0-9]{1,5})$/.exec(value)?.[1];
  if (port !== undefined && Number(port) <= 65535) return { mode: 'web', port: Number(port) };
  throw new ConfigError('--display', `${show(value)} is not one of none, web, web:PORT (PORT 0..65535)`);
}

/** Returns a copy of the raw config with the overrides applied (the input is not modified). */
export function applyOverrides(raw: unknown, o: RunOverrides, cwd: string): unknown {
  if (!isMapping(raw)) return raw; // validateConfig reports it
  const out: Raw = { ...raw };
  // Digits become a number so that `--vcpus 2` means what `vcpus: 2` means; anything else fails validation.
  if (o.vcpus !== undefined) out.vcpus = /^[0-9]+$/.test(o.vcpus) ? Number(o.vcpus) : o.vcpus;
  if (o.memory !== undefined) out.memory = o.memory;
  if (o.kernel !== undefined) out.kernel = checkBootFile('--kernel', o.kernel, cwd);
  if (o.initrd !== undefined) out.initrd = checkBootFile('--initrd', o.initrd, cwd);
  if (o.cmdline !== undefined) out.cmdline = o.cmdline;
  if (o.append !== undefined && o.append.length > 0) {
    const base = out.cmdline === undefined ? DEFAULT_CMDLINE : out.cmdline;
    if (typeof base !== 'string') throw new ConfigError('cmdline', `${show(base)} is not a string`);
    out.cmdline = [base.trim(), ...o.append.map((a) => a.trim())].filter(Boolean).join(' ');
  }
  if (o.logLevel !== undefined) out.log = { ...(isMapping(out.log) ? out.log : {}), level: o.logLevel };
  if (o.serial !== undefined) out.serial = parseSerial(o.serial, cwd);
  if (o.apiSock !== undefined) out.apiSocket = checkSocketPath('--api-sock', o.apiSock, cwd);
  if (o.onHalt !== undefined) out.onHalt = o.onHalt;
  if (o.display !== undefined) out.display = parseDisplay(o.display);
  return out;
}
