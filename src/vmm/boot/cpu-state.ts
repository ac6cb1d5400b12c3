// The boot vCPU's first state for each entry ABI.
// 64-bit Linux boot protocol: long mode with paging on the identity map, flat __BOOT_CS / __BOOT_DS, RSI = zero page.
// PVH: 32-bit protected mode, paging off, flat 4 GiB segments, EBX = start_info.
import type { FpuState, Regs, Sregs } from '../../base/kvm-types';
import type { BootGdt } from './gdt';
import { BOOT_STACK_TOP } from './layout';

export const CR0_PE = 1n << 0n;
export const CR0_ET = 1n << 4n;
export const CR0_PG = 1n << 31n;
export const CR4_PAE = 1n << 5n;
export const EFER_LME = 1n << 8n;
export const EFER_LMA = 1n << 10n;
/** Bit 1 of RFLAGS is reserved and always 1; everything else (IF included) starts clear. */
export const RFLAGS_RESERVED = 0x2n;
/** FNINIT's control word and the MXCSR reset value: all exceptions masked. */
export const FPU_INIT: FpuState = { fcw: 0x37f, mxcsr: 0x1f80 };

export type SregsChanges = Partial<Sregs>;

export interface CpuState {
  regs: Regs;
  /** The fields to override in the vCPU's current sregs (the rest, e.g. LDT and APIC base, stay as KVM set them). */
  sregs: SregsChanges;
  fpu: FpuState;
}

export function zeroRegs(): Regs {
  return {
    rax: 0n, rbx: 0n, rcx: 0n, rdx: 0n, rsi: 0n, rdi: 0n, rsp: 0n, rbp: 0n,
    r8: 0n, r9: 0n, r10: 0n, r11: 0n, r12: 0n, r13: 0n, r14: 0n, r15: 0n,
    rip: 0n, rflags: RFLAGS_RESERVED,
  };
}

function segmentRegisters(gdt: BootGdt, code: 'code32' | 'code64'): SregsChanges {
  const data = gdt.data;
  return {
    cs: { ...gdt[code] },
    ds: { ...data }, es: { ...data }, fs: { ...data }, gs: { ...data }, ss: { ...data },
    tr: { ...gdt.tss },
    gdt: { ...gdt.gdt },
    idt: { ...gdt.idt },
  };
}

export function linux64State(o: { entry: number; zeroPage: number; cr3: bigint; gdt: BootGdt }): CpuState {
  const regs = zeroRegs();
  regs.rip = BigInt(o.entry);
  regs.rsi = BigInt(o.zeroPage);
  regs.rsp = BigInt(BOOT_STACK_TOP);
  regs.rbp = BigInt(BOOT_STACK_TOP);
  return {
    regs,
    sregs: {
      ...segmentRegisters(o.gdt, 'code64'),
      cr0: CR0_PE | CR0_ET | CR0_PG,
      cr3: o.cr3,
      cr4: CR4_PAE,
      efer: EFER_LME | EFER_LMA,
    },
    fpu: { ...FPU_INIT },
  };
}

export function pvhState(o: { entry: number; startInfo: number; gdt: BootGdt }): CpuState {
  const regs = zeroRegs();
  regs.rip = BigInt(o.entry);
  regs.rbx = BigInt(o.startInfo);
  // The ABI leaves the stack undefined; a valid one costs nothing and helps a guest that pushes before setting its own.
  regs.rsp = BigInt(BOOT_STACK_TOP);
  return {
    regs,
    sregs: {
      ...segmentRegisters(o.gdt, 'code32'),
      cr0: CR0_PE | CR0_ET,
      cr3: 0n,
      cr4: 0n,
      efer: 0n,
    },
    fpu: { ...FPU_INIT },
  };
}

/** `current` with the boot changes applied; segment objects are copied so neither input is shared. */
export function applySregs(current: Sregs, changes: SregsChanges): Sregs {
  const out: Sregs = { ...current };
  for (const [key, value] of Object.entries(changes) as [keyof Sregs, Sregs[keyof Sregs]][]) {
    (out as unknown as Record<string, unknown>)[key] = typeof value === 'object' ? { ...value } : value;
  }
  return out;
}
