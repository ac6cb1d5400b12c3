import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allValues, applyOverrides, lastValue } from '../../src/cli/overrides';
import { ConfigError } from '../../src/vmm/config-check';

test('option values: a repeated option keeps its last value; numbers become text', () => {
  assert.equal(lastValue(['1', 2]), '2');
  assert.equal(lastValue(undefined), undefined);
  assert.deepEqual(allValues(['a', 3]), ['a', '3']);
  assert.deepEqual(allValues(null), []);
});

test('option values: a dotted option (an object from yargs) is shown as JSON, not [object Object]', () => {
  assert.equal(lastValue({ size: 1 }), '{"size":1}');
  assert.deepEqual(allValues([{ a: 'b' }]), ['{"a":"b"}']);
});

test('--display: none, web and web:PORT become the config\'s display; anything else names the option', () => {
  const raw = { kernel: 'k' };
  assert.deepEqual(applyOverrides(raw, { display: 'web' }, '/'), { kernel: 'k', display: { mode: 'web' } });
  assert.deepEqual(applyOverrides(raw, { display: 'web:8080' }, '/'), { kernel: 'k', display: { mode: 'web', port: 8080 } });
  assert.deepEqual(applyOverrides(raw, { display: 'none' }, '/'), { kernel: 'k', display: { mode: 'none' } });
  for (const bad of ['vnc', 'web:', 'web:65536', 'web:-1', 'web:80x']) {
    assert.throws(() => applyOverrides(raw, { display: bad }, '/'),
      (e: unknown) => e instanceof ConfigError && e.field === '--display', bad);
  }
});
