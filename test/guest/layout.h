/* Constants shared by boot.S and the C code. */
#ifndef TSVMM_GUEST_LAYOUT_H
#define TSVMM_GUEST_LAYOUT_H

#define COM1_PORT 0x3f8

#define SEL_KERNEL_CODE 0x08
#define SEL_KERNEL_DATA 0x10
#define SEL_USER_CODE (0x18 | 3)
#define SEL_USER_DATA (0x20 | 3)
#define SEL_TSS 0x28

#define CR0_PE 0x1
#define CR0_PG 0x80000000
#define CR4_TSD 0x4
#define CR4_PAE 0x20
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100

/* Present, writable, user. */
#define PTE_TABLE 0x7
/* Present, writable, user, 2 MiB page. */
#define PTE_LARGE 0x87
/* PWT | PCD */
#define PTE_UNCACHED 0x18

#define IDT_VECTORS 32
#define TSS_BYTES 104
#define KERNEL_STACK_BYTES 16384
#define USER_STACK_BYTES 65536

#endif
