/*
 * Prints the size in bytes of this host's XSAVE area as ptrace's NT_X86_XSTATE regset has it
 * (0 when the host has no XSAVE regset). lab/kernel.sh builds the UML kernel with exactly this
 * size: UML 6.1 hard-codes 2696 bytes (AVX-512), and the host kernel refuses PTRACE_SETREGSET
 * with EFAULT unless the buffer is the whole area ("A whole standard-format XSAVE buffer is
 * needed", arch/x86/kernel/fpu/regset.c). On a CPU with AMX the area is 11008 bytes, and every
 * guest died at its first exec: "userspace - ptrace set fp regs failed, errno = 14".
 */
#include <elf.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	static unsigned char buf[1 << 17];
	struct iovec iov = { buf, sizeof(buf) };
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return 1;
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status))
		return 1;
	if (ptrace(PTRACE_GETREGSET, pid, NT_X86_XSTATE, &iov) < 0)
		iov.iov_len = 0;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	printf("%zu\n", iov.iov_len);
	return 0;
}
