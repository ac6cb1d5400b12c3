import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  applyPatchToText, applySourcePatches, SOURCE_PATCHES, SourcePatchError, type SourcePatch,
} from '../../src/guest/source-patches';

const patch: SourcePatch = { name: 'p', reason: 'r', file: 'a.c', find: '\n\tcall();\n', replace: '\n\tif (0) call();\n' };

test('a patch replaces its pattern when it occurs exactly once', () => {
  assert.equal(applyPatchToText(patch, 'void f(void)\n{\n\tcall();\n}\n'), 'void f(void)\n{\n\tif (0) call();\n}\n');
});

test('a missing or repeated pattern fails loudly, naming the patch and file', () => {
  assert.throws(() => applyPatchToText(patch, 'void f(void) { other(); }\n'),
    (e: unknown) => e instanceof SourcePatchError && /patch 'p' did not apply to a\.c: pattern .* not found/.test(e.message));
  assert.throws(() => applyPatchToText(patch, '\n\tcall();\n\tcall();\n'), /found more than once/);
});

test('patching a tree edits the files and refuses a missing one', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-patch-'));
  try {
    fs.writeFileSync(path.join(dir, 'a.c'), 'x\n\tcall();\ny');
    const lines: string[] = [];
    applySourcePatches(dir, [patch], (l) => lines.push(l));
    assert.equal(fs.readFileSync(path.join(dir, 'a.c'), 'utf8'), 'x\n\tif (0) call();\ny');
    assert.match(lines[0]!, /patched a\.c \(p: r\)/);
    assert.throws(() => applySourcePatches(dir, [{ ...patch, file: 'missing.c' }], () => {}), /file not found/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the project's patches: the INT3 selftest call is disabled, not removed", () => {
  const int3 = SOURCE_PATCHES.find((p) => p.name === 'skip-int3-selftest')!;
  const source = 'void __init alternative_instructions(void)\n{\n\tu64 ibt;\n\n\tint3_selftest();\n\n\tstop_nmi();\n}\n';
  const patched = applyPatchToText(int3, source);
  assert.match(patched, /if \(0\).*\n\t\tint3_selftest\(\);/);
  // The definition's own name must not match, only the call statement.
  assert.equal(applyPatchToText(int3, 'static noinline void __init int3_selftest(void)\n' + source).split('if (0)').length, 2);
  const names = SOURCE_PATCHES.map((p) => p.name);
  assert.equal(new Set(names).size, names.length);
});
