/* The CPL0 side: what the exception stubs hand to trap(), and the gate that CPL3 code calls into. */
#ifndef TSVMM_GUEST_KERNEL_H
#define TSVMM_GUEST_KERNEL_H

#include "lib.h"

/* The order isr_common pushes in, lowest address first, then what the CPU pushed. */
struct trap_frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector, error;
	u64 rip, cs, rflags, rsp, ss;
};

enum gate_function {
	/* (buffer, length): bytes to COM1. */
	GATE_WRITE = 1,
	/* (failed, use_isa_debug_exit): never returns. */
	GATE_EXIT = 2,
	/* (leaf, subleaf, u32 out[4]): CPUID at CPL0, where every host answers it. */
	GATE_CPUID = 3,
	/* (paddr): points KVM's system-time MSR at a 32-byte pvclock area, or turns it off with 0. */
	GATE_KVMCLOCK = 4,
};

/* Implemented in boot.S: traps into trap() through ud2 and returns its RAX. */
u64 gate_call(u64 function, u64 a, u64 b, u64 c);

/* What the fault reporter names the run after; set by user code before the test starts. */
extern const char *volatile current_test_name;

void trap(struct trap_frame *frame);

#endif
