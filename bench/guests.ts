// Hand-made PVH guests for the benchmarks: each prints "s\n" when its measured part starts and "e\n" when it ends,
// then pulses the i8042 reset line. They run at CPL0 with paging off, so both monitors see exactly the same code.

const COM1 = [0x66, 0xba, 0xf8, 0x03]; // mov dx, 0x3f8
const say = (ch: string): number[] => [0xb0, ch.charCodeAt(0), 0xee]; // mov al, ch; out dx, al
const RESET = [0xb0, 0xfe, 0xe6, 0x64, 0xf4]; // mov al, 0xfe; out 0x64, al; hlt
const imm32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

/** Prints "s\n" at once and resets: the time to its first line is the monitor's boot path. */
export function helloGuest(): Uint8Array {
  return Uint8Array.from([...COM1, ...say('s'), ...say('\n'), ...RESET]);
}

/** `count` reads of I/O port 0x80: every one is an exit the monitor answers in user space. */
export function portReadGuest(count: number): Uint8Array {
  return Uint8Array.from([
    ...COM1, ...say('s'), ...say('\n'),
    0xb9, ...imm32(count), // mov ecx, count
    0x66, 0xba, 0x80, 0x00, // mov dx, 0x80
    0xec, 0x49, 0x75, 0xfc, // 1: in al, dx; dec ecx; jnz 1b
    ...COM1, ...say('e'), ...say('\n'), ...RESET,
  ]);
}
