// Edits made to the extracted linux-source before building. Each one is an exact text replacement that must
// match exactly once: a new source version that moved the code fails the build loudly instead of building a
// kernel that silently still does the thing the edit was for. The list is part of the build's cache key.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface SourcePatch {
  name: string;
  /** Why the edit is needed; shown in the log. */
  reason: string;
  /** Path relative to the source tree root. */
  file: string;
  find: string;
  replace: string;
}

export const SOURCE_PATCHES: readonly SourcePatch[] = [
  {
    name: 'skip-int3-selftest',
    reason: 'int3_selftest() runs INT3 at CPL0, which the KVM instruction emulator of kvm_pvm hosts cannot execute',
    file: 'arch/x86/kernel/alternative.c',
    // The call in alternative_instructions(); `if (0)` keeps the function referenced (no unused warning) and
    // lets the compiler drop it together with the INT3 it contains.
    find: '\n\tint3_selftest();\n',
    replace: '\n\tif (0) /* tsvmm: INT3 at CPL0 cannot be emulated on kvm_pvm hosts */\n\t\tint3_selftest();\n',
  },
  // Linux 6.1 offers CONFIG_KERNEL_UNCOMPRESSED on s390 only. The next three edits give x86 an uncompressed
  // bzImage: the payload is vmlinux.bin plus the 4-byte size trailer that mkpiggy reads, and "decompressing" is
  // one memmove into place. Decompressors run at emulated CPL0 speed on kvm_pvm hosts (minutes for xz).
  {
    name: 'x86-uncompressed-kconfig',
    reason: 'let x86 choose CONFIG_KERNEL_UNCOMPRESSED (in-guest decompression is slow on kvm_pvm hosts)',
    file: 'arch/x86/Kconfig',
    find: '\n\tselect HAVE_KERNEL_ZSTD\n',
    replace: '\n\tselect HAVE_KERNEL_ZSTD\n\tselect HAVE_KERNEL_UNCOMPRESSED\n',
  },
  {
    name: 'x86-uncompressed-payload',
    reason: 'build the bzImage payload uncompressed when CONFIG_KERNEL_UNCOMPRESSED is set',
    file: 'arch/x86/boot/compressed/Makefile',
    find: '\nsuffix-$(CONFIG_KERNEL_ZSTD)\t:= zst\n',
    replace: [
      '\nsuffix-$(CONFIG_KERNEL_ZSTD)\t:= zst',
      'suffix-$(CONFIG_KERNEL_UNCOMPRESSED) := none',
      '',
      'quiet_cmd_none_with_size = COPY    $@',
      '      cmd_none_with_size = { cat $(real-prereqs); $(size_append); } > $@',
      'targets += vmlinux.bin.none',
      '$(obj)/vmlinux.bin.none: $(vmlinux.bin.all-y) FORCE',
      '\t$(call if_changed,none_with_size)\n',
    ].join('\n'),
  },
  {
    name: 'x86-uncompressed-decompressor',
    reason: 'an identity __decompress() for the uncompressed bzImage payload',
    file: 'arch/x86/boot/compressed/misc.c',
    find: '\n#ifdef CONFIG_KERNEL_ZSTD\n#include "../../../../lib/decompress_unzstd.c"\n#endif\n',
    replace: [
      '\n#ifdef CONFIG_KERNEL_ZSTD\n#include "../../../../lib/decompress_unzstd.c"\n#endif',
      '',
      '#ifdef CONFIG_KERNEL_UNCOMPRESSED',
      '/* tsvmm: the payload is vmlinux.bin itself; move it to the output buffer. */',
      'static int __decompress(unsigned char *in, long in_len, long (*fill)(void *, unsigned long),',
      '\t\t\tlong (*flush)(void *, unsigned long), unsigned char *out, long out_len,',
      '\t\t\tlong *pos, void (*error)(char *x))',
      '{',
      '\tif (in_len < out_len)',
      '\t\terror("uncompressed payload is shorter than its recorded size");',
      '\tmemmove(out, in, out_len);',
      '\treturn 0;',
      '}',
      '#endif\n',
    ].join('\n'),
  },
];

export class SourcePatchError extends Error {
  constructor(readonly patch: string, readonly file: string, reason: string) {
    super(`linux-source patch '${patch}' did not apply to ${file}: ${reason}`);
    this.name = 'SourcePatchError';
  }
}

/** Applies one patch to file text; throws SourcePatchError unless `find` occurs exactly once. */
export function applyPatchToText(patch: SourcePatch, text: string): string {
  const first = text.indexOf(patch.find);
  if (first < 0) throw new SourcePatchError(patch.name, patch.file, `pattern ${JSON.stringify(patch.find)} not found`);
  if (text.indexOf(patch.find, first + 1) >= 0) {
    throw new SourcePatchError(patch.name, patch.file, `pattern ${JSON.stringify(patch.find)} found more than once`);
  }
  return text.slice(0, first) + patch.replace + text.slice(first + patch.find.length);
}

export function applySourcePatches(sourceDir: string, patches: readonly SourcePatch[],
  log: (line: string) => void): void {
  for (const patch of patches) {
    const file = path.join(sourceDir, patch.file);
    if (!fs.existsSync(file)) throw new SourcePatchError(patch.name, patch.file, 'file not found');
    fs.writeFileSync(file, applyPatchToText(patch, fs.readFileSync(file, 'utf8')));
    log(`[guest] patched ${patch.file} (${patch.name}: ${patch.reason})`);
  }
}
