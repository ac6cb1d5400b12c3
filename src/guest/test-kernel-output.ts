// What the test kernel prints on its serial console, for tests and benchmarks to read:
//   TSVMM-TEST: PASS <test>            TSVMM-TEST: FAIL <test>: <reason>
//   TSVMM-DATA: <test> key=value key=value ...
// Anything else (progress lines, the monitor's own output) is ignored.

export interface TestKernelVerdict {
  test: string;
  passed: boolean;
  /** Why it failed; absent for a pass. */
  reason?: string;
}

export interface TestKernelData {
  test: string;
  fields: Record<string, string>;
}

export interface TestKernelOutput {
  /** The first verdict line, if the guest got that far. */
  verdict?: TestKernelVerdict;
  data: TestKernelData[];
}

const VERDICT = /^TSVMM-TEST: (PASS|FAIL) ([^:\s]+)(?:: (.*))?$/;
const DATA = /^TSVMM-DATA: (\S+)(.*)$/;

export function parseTestKernelOutput(text: string): TestKernelOutput {
  const out: TestKernelOutput = { data: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const v = VERDICT.exec(line);
    if (v && out.verdict === undefined) {
      out.verdict = v[1] === 'PASS' ? { test: v[2]!, passed: true } : { test: v[2]!, passed: false, reason: v[3] ?? '' };
      continue;
    }
    const d = DATA.exec(line);
    if (d) out.data.push({ test: d[1]!, fields: parseFields(d[2]!) });
  }
  return out;
}

/** `key=value` words, separated by white space; other words are skipped. */
export function parseFields(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const word of text.trim().split(/\s+/)) {
    const eq = word.indexOf('=');
    if (eq > 0) fields[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return fields;
}

/** The data lines that have every one of `keys`. */
export function dataWith(output: TestKernelOutput, ...keys: string[]): Record<string, string>[] {
  return output.data.map((d) => d.fields).filter((f) => keys.every((k) => k in f));
}

/** A field as a number; throws naming the field when it is missing, empty or not a number. */
export function numberField(fields: Record<string, string>, key: string): number {
  const text = fields[key];
  // Number('') is 0: an empty value is as missing as an absent one.
  const n = text === undefined || text === '' ? NaN : Number(text);
  if (!Number.isFinite(n)) {
    throw new Error(`test kernel data: ${key}=${text === undefined ? '(missing)' : text || '(empty)'} is not a number`);
  }
  return n;
}
