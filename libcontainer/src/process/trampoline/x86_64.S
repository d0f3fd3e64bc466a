/*
 * berth's exec trampoline, x86_64 (see ../trampoline.rs for why it exists).
 *
 * Executed from a sealed memfd, with
 *   argv[0]  the status fd, in decimal
 *   argv[1]  what to write before the errno when the exec fails
 *   argv[2]  what to write after it
 *   argv[3]  the program's path
 *   argv[4…] the program's argv
 * and the program's environment. It marks the status fd close-on-exec
 * (unless it is stdio), so that the program's successful exec closes it,
 * and execs the program. If that fails it writes argv[1], the errno in
 * decimal and argv[2] to the status fd with one write (one packet on a
 * SOCK_SEQPACKET socket; at most 3968 bytes), and exits with status 1. Any other argv (it was
 * run some other way, e.g. as the interpreter of `#!/proc/self/exe`) makes
 * it exit with status 1 at once.
 */
	.intel_syntax noprefix
	.text
	.globl	_start
_start:
	mov	rbx, rsp		/* rbx: &argc, argv follows */
	cmp	qword ptr [rbx], 5
	jb	fail
	mov	rsi, [rbx + 8]		/* argv[0]: the status fd */
	xor	r12d, r12d
	cmp	byte ptr [rsi], 0
	je	fail
parse:
	movzx	eax, byte ptr [rsi]
	test	eax, eax
	jz	parsed
	sub	eax, '0'
	cmp	eax, 9
	ja	fail
	cmp	r12d, 100000		/* no fd number is this long */
	jae	fail
	imul	r12d, r12d, 10
	add	r12d, eax
	inc	rsi
	jmp	parse
parsed:
	cmp	r12d, 2
	jbe	exec
	mov	edi, r12d
	mov	esi, 2			/* F_SETFD */
	mov	edx, 1			/* FD_CLOEXEC */
	mov	eax, 72			/* fcntl */
	syscall
exec:
	mov	rdi, [rbx + 32]		/* argv[3]: the path */
	lea	rsi, [rbx + 40]		/* &argv[4] */
	mov	rcx, [rbx]
	lea	rdx, [rbx + rcx * 8 + 16]	/* envp, after argv's NULL */
	mov	eax, 59			/* execve */
	syscall
	neg	eax			/* the errno, in decimal at rsp+4000… */
	sub	rsp, 4096		/* the message at rsp, at most 3968 bytes */
	lea	r9, [rsp + 4031]
	mov	byte ptr [r9], 0
	mov	ecx, 10
digit:
	xor	edx, edx
	div	ecx
	add	dl, '0'
	dec	r9
	mov	[r9], dl
	test	eax, eax
	jnz	digit
	mov	rdi, rsp
	lea	r14, [rsp + 3968]
	mov	rsi, [rbx + 16]		/* argv[1] */
	call	append
	mov	rsi, r9			/* the errno */
	call	append
	mov	rsi, [rbx + 24]		/* argv[2] */
	call	append
	mov	rdx, rdi
	sub	rdx, rsp
	mov	rsi, rsp
	mov	edi, r12d
	mov	eax, 1			/* write: one packet, and the one syscall */
	syscall				/* no seccomp profile refuses */
fail:
	mov	edi, 1
	mov	eax, 231		/* exit_group */
	syscall
	hlt

/* Appends the string at rsi to rdi, up to r14. */
append:
1:	cmp	rdi, r14
	jae	2f
	mov	al, [rsi]
	test	al, al
	jz	2f
	mov	[rdi], al
	inc	rsi
	inc	rdi
	jmp	1b
2:	ret
	.section .note.GNU-stack,"",@progbits
