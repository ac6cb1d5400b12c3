import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allValues, lastValue } from '../../src/cli/overrides';

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
