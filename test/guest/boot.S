/*
 * PVH entry, the switch to long mode and the drop to CPL3, the exception stubs and the CPL3->CPL0 gate.
 * Everything here runs at CPL0, which some hosts emulate instruction by instruction: the page tables and the
 * GDT are prebuilt data, and the only loops are the greeting and the 32 IDT gates.
 */
#include "layout.h"

/* The PVH boot ABI: an ELF note named "Xen", type XEN_ELFNOTE_PHYS32_ENTRY, holding the 32-bit entry address. */
	.section .note.pvh, "a"
	.p2align 2
	.long 4, 4, 18
	.asciz "Xen"
	.long pvh_start32

	.section .text.boot, "ax"
	.code32
	.global pvh_start32
pvh_start32:
	cli
	/* EBX holds the hvm_start_info address; keep it in ESI until kernel_main gets it. */
	movl %ebx, %esi
	movw $COM1_PORT, %dx
	movl $greeting, %ecx
1:	movb (%ecx), %al
	testb %al, %al
	jz 2f
	outb %al, %dx
	incl %ecx
	jmp 1b
2:	lgdt gdt_pointer
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	andl $~CR4_TSD, %eax
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_PE), %eax
	movl %eax, %cr0
	ljmp $SEL_KERNEL_CODE, $long_mode

	.code64
long_mode:
	movw $SEL_KERNEL_DATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorl %eax, %eax
	movw %ax, %fs
	movw %ax, %gs
	movq $kernel_stack_top, %rsp
	call install_tables
	/* iretq frame: SS, RSP, RFLAGS (IF off), CS, RIP. RDI carries start_info into user_main. */
	movl %esi, %edi
	pushq $SEL_USER_DATA
	pushq $user_stack_top
	pushq $0x2
	pushq $SEL_USER_CODE
	pushq $user_main
	iretq

/* Fills the IDT gates and the TSS descriptor, whose split address fields the assembler cannot compute. */
install_tables:
	leaq isr_table(%rip), %r8
	leaq idt(%rip), %r9
	xorl %ecx, %ecx
1:	movq (%r8,%rcx,8), %rax
	movw %ax, (%r9)
	movw $SEL_KERNEL_CODE, 2(%r9)
	/* Present, DPL 0, 64-bit interrupt gate: CPL3 cannot raise these with INT n. */
	movw $0x8e00, 4(%r9)
	shrq $16, %rax
	movw %ax, 6(%r9)
	shrq $16, %rax
	movl %eax, 8(%r9)
	movl $0, 12(%r9)
	addq $16, %r9
	incl %ecx
	cmpl $IDT_VECTORS, %ecx
	jne 1b
	movq $tss, %rax
	leaq gdt_tss(%rip), %r9
	movw $(TSS_BYTES - 1), (%r9)
	movw %ax, 2(%r9)
	shrq $16, %rax
	movb %al, 4(%r9)
	movb $0x89, 5(%r9)
	movb $0, 6(%r9)
	shrq $8, %rax
	movb %al, 7(%r9)
	shrq $8, %rax
	movl %eax, 8(%r9)
	movl $0, 12(%r9)
	movq $kernel_stack_top, %rax
	movq %rax, tss+4(%rip)
	movw $TSS_BYTES, tss+102(%rip)
	movl $SEL_TSS, %eax
	ltr %ax
	lidt idt_pointer(%rip)
	ret

/* Exception entry: stubs push a zero where the CPU pushes no error code, then the vector. */
.macro ISR vector, has_error
isr\vector:
	.if \has_error == 0
	pushq $0
	.endif
	pushq $\vector
	jmp isr_common
.endm

ISR 0,0;  ISR 1,0;  ISR 2,0;  ISR 3,0;  ISR 4,0;  ISR 5,0;  ISR 6,0;  ISR 7,0
ISR 8,1;  ISR 9,0;  ISR 10,1; ISR 11,1; ISR 12,1; ISR 13,1; ISR 14,1; ISR 15,0
ISR 16,0; ISR 17,1; ISR 18,0; ISR 19,0; ISR 20,0; ISR 21,1; ISR 22,0; ISR 23,0
ISR 24,0; ISR 25,0; ISR 26,0; ISR 27,0; ISR 28,0; ISR 29,1; ISR 30,1; ISR 31,0

/* Saves the registers as a struct trap_frame (kernel.h) and hands it to trap(); returns through iretq. */
isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	cld
	call trap
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp
	iretq

/*
 * The CPL3 -> CPL0 gate. `int $n` from CPL3 does not reach the guest on every host, but #UD does: trap()
 * recognises this one ud2 by its address. Call: RAX = function, RDI/RSI/RDX = arguments; result in RAX.
 */
	.text
	.global gate_call
gate_call:
	movq %rdi, %rax
	movq %rsi, %rdi
	movq %rdx, %rsi
	movq %rcx, %rdx
	.global gate_ud2
gate_ud2:
	ud2
	ret

	.section .rodata
greeting:
	.asciz "tsvmm-guest: hello\n"
isr_table:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad isr\v
	.endr

	.data
	.p2align 4
gdt:
	.quad 0
	.quad 0x00af9a000000ffff	/* SEL_KERNEL_CODE: 64-bit, DPL 0 */
	.quad 0x00cf92000000ffff	/* SEL_KERNEL_DATA */
	.quad 0x00affa000000ffff	/* SEL_USER_CODE: 64-bit, DPL 3 */
	.quad 0x00cff2000000ffff	/* SEL_USER_DATA: DPL 3 */
gdt_tss:
	.quad 0, 0			/* SEL_TSS: filled by install_tables */
gdt_end:
	.p2align 3
	.word 0
gdt_pointer:
	.word gdt_end - gdt - 1
	.quad gdt
	.p2align 3
	.word 0
idt_pointer:
	.word IDT_VECTORS * 16 - 1
	.quad idt

	/* Not BSS: user_main zeroes the BSS after these are in use. */
	.p2align 4
idt:
	.skip IDT_VECTORS * 16
	.p2align 4
tss:
	.skip TSS_BYTES

/* Identity map of the first 4 GiB in 2 MiB pages, all user-accessible; the top GiB (MMIO) uncached. */
	.section .data.tables, "aw"
	.p2align 12
pml4:
	.quad pdpt + PTE_TABLE
	.fill 511, 8, 0
pdpt:
	.quad pd + PTE_TABLE
	.quad pd + 0x1000 + PTE_TABLE
	.quad pd + 0x2000 + PTE_TABLE
	.quad pd + 0x3000 + PTE_TABLE
	.fill 508, 8, 0
pd:
	.set page, 0
	.rept 1536
	.quad page + PTE_LARGE
	.set page, page + 0x200000
	.endr
	.rept 512
	.quad page + PTE_LARGE + PTE_UNCACHED
	.set page, page + 0x200000
	.endr

	.section .stacks, "aw", @nobits
	.p2align 12
	.skip KERNEL_STACK_BYTES
	.global kernel_stack_top
kernel_stack_top:
	.skip USER_STACK_BYTES
	.global user_stack_top
user_stack_top:
