// A native addon that is missing or does not load is one line saying how to rebuild it, with the loader's reason.
import assert from 'node:assert/strict';
import Module from 'node:module';
import { test } from 'node:test';
import { native, NativeAddonError, nativeAddonPath } from '../../src/base/native';

type Load = (request: string, parent: unknown, isMain: boolean) => unknown;
const loader = Module as unknown as { _load: Load };

/** Runs `body` with require() of the addon failing with `error`. */
function withAddonFailing(error: Error, body: () => void): void {
  const original = loader._load;
  loader._load = function (this: unknown, request, parent, isMain) {
    if (request === nativeAddonPath()) throw error;
    return original.call(this, request, parent, isMain);
  };
  try {
    body();
  } finally {
    loader._load = original;
  }
}

test('a missing addon: NativeAddonError naming the file and the rebuild command', () => {
  const missing = Object.assign(new Error(`Cannot find module '${nativeAddonPath()}'\nRequire stack: ...`),
    { code: 'MODULE_NOT_FOUND' });
  withAddonFailing(missing, () => {
    assert.throws(() => native(), (e: unknown) => {
      assert.ok(e instanceof NativeAddonError);
      assert.equal(e.message, `the native addon is not built: ${nativeAddonPath()} is missing; rebuild it with ` +
        '`npx node-gyp rebuild` (or `npm run install`) in the package folder');
      assert.equal(e.cause, missing);
      return true;
    });
  });
});

test('an addon that does not load: the loader\'s first line, and the same advice', () => {
  const bad = new Error('tsvmm_native.node: undefined symbol: napi_foo\nmore detail');
  withAddonFailing(bad, () => {
    assert.throws(() => native(), {
      name: 'NativeAddonError',
      message: 'the native addon does not load: tsvmm_native.node: undefined symbol: napi_foo; rebuild it with ' +
        '`npx node-gyp rebuild` (or `npm run install`) in the package folder',
    });
  });
});
