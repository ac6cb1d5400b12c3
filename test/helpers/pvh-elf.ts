// Builds a minimal PVH ELF in memory: one PT_LOAD holding `code` at 1 MiB and a PT_NOTE with the Xen
// PHYS32_ENTRY note pointing at it. Enough for tests that need a guest doing one precise thing at CPL0.

const LOAD_ADDR = 0x100000;
const XEN_ELFNOTE_PHYS32_ENTRY = 18;

export function pvhElf(code: Uint8Array): Buffer {
  const ehdr = 64;
  const phdr = 56;
  const noteOff = ehdr + 2 * phdr;
  const note = Buffer.alloc(12 + 4 + 4);
  note.writeUInt32LE(4, 0); // namesz ("Xen\0")
  note.writeUInt32LE(4, 4); // descsz
  note.writeUInt32LE(XEN_ELFNOTE_PHYS32_ENTRY, 8);
  note.write('Xen\0', 12, 'latin1');
  note.writeUInt32LE(LOAD_ADDR, 16);
  const codeOff = noteOff + note.length + ((16 - ((noteOff + note.length) % 16)) % 16);
  const out = Buffer.alloc(codeOff + code.length);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0); // ELF64, little-endian, version 1
  out.writeUInt16LE(2, 16); // ET_EXEC
  out.writeUInt16LE(62, 18); // EM_X86_64
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(BigInt(LOAD_ADDR), 24); // e_entry
  out.writeBigUInt64LE(BigInt(ehdr), 32); // e_phoff
  out.writeUInt16LE(ehdr, 52);
  out.writeUInt16LE(phdr, 54);
  out.writeUInt16LE(2, 56); // e_phnum
  out.writeUInt16LE(64, 58); // e_shentsize
  const load = ehdr;
  out.writeUInt32LE(1, load); // PT_LOAD
  out.writeUInt32LE(5, load + 4); // R+X
  out.writeBigUInt64LE(BigInt(codeOff), load + 8);
  out.writeBigUInt64LE(BigInt(LOAD_ADDR), load + 16);
  out.writeBigUInt64LE(BigInt(LOAD_ADDR), load + 24);
  out.writeBigUInt64LE(BigInt(code.length), load + 32);
  out.writeBigUInt64LE(BigInt(code.length), load + 40);
  out.writeBigUInt64LE(0x1000n, load + 48);
  const pn = ehdr + phdr;
  out.writeUInt32LE(4, pn); // PT_NOTE
  out.writeUInt32LE(4, pn + 4);
  out.writeBigUInt64LE(BigInt(noteOff), pn + 8);
  out.writeBigUInt64LE(BigInt(note.length), pn + 32);
  out.writeBigUInt64LE(4n, pn + 48);
  note.copy(out, noteOff);
  out.set(code, codeOff);
  return out;
}

/** 32-bit code snippets for the PVH entry (protected mode, paging off). */
export const GUEST_CODE = {
  /** Pulse the i8042 reset line, then halt. */
  i8042Reset: Uint8Array.from([0xb0, 0xfe, 0xe6, 0x64, 0xf4]),
  /** Load an empty IDT from zeroed RAM at 0x1000, then raise #UD: nothing can be delivered, so the CPU shuts down. */
  tripleFault: Uint8Array.from([0x0f, 0x01, 0x1d, 0x00, 0x10, 0x00, 0x00, 0x0f, 0x0b]),
  /** Print "hi\n" on COM1, then halt with interrupts off: a guest that never ends by itself. */
  helloThenSpin: Uint8Array.from([
    0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
    0xb0, 0x68, 0xee, // mov al, 'h'; out dx, al
    0xb0, 0x69, 0xee, // mov al, 'i'; out dx, al
    0xb0, 0x0a, 0xee, // mov al, '\n'; out dx, al
    0xfa, 0xf4, // cli; hlt
  ]),
  /** Print "go\n", then '.' on COM1 forever: a busy guest whose every instruction but the jump is an exit. */
  printLoop: Uint8Array.from([
    0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
    0xb0, 0x67, 0xee, // mov al, 'g'; out dx, al
    0xb0, 0x6f, 0xee, // mov al, 'o'; out dx, al
    0xb0, 0x0a, 0xee, // mov al, '\n'; out dx, al
    0xb0, 0x2e, // loop: mov al, '.'
    0xee, // out dx, al
    0xeb, 0xfb, // jmp loop
  ]),
  /**
   * Print "k\n", then poll the i8042 until the Delete key's make code (set 1: 0x53) arrives and pulse the reset
   * line: a guest that reboots on Ctrl-Alt-Del, as Linux does with an i8042 keyboard driver.
   */
  rebootOnCtrlAltDel: Uint8Array.from([
    0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
    0xb0, 0x6b, 0xee, // mov al, 'k'; out dx, al
    0xb0, 0x0a, 0xee, // mov al, '\n'; out dx, al
    0xe4, 0x64, // wait: in al, 0x64
    0xa8, 0x01, // test al, 1 (output buffer full)
    0x74, 0xfa, // jz wait
    0xe4, 0x60, // in al, 0x60
    0x3c, 0x53, // cmp al, 0x53
    0x75, 0xf4, // jne wait
    0xb0, 0xfe, 0xe6, 0x64, // mov al, 0xfe; out 0x64, al (reset)
    0xf4, // hlt
  ]),
  /** Print "e\n", then echo every byte COM1 receives: a guest that reads its console. */
  echo: Uint8Array.from([
    0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
    0xb0, 0x65, 0xee, // mov al, 'e'; out dx, al
    0xb0, 0x0a, 0xee, // mov al, '\n'; out dx, al
    0x66, 0xba, 0xfd, 0x03, // next: mov dx, 0x3fd (LSR)
    0xec, // wait: in al, dx
    0xa8, 0x01, // test al, 1 (data ready)
    0x74, 0xfb, // jz wait
    0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
    0xec, // in al, dx (RBR)
    0xee, // out dx, al (THR)
    0xeb, 0xef, // jmp next
  ]),
};
