/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Arguments: which right a syscall is. Most syscalls are their own number;
 * the argument classes (rights.h, generated from the policy crate's
 * rights_table.rs) split a syscall by its register arguments, or by the
 * address family its sockaddr argument points to:
 *
 *   open/openat/openat2 with a write, create, truncate or append flag;
 *   clone/clone3 starting a process (no CLONE_THREAD);
 *   kill/tgkill/tkill aimed at another process or thread;
 *   socket by family; connect/bind by the family of the address;
 *   sendto/sendmsg with a destination address, by its family;
 *   mmap/mprotect/pkey_mprotect with PROT_EXEC;
 *   ioctl TIOCSTI/TIOCLINUX; prctl PR_SET_DUMPABLE/PR_SET_PTRACER;
 *   fcntl F_SETOWN/F_SETOWN_EX/F_SETSIG.
 *
 * What cannot be read is classed the dangerous way (an unreadable clone_args
 * starts a process; an unreadable address is of the `other` family). Pointer
 * arguments are read at syscall entry: another thread may change them before
 * the kernel reads them (the TOCTOU limit of any entry-time check, see
 * docs/security.md).
 */
#ifndef SECIMPORT_LIB_ARGS_H
#define SECIMPORT_LIB_ARGS_H

#include "common.h"

#define CLONE_THREAD_FLAG 0x00010000
/* O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND (O_TMPFILE needs one of
 * the first two). */
#define OPEN_WRITE_FLAGS (01 | 02 | 0100 | 01000 | 02000)
#define PROT_EXEC_FLAG 4
#define AF_UNIX_ 1
#define AF_INET_ 2
#define AF_INET6_ 10
#define AF_NETLINK_ 16
#define AF_PACKET_ 17
#define TIOCSTI_ 0x5412
#define TIOCLINUX_ 0x541C
#define PR_SET_DUMPABLE_ 4
#define PR_SET_PTRACER_ 0x59616d61
#define F_SETOWN_ 8
#define F_SETSIG_ 10
#define F_SETOWN_EX_ 15

static __always_inline __u32 family_class(__u32 family, __u32 unix, __u32 inet, __u32 other)
{
	if (family == AF_UNIX_)
		return unix;
	if (family == AF_INET_ || family == AF_INET6_)
		return inet;
	return other;
}

/* The family of the sockaddr at `addr` (0 when unreadable). */
static __always_inline __u32 sockaddr_family(__u64 addr)
{
	__u16 family = 0;
	if (!addr || bpf_probe_read_user(&family, sizeof(family), (void *)addr))
		return 0;
	return family;
}

/* The right syscall `nr` with these arguments is. */
static __always_inline __u32 right_of(__u32 nr, struct pt_regs *regs, __u32 tgid)
{
	__u64 v = 0;
	switch (nr) {
	case SI_NR_open:
		return BPF_CORE_READ(regs, si) & OPEN_WRITE_FLAGS ? RIGHT_OPEN_WRITE : nr;
	case SI_NR_openat:
		return BPF_CORE_READ(regs, dx) & OPEN_WRITE_FLAGS ? RIGHT_OPENAT_WRITE : nr;
	case SI_NR_openat2:
		/* struct open_how starts with the flags */
		if (!read_u64_ok(BPF_CORE_READ(regs, dx), &v))
			return RIGHT_OPENAT2_WRITE;
		return v & OPEN_WRITE_FLAGS ? RIGHT_OPENAT2_WRITE : nr;
	case SI_NR_clone:
		return BPF_CORE_READ(regs, di) & CLONE_THREAD_FLAG ? nr : RIGHT_CLONE_PROCESS;
	case SI_NR_clone3:
		/* struct clone_args starts with the flags */
		if (!read_u64_ok(BPF_CORE_READ(regs, di), &v))
			return RIGHT_CLONE3_PROCESS;
		return v & CLONE_THREAD_FLAG ? nr : RIGHT_CLONE3_PROCESS;
	case SI_NR_kill:
	case SI_NR_tgkill:
		if ((__s32)BPF_CORE_READ(regs, di) == (__s32)tgid)
			return nr;
		return nr == SI_NR_kill ? RIGHT_KILL_OTHER : RIGHT_TGKILL_OTHER;
	case SI_NR_tkill:
		if ((__u32)BPF_CORE_READ(regs, di) == (__u32)bpf_get_current_pid_tgid())
			return nr;
		return RIGHT_TKILL_OTHER;
	case SI_NR_socket: {
		__u32 family = BPF_CORE_READ(regs, di);
		if (family == AF_NETLINK_)
			return RIGHT_SOCKET_NETLINK;
		if (family == AF_PACKET_)
			return RIGHT_SOCKET_PACKET;
		return family_class(family, RIGHT_SOCKET_UNIX, RIGHT_SOCKET_INET, RIGHT_SOCKET_OTHER);
	}
	case SI_NR_connect:
		return family_class(sockaddr_family(BPF_CORE_READ(regs, si)), RIGHT_CONNECT_UNIX,
				    RIGHT_CONNECT_INET, RIGHT_CONNECT_OTHER);
	case SI_NR_bind:
		return family_class(sockaddr_family(BPF_CORE_READ(regs, si)), RIGHT_BIND_UNIX,
				    RIGHT_BIND_INET, RIGHT_BIND_OTHER);
	case SI_NR_sendto: {
		__u64 addr = BPF_CORE_READ(regs, r8);
		if (!addr)
			return nr;
		return family_class(sockaddr_family(addr), RIGHT_SENDTO_UNIX, RIGHT_SENDTO_INET,
				    RIGHT_SENDTO_OTHER);
	}
	case SI_NR_sendmsg: {
		/* struct msghdr starts with msg_name */
		__u64 msg = BPF_CORE_READ(regs, si);
		if (!read_u64_ok(msg, &v))
			return RIGHT_SENDMSG_OTHER;
		if (!v)
			return nr;
		return family_class(sockaddr_family(v), RIGHT_SENDMSG_UNIX, RIGHT_SENDMSG_INET,
				    RIGHT_SENDMSG_OTHER);
	}
	case SI_NR_mmap:
		return BPF_CORE_READ(regs, dx) & PROT_EXEC_FLAG ? RIGHT_MMAP_EXEC : nr;
	case SI_NR_mprotect:
		return BPF_CORE_READ(regs, dx) & PROT_EXEC_FLAG ? RIGHT_MPROTECT_EXEC : nr;
	case SI_NR_pkey_mprotect:
		return BPF_CORE_READ(regs, dx) & PROT_EXEC_FLAG ? RIGHT_PKEY_MPROTECT_EXEC : nr;
	case SI_NR_ioctl: {
		__u32 op = BPF_CORE_READ(regs, si);
		return op == TIOCSTI_ || op == TIOCLINUX_ ? RIGHT_IOCTL_TTY_INJECT : nr;
	}
	case SI_NR_prctl: {
		/* The kernel reads the option as an int: so do we (the high bits
		 * of the register cannot hide a PR_SET_DUMPABLE). */
		__u32 op = BPF_CORE_READ(regs, di);
		if (op == PR_SET_DUMPABLE_)
			return RIGHT_PRCTL_DUMPABLE;
		return op == PR_SET_PTRACER_ ? RIGHT_PRCTL_PTRACER : nr;
	}
	case SI_NR_fcntl: {
		__u32 op = BPF_CORE_READ(regs, si);
		return op == F_SETOWN_ || op == F_SETOWN_EX_ || op == F_SETSIG_ ? RIGHT_FCNTL_SETOWN : nr;
	}
	}
	return nr;
}

#endif
