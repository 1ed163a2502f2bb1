/*
 * protect-clock COMMAND [ARG...]
 *
 * Runs COMMAND as systemd runs a unit with ProtectClock=yes, as far as the clock goes: a seccomp
 * filter makes adjtimex(2) and clock_adjtime(2) fail with EPERM (even a read-only query, modes 0,
 * which is why the daemon then falls back to systemd-timesyncd's flag file), every other system
 * call is allowed. The filter is inherited across execvp and by every child. Test equipment only.
 *
 * Exit status: COMMAND's (it replaces this process); 64 bad usage; 71 the filter could not be
 * installed (the test says why it skips); 127 COMMAND could not be executed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "protect-clock: only x86-64 and AArch64 are supported"
#endif

/* x32 system calls on x86-64 carry this bit; on AArch64 no number reaches it. */
#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT 0x40000000
#endif

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: protect-clock COMMAND [ARG...]\n");
    return 64;
  }
  /*
   * System call numbers are per ABI, so the filter first checks the architecture: a call from any
   * other ABI (i386 compat, x32) could be adjtimex under another number, and is killed rather than
   * let through (the layout of seccomp(2)'s example).
   */
  struct sock_filter filter[] = {
      /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 0, 6),
      /* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      /* 3 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, __X32_SYSCALL_BIT, 4, 0),
      /* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_adjtimex, 2, 0),
      /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clock_adjtime, 1, 0),
      /* 6 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      /* 7 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      /* 8 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
  };
  struct sock_fprog program = {
      .len = (unsigned short)(sizeof(filter) / sizeof(filter[0])),
      .filter = filter,
  };
  /* Without CAP_SYS_ADMIN the kernel only accepts a filter from a process that can gain no privileges. */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    fprintf(stderr, "protect-clock: prctl(PR_SET_NO_NEW_PRIVS): %s\n", strerror(errno));
    return 71;
  }
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0) {
    fprintf(stderr, "protect-clock: seccomp(SECCOMP_SET_MODE_FILTER): %s\n", strerror(errno));
    return 71;
  }
  execvp(argv[1], argv + 1);
  fprintf(stderr, "protect-clock: %s: %s\n", argv[1], strerror(errno));
  return 127;
}
