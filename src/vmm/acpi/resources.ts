// Resource descriptors (ACPI 6.5, section 6.4) for the _CRS of the DSDT's devices: what iasl calls
// ResourceTemplate () { IO (...) IRQNoFlags () {...} Memory32Fixed (...) Interrupt (...) {...} }.
import { buffer, concat, type Aml } from './aml';

export type Resource = Uint8Array;

const SMALL = { IRQ_NO_FLAGS: 0x22, IO: 0x47, END: 0x79 } as const;
const LARGE = { MEMORY32_FIXED: 0x86, EXTENDED_INTERRUPT: 0x89 } as const;
const IO_DECODE16 = 1;
const MEMORY_READ_WRITE = 1;
const INT_CONSUMER = 1 << 0;
const INT_EDGE = 1 << 1;

function u16(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff];
}

function u32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

function checkRange(what: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what} ${v} is out of range 0..${max}`);
}

/** A fixed block of I/O ports, 16-bit decode: IO (Decode16, port, port, 1, length). */
export function ioPorts(port: number, length: number): Resource {
  checkRange('I/O port', port, 0xffff);
  checkRange('I/O port count', length, 0xff);
  return Uint8Array.from([SMALL.IO, IO_DECODE16, ...u16(port), ...u16(port), 1, length]);
}

/** An ISA interrupt, edge-triggered and active high (the flags a short IRQ descriptor implies). */
export function irqNoFlags(irq: number): Resource {
  checkRange('ISA IRQ', irq, 15);
  return Uint8Array.from([SMALL.IRQ_NO_FLAGS, ...u16(1 << irq)]);
}

export function memory32Fixed(base: number, length: number): Resource {
  checkRange('memory base', base, 0xffff_ffff);
  checkRange('memory length', length, 0xffff_ffff - base + 1);
  return Uint8Array.from([LARGE.MEMORY32_FIXED, ...u16(9), MEMORY_READ_WRITE, ...u32(base), ...u32(length)]);
}

/**
 * Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {gsi}: the edge is what an irqfd delivers, and it is
 * what the MP table says of the same pins (ISA conforming), so both descriptions of the machine agree.
 */
export function edgeInterrupt(gsi: number): Resource {
  checkRange('GSI', gsi, 0xffff_ffff);
  return Uint8Array.from([LARGE.EXTENDED_INTERRUPT, ...u16(6), INT_CONSUMER | INT_EDGE, 1, ...u32(gsi)]);
}

/** The buffer a _CRS names; an end tag whose checksum is 0 tells the OS not to check it. */
export function resourceTemplate(...resources: Resource[]): Aml {
  return buffer(concat([...resources, Uint8Array.of(SMALL.END, 0)]));
}
