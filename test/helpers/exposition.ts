// A checker for the Prometheus text exposition format (0.0.4), line by line, as a scraper reads it.
import assert from 'node:assert/strict';

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const SAMPLE = new RegExp(`^(${NAME})(\\{(?:${LABEL}(?:,${LABEL})*)?\\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$`);

/** Throws unless `text` follows the exposition format; returns the samples as `name{labels}` -> value. */
export function checkExposition(text: string): Map<string, string> {
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const finished = new Set<string>();
  const samples = new Map<string, string>();
  let current: string | undefined;
  for (const line of text.slice(0, -1).split('\n')) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      assert.match(name, new RegExp(`^${NAME}$`), line);
      if (current !== name && current !== undefined) finished.add(current);
      assert.ok(!finished.has(name), `${name}: its lines are not together`);
      current = name;
      if (kind === 'HELP') {
        assert.ok(!helps.has(name), `${name}: two HELP lines`);
        assert.doesNotMatch(rest, /\\[^\\n]/, `${name}: a bad escape in HELP`);
        helps.add(name);
      } else {
        assert.ok(!types.has(name), `${name}: two TYPE lines`);
        assert.match(rest, /^(counter|gauge|untyped)$/, line);
        types.set(name, rest);
      }
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
    const name = m[1]!;
    assert.equal(name, current, `${name}: a sample outside its family (or before its TYPE)`);
    assert.ok(types.has(name) && helps.has(name), `${name}: HELP and TYPE come first`);
    if (types.get(name) === 'counter') assert.match(name, /_total$/, `${name}: a counter ends in _total`);
    const key = `${name}${m[2] ?? ''}`;
    assert.ok(!samples.has(key), `${key} twice`);
    samples.set(key, m[3]!);
  }
  return samples;
}
