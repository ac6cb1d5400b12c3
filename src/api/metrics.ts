// GET /metrics: the counters of GET /counters in the Prometheus text exposition format (version 0.0.4), so a
// Prometheus server (or anything that reads its format) can scrape a machine's control socket. Each family has
// its HELP and TYPE lines before its samples, names are [a-zA-Z_:][a-zA-Z0-9_:]*, counters end in _total, and
// label values are escaped as the format asks (backslash, double quote, newline).
import type { VmCounters } from './vm';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type MetricType = 'counter' | 'gauge';

interface Family {
  help: string;
  type: MetricType;
  samples: string[];
}

/** Device counters that go up and down (a count of things now), not totals. */
const DEVICE_GAUGES = new Set(['inFlight', 'connectionsOpen', 'inodes', 'handles', 'resources', 'hostBytes']);

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** `readBytes` -> `read_bytes`; anything a metric or label name cannot hold becomes `_`. */
export function snakeName(name: string): string {
  const snake = name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return /^[a-z_]/.test(snake) ? snake : `_${snake}`;
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labels(pairs: Record<string, string>): string {
  const text = Object.entries(pairs).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',');
  return text === '' ? '' : `{${text}}`;
}

class Families {
  private readonly byName = new Map<string, Family>();

  add(name: string, type: MetricType, help: string, pairs: Record<string, string>, value: number): void {
    let f = this.byName.get(name);
    if (!f) {
      f = { help, type, samples: [] };
      this.byName.set(name, f);
    }
    f.samples.push(`${name}${labels(pairs)} ${formatValue(value)}`);
  }

  text(): string {
    const out: string[] = [];
    for (const [name, f] of this.byName) {
      out.push(`# HELP ${name} ${escapeHelp(f.help)}`, `# TYPE ${name} ${f.type}`, ...f.samples);
    }
    return out.join('\n') + '\n';
  }
}

/** A device counter's family: `op.lookup` is family tsvmm_device_op_total with label op="lookup". */
function deviceFamily(key: string): { name: string; type: MetricType; extra: Record<string, string> } {
  const dot = key.indexOf('.');
  const base = dot < 0 ? key : key.slice(0, dot);
  const extra = dot < 0 ? {} : { [snakeName(base)]: key.slice(dot + 1) };
  const type: MetricType = DEVICE_GAUGES.has(key) ? 'gauge' : 'counter';
  const stem = `tsvmm_device_${snakeName(base)}`;
  return { name: type === 'counter' && !stem.endsWith('_total') ? `${stem}_total` : stem, type, extra };
}

/** The exposition text: tsvmm_info always, the machine's counters once there is a machine. */
export function metricsText(info: { version: string; state: string }, counters?: VmCounters): string {
  const f = new Families();
  f.add('tsvmm_info', 'gauge', 'The VMM\'s version and the machine\'s state (the value is always 1).',
    { version: info.version, state: info.state }, 1);
  if (!counters) return f.text();
  for (const v of counters.vcpus) {
    for (const [kind, n] of Object.entries(v.exits)) {
      f.add('tsvmm_vcpu_exits_total', 'counter', 'vCPU exits by kind (GET /counters: vcpus[].exits).',
        { vcpu: String(v.index), kind }, n);
    }
  }
  f.add('tsvmm_console_dropped_output_bytes_total', 'counter',
    'Serial console bytes dropped because nobody read them fast enough.', {}, counters.console.droppedOutput);
  f.add('tsvmm_console_input_pending_bytes', 'gauge',
    'Serial console input the guest has not read yet.', {}, counters.console.inputPending);
  for (const d of counters.devices) {
    for (const [key, n] of Object.entries(d.counters)) {
      const { name, type, extra } = deviceFamily(key);
      f.add(name, type, `Device counter ${key.split('.')[0]} (GET /counters: devices[].counters).`,
        { device: String(d.index), type: d.type, ...extra }, n);
    }
  }
  return f.text();
}
