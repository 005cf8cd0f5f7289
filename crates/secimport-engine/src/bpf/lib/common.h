/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every part of the kernel side shares: static settings, counters, the
 * per-CPU scratch area, the per-thread record kept on the task, and small
 * read helpers. Included once, by sandbox.bpf.c, before the other lib/ files.
 */
#ifndef SECIMPORT_LIB_COMMON_H
#define SECIMPORT_LIB_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sandbox.h"

#define SIGKILL 9
#define SIGSTOP 19

/* Static settings, written by the loader between open() and load(). */
const volatile enum si_mode mode = MODE_TRACE;
const volatile enum si_unknown_rule unknown_rule = UNKNOWN_BASE_ONLY;
const volatile __u32 max_depth = 1 << 16;
const volatile __u32 supervisor_tgid = 0;
/* Guards: a clone/clone3 that starts a thread is not judged (it is not a
 * shell); its thread still inherits the creator's modules. */
const volatile __u32 thread_clone_exempt = 0;
/* Run and trace: base, start-up and frameless never allow a dangerous class.
 * Guards: only the guards' own rules decide. */
const volatile __u32 shared_sets_judge_danger = 1;
/* Guards: the pipe inode of the supervisor's command channel. Code running
 * under a guard may not write to it (0: no channel). */
const volatile __u64 channel_ino = 0;
/* Guards: the secimport binary itself (dev, ino as the kernel sees them). A
 * process of the tree that execs it is another supervisor of the same
 * program (guards of another mode): the tree kill spares it. 0: none. */
const volatile __u64 self_dev = 0;
/* run: announce every source file that gets a dynamic module id (EV_MODULE),
 * so the loader can install the rule of a policy key that names it only by
 * a stable name (a `/tmp/pip-req-build-XXXX` directory made meanwhile). */
const volatile __u32 announce_modules = 0;
const volatile __u64 self_ino = 0;

/* Set once a kill-mode violation happened: every process of the tree is
 * killed at its next syscall. */
__u32 kill_all = 0;
__u32 next_module = MODULE_FIRST_DYNAMIC;

/* One per OS thread, on the task itself: no eviction, freed with the task. */
struct si_task {
	/* Thread-state cache: the states bound to this thread, valid while the
	 * interpreter list and each interpreter's thread-list head are as seen
	 * when it was filled (new states are always inserted at a head). */
	__u64 ts[MAX_TSTATES];
	__u64 interp[MAX_INTERPS];
	__u64 heads[MAX_INTERPS];
	__u32 nts;      /* 0: no cache */
	__u32 ninterp;
	/* Provenance: modules on the creator's stack when this thread was made
	 * (and what the creator had inherited), judged at each of its syscalls. */
	__u32 nprov;
	/* Modules to hand to the thread this one is creating (set at the clone's
	 * entry, taken at sched_process_fork); pend_valid 0: none. */
	__u32 npend;
	__u32 pend_valid;
	/* Depth of C signal handlers this thread is running (signal_deliver ->
	 * rt_sigreturn). */
	__u32 sig_depth;
	__u32 prov[PROV_MAX];
	__u32 pend[PROV_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct si_task);
} tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* One syscall being judged: what the walk found and what was decided. */
struct si_walk_ctx {
	struct si_py_offsets off;
	__u64 frame;
	__u64 last_code;  /* previous frame's code object (recursion shortcut) */
	__u32 last_module;
	__u32 prev_module; /* the module visited before last_module (A-B-A-B stacks) */
	__u32 window;     /* bytes of a frame the walk needs */
	__u32 tgid;
	__u32 nr;
	__u32 depth;      /* frames walked, all thread states */
	__u32 frame_base; /* depth before the current thread state's walk */
	__u32 denied;     /* first module that does not allow nr, or ~0 */
	__u32 check;      /* run modes: judge each module */
	__u32 danger;     /* the syscall is a dangerous class (by number or arguments) */
	__u32 base_ok;    /* nr is in the base set and not dangerous */
	__u32 reasons;    /* enum si_reason bits */
	__u32 truncated;
	__u32 guard;      /* a RULE_GUARD module visited, or ~0 */
	__u32 vkind;      /* enum si_value_kind of the right's values (s->vals) */
};

/* Per-CPU scratch: too big for the 512-byte BPF stack. */
struct si_scratch {
	struct si_filename_key fname;
	__u64 block[STACK_BLOCK / 8]; /* a copy of part of the frame stack */
	__u64 tstate_window[32];      /* PyThreadState from cframe to datastack_chunk */
	__u64 floor;                  /* start of the frame-stack chunk being walked */
	__u64 block_start;            /* its user address; 0: empty */
	__u64 block_len;
	__u64 block_reads;            /* block reads in this walk */
	/* Thread states found for this syscall. */
	__u64 ts[MAX_TSTATES];
	__u64 interp[MAX_INTERPS];
	__u64 heads[MAX_INTERPS];
	__u32 nts;
	__u32 ninterp;
	__u32 uniq[UNIQ_MAX];
	__u32 denied[DENIED_MAX];
	/* Sized to a power of two so a masked index needs no bounds check. */
	__u64 frame_ptrs[32];
	__u64 code_ptrs[32];
	__u32 frame_modules[32];
	/* Distinct modules charged for the current syscall (and whether some
	 * were not remembered). Kept here, not in the walk context, so the
	 * verifier sees an unknown count rather than one state per value. */
	__u32 nuniq;
	__u32 uniq_overflow;
	__u32 ndenied;
	__u32 nframes;
	/* The syscall being judged (bpf_loop callbacks find it here). */
	struct si_walk_ctx w;
	struct si_violation_event ev;
	/* The syscall's argument values (lib/values.h), loaded at entry when
	 * its right carries some; s->nvals of them in vscratch. */
	__u32 nvals;
	__u32 pad_vals;
};

/* Per-CPU scratch of lib/values.h (the main one is near the 32 KiB a
 * per-CPU value may take). */
struct si_vscratch {
	struct si_value vals[MAX_VALUES];
	char pbuf[PATH_BUF];     /* a directory's path, built backwards */
	char joined[2 * VALUE_LEN]; /* directory + '/' + relative path */
	char rel[VALUE_LEN];
	char normed[VALUE_LEN];     /* joined, normalized */
	__u16 comp_at[64];          /* normed's length before each component */
	struct si_path_key pkey;
	struct si_addr_key akey;
	struct si_value_event vev;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct si_vscratch);
} vscratch_map SEC(".maps");

static __always_inline struct si_vscratch *vscratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&vscratch_map, &zero);
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct si_scratch);
} scratch_map SEC(".maps");

static __always_inline struct si_scratch *scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch_map, &zero);
}

static __always_inline void stat_inc(__u32 id)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &id);
	if (v)
		*v += 1;
}

/* 0 on a failed read: callers treat a NULL pointer and an unreadable one alike
 * only where that is safe; the others use read_u64_ok. */
static __always_inline __u64 read_u64(__u64 addr)
{
	__u64 v = 0;
	if (bpf_probe_read_user(&v, sizeof(v), (void *)addr))
		return 0;
	return v;
}

static __always_inline int read_u64_ok(__u64 addr, __u64 *v)
{
	*v = 0;
	return bpf_probe_read_user(v, sizeof(*v), (void *)addr) == 0;
}

static __always_inline __u32 read_u32(__u64 addr)
{
	__u32 v = 0;
	bpf_probe_read_user(&v, sizeof(v), (void *)addr);
	return v;
}

#endif
