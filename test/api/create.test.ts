// Arguments createVm refuses before it touches KVM: TypeError / RangeError naming the argument, ConfigError naming
// the field.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createVm } from '../../src/api/create';
import { checkInteger, checkOptions } from '../../src/api/errors';

test('createVm: a config that is not an object, unknown options, bad fields', async () => {
  await assert.rejects(createVm(42 as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /"config" argument must be an object.*got number 42/ });
  await assert.rejects(createVm(null as never), { name: 'TypeError', message: /got null/ });
  await assert.rejects(createVm({ kernel: __filename }, { logLevel: 'x' } as never),
    { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: /unknown option "logLevel" \(known: logger, baseDir\)/ });
  await assert.rejects(createVm({ kernel: __filename }, { baseDir: 7 } as never), { name: 'TypeError', message: /"baseDir"/ });
  await assert.rejects(createVm({ kernel: __filename, vcpus: 300 }), { name: 'ConfigError', field: 'vcpus' });
  await assert.rejects(createVm({ kernel: 'no-such-kernel' }), { name: 'ConfigError', field: 'kernel' });
});

test('argument checks name the argument and say what was expected', () => {
  assert.throws(() => checkInteger('timeoutMs', -1, 0, 10), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE',
    message: 'The value of "timeoutMs" is out of range: it must be an integer >= 0 and <= 10, got -1' });
  assert.throws(() => checkInteger('timeoutMs', 1.5, 0, 10), RangeError);
  assert.throws(() => checkInteger('timeoutMs', '5', 0, 10), { name: 'TypeError', message: /got the string "5"/ });
  assert.throws(() => checkOptions('options', [], []), { name: 'TypeError', message: /got an array/ });
  assert.deepEqual(checkOptions('options', undefined, ['a']), {});
});
