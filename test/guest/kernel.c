/*
 * CPL0 code: the gate for CPL3 (serial output, exit, CPUID) and the fault reporter. On hosts that emulate guest
 * CPL0 this all runs at about a million instructions a second, so it does the least it can.
 */
#include "kernel.h"
#include "layout.h"

#define GATE_WRITE_MAX 4096
#define I8042_COMMAND_PORT 0x64
#define I8042_PULSE_RESET 0xfe
#define ISA_DEBUG_EXIT_PORT 0xf4
#define VECTOR_UD 6
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define KVMCLOCK_ENABLE 1

extern char gate_ud2[];
extern char __image_start[], __image_end[];

const char *volatile current_test_name = "boot";
static int trap_depth;

static inline void outb(u16 port, u8 value)
{
	__asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline void wrmsr(u32 msr, u64 value)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((u32)value), "d"((u32)(value >> 32)));
}

static void serial_write(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		outb(COM1_PORT, (u8)buf[i]);
}

static void serial_print(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	size_t n = vformat(line, sizeof(line), fmt, ap);
	va_end(ap);
	serial_write(line, n);
}

/*
 * Ends the machine: isa-debug-exit when asked (QEMU exits with 2 * value + 1), else the i8042 reset line after a
 * pass, then a triple fault. A failure skips the reset line, so a monitor that tells the two apart (tsvmm: 0 for a
 * reset, 4 for a triple fault) says in its exit status whether the test passed.
 */
static __attribute__((noreturn)) void machine_exit(bool failed, bool use_debug_exit)
{
	static const struct __attribute__((packed)) {
		u16 limit;
		u64 base;
	} empty_idt = { 0, 0 };
	if (use_debug_exit)
		outb(ISA_DEBUG_EXIT_PORT, failed ? 1 : 0);
	if (!failed)
		outb(I8042_COMMAND_PORT, I8042_PULSE_RESET);
	/* No IDT: the #UD cannot be delivered, nor the #DF after it, so the CPU shuts down. */
	__asm__ volatile("lidt %0; ud2" : : "m"(empty_idt));
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* A user pointer the gate may read or write: inside the identity map, not wrapping. */
static bool user_range_ok(u64 addr, u64 len)
{
	return addr + len >= addr && addr + len <= 0x100000000ull;
}

static u64 gate(struct trap_frame *f)
{
	switch (f->rax) {
	case GATE_WRITE:
		if (f->rsi > GATE_WRITE_MAX || !user_range_ok(f->rdi, f->rsi))
			return (u64)-1;
		serial_write((const char *)f->rdi, f->rsi);
		return f->rsi;
	case GATE_EXIT:
		machine_exit(f->rdi != 0, f->rsi != 0);
	case GATE_CPUID: {
		if (!user_range_ok(f->rdx, 16))
			return (u64)-1;
		u32 *out = (u32 *)f->rdx;
		__asm__ volatile("cpuid"
				 : "=a"(out[0]), "=b"(out[1]), "=c"(out[2]), "=d"(out[3])
				 : "a"((u32)f->rdi), "c"((u32)f->rsi));
		return 0;
	}
	case GATE_KVMCLOCK:
		/* The caller checked CPUID for the KVM clock first: an unknown MSR would #GP here. */
		if ((f->rdi & 31) || !user_range_ok(f->rdi, 32))
			return (u64)-1;
		wrmsr(MSR_KVM_SYSTEM_TIME_NEW, f->rdi ? f->rdi | KVMCLOCK_ENABLE : 0);
		return 0;
	default:
		return (u64)-1;
	}
}

/* A name from user memory, printed only as far as it is plausible. */
static const char *test_name(void)
{
	const char *name = current_test_name;
	u64 addr = (u64)name;
	if (addr < (u64)__image_start || addr >= (u64)__image_end)
		return "?";
	return name;
}

static __attribute__((noreturn)) void report_fault(struct trap_frame *f)
{
	u64 cr2;
	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	serial_print("\ntsvmm-guest: exception %lu error 0x%lx rip 0x%lx cs 0x%lx rsp 0x%lx cr2 0x%lx\n", f->vector,
		     f->error, f->rip, f->cs, f->rsp, cr2);
	serial_print("tsvmm-guest: rax 0x%lx rbx 0x%lx rcx 0x%lx rdx 0x%lx rsi 0x%lx rdi 0x%lx\n", f->rax, f->rbx,
		     f->rcx, f->rdx, f->rsi, f->rdi);
	serial_print("TSVMM-TEST: FAIL %s: exception %lu at rip 0x%lx\n", test_name(), f->vector, f->rip);
	machine_exit(true, false);
}

void trap(struct trap_frame *frame)
{
	bool from_user = (frame->cs & 3) == 3;
	if (frame->vector == VECTOR_UD && from_user && frame->rip == (u64)gate_ud2) {
		frame->rax = gate(frame);
		frame->rip += 2;
		return;
	}
	/* A fault while reporting a fault: stop without printing more. */
	if (trap_depth++)
		machine_exit(true, false);
	report_fault(frame);
}
