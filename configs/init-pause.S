/*
 * A Linux /init that makes no system call: it waits in a pause loop forever. On hosts where guest user space
 * cannot make system calls (see ENVIRONMENT.md) this keeps the guest kernel alive after `Run /init`, so its
 * threads and drivers can be watched from the host. Built with `gcc -nostdlib -static`.
 */
	.text
	.globl	_start
_start:
1:	pause
	jmp	1b

	.section .note.GNU-stack, "", @progbits
