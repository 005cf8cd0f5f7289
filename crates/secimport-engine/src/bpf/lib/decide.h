/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The decision: the policy's rules per module, the dangerous rights, and the
 * allow/deny rule itself. Every syscall is judged as the right it is
 * (lib/args.h: its number, or an argument class such as openat:write):
 *
 *   a syscall is allowed when it is in NOWALK (the fixed harmless set), or when
 *   every module that could have asked for it allows it: every module on the
 *   stacks of every thread state bound to the calling thread, the modules the
 *   thread inherited from its creator, and, with no frame at all, the
 *   start-up or frameless bucket. A module the policy covers allows its own
 *   list and the base set; one it does not cover follows the unknown rule;
 *   what could not be seen (truncated, unreadable, overflow) counts as an
 *   unknown module. Base, start-up and frameless never allow a dangerous
 *   class; only a module's own list (or `children`) can.
 *
 * Trace mode charges the same modules with the syscall instead of judging.
 */
#ifndef SECIMPORT_LIB_DECIDE_H
#define SECIMPORT_LIB_DECIDE_H

#include "common.h"
#include "args.h"
#include "values.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_MODULES);
	__type(key, __u32);
	__type(value, struct si_module_rule);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1 << 18);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct si_trace_key);
	__type(value, __u64);
} trace_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNT_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct si_count_slot);
} count_cache SEC(".maps");

static __always_inline int rule_bit(struct si_module_rule *r, __u32 nr)
{
	return (r->allow[(nr / 64) & (RIGHT_WORDS - 1)] >> (nr % 64)) & 1;
}

static __always_inline int set_has(__u32 set, __u32 nr)
{
	struct si_module_rule *r = bpf_map_lookup_elem(&rules, &set);
	return r && rule_bit(r, nr);
}

/* The dangerous classes: never allowed by base, start-up or frameless. One
 * set of rights (rules[MODULE_DANGEROUS], from the policy crate): syscalls
 * dangerous by number (exec, process creation, ptrace, memfd, io_uring, bpf,
 * mount, file-system changes, ...) and the dangerous argument classes
 * (lib/args.h): open for writing, clone of a process, signals to others,
 * sockets, addressed sends, ... */
static __always_inline int is_dangerous(__u32 right)
{
	return set_has(MODULE_DANGEROUS, right);
}

#define PIPEFS_MAGIC 0x50495045

/* The descriptor a write-family syscall writes to, or -1. */
static __always_inline int written_fd(__u32 nr, struct pt_regs *regs)
{
	switch (nr) {
	case SI_NR_write:
	case SI_NR_pwrite64:
	case SI_NR_writev:
	case SI_NR_sendfile: /* (out_fd, ...) */
	case SI_NR_vmsplice:
	case SI_NR_pwritev:
	case SI_NR_pwritev2:
		return BPF_CORE_READ(regs, di);
	case SI_NR_tee: /* (in, out, ...) */
		return BPF_CORE_READ(regs, si);
	case SI_NR_splice:          /* (in, off_in, out, ...) */
	case SI_NR_copy_file_range: /* (in, off_in, out, ...) */
		return BPF_CORE_READ(regs, dx);
	}
	return -1;
}

/* Does this syscall write to the guards' command channel? */
static __always_inline int writes_channel(__u32 nr, struct pt_regs *regs)
{
	int fd = written_fd(nr, regs);
	if (!channel_ino || fd < 0)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return 0;
	return BPF_CORE_READ(f, f_inode, i_sb, s_magic) == PIPEFS_MAGIC &&
	       BPF_CORE_READ(f, f_inode, i_ino) == channel_ino;
}

/* Does `module` let the syscall through? */
static __always_inline int module_allows(struct si_walk_ctx *w, __u32 module)
{
	struct si_module_rule *r = bpf_map_lookup_elem(&rules, &module);
	if (!r)
		return 0;
	switch (module) {
	case MODULE_FRAMELESS:
	case MODULE_STARTUP:
		return rule_bit(r, w->nr) && !(w->danger && shared_sets_judge_danger);
	case MODULE_NON_PYTHON:
		return rule_bit(r, w->nr);
	}
	if (r->present) {
		if (r->flags & RULE_PROGRAM)
			return rule_bit(r, w->nr);
		if (!rule_bit(r, w->nr))
			return w->base_ok;
		/* Its own list allows the right: with its values, if it restricts them. */
		if (w->vkind && (r->restricted & (1u << (w->vkind & 31)))) {
			struct si_scratch *s = scratch();
			__u32 n = s ? s->nvals : 0;
			for (__u32 i = 0; i < MAX_VALUES; i++) {
				if (i >= n)
					break;
				if (!value_matches(module, i)) {
					w->reasons |= REASON_VALUE;
					return 0;
				}
			}
		}
		return 1;
	}
	if (unknown_rule == UNKNOWN_ALLOW)
		return 1;
	return unknown_rule == UNKNOWN_BASE_ONLY && w->base_ok;
}

static __always_inline void count_hash(__u32 module, __u32 nr, __u64 n)
{
	struct si_trace_key k = { .module = module, .nr = nr };
	__u64 *c = bpf_map_lookup_elem(&trace_counts, &k);
	if (c)
		*c += n;
	else
		bpf_map_update_elem(&trace_counts, &k, &n, BPF_ANY);
}

static __always_inline void count_trace(__u32 module, __u32 nr)
{
	__u32 slot = (module * 512 + nr) * 2654435761u >> 20;
	slot &= COUNT_CACHE_SLOTS - 1;
	struct si_count_slot *c = bpf_map_lookup_elem(&count_cache, &slot);
	if (!c) {
		count_hash(module, nr, 1);
		return;
	}
	if (c->count && c->module == module && c->nr == nr) {
		c->count += 1;
		return;
	}
	if (c->count)
		count_hash(c->module, c->nr, c->count);
	c->module = module;
	c->nr = nr;
	c->count = 1;
}

struct si_uniq_ctx {
	__u32 module;
	__u32 n;
	__u32 found;
};

static long uniq_step(__u32 i, struct si_uniq_ctx *u)
{
	if (i >= u->n)
		return 1;
	struct si_scratch *s = scratch();
	if (!s)
		return 1;
	if (s->uniq[i & (UNIQ_MAX - 1)] == u->module) {
		u->found = 1;
		return 1;
	}
	return 0;
}

static __always_inline void reason_of(struct si_walk_ctx *w, __u32 module)
{
	switch (module) {
	case MODULE_TRUNCATED:
		w->reasons |= REASON_TRUNCATED;
		break;
	case MODULE_UNREADABLE:
		w->reasons |= REASON_UNREADABLE;
		break;
	case MODULE_OVERFLOW:
		w->reasons |= REASON_OVERFLOW;
		break;
	case MODULE_FRAMELESS:
		w->reasons |= REASON_FRAMELESS;
		break;
	case MODULE_STARTUP:
		w->reasons |= REASON_FRAMELESS | REASON_STARTUP;
		break;
	}
}

/* Charge one module (once per syscall) and, in run modes, judge it. A global
 * function: the verifier checks it once, not at every call site. */
__noinline int visit_module(struct si_walk_ctx *w, __u32 module)
{
	struct si_scratch *s = scratch();
	if (!s || !w)
		return 0;
	struct si_uniq_ctx u = { .module = module, .n = s->nuniq };
	if (u.n)
		bpf_loop(UNIQ_MAX, uniq_step, &u, 0);
	if (u.found)
		return 0;
	/* Past UNIQ_MAX distinct modules a module may be charged twice for one
	 * syscall (counts grow, sets stay right); a thread created now inherits
	 * MODULE_OVERFLOW for the ones not remembered. */
	if (u.n < UNIQ_MAX) {
		s->uniq[u.n & (UNIQ_MAX - 1)] = module;
		s->nuniq = u.n + 1;
	} else {
		s->uniq_overflow = 1;
	}
	reason_of(w, module);
	if (channel_ino && w->guard == ~0U) {
		struct si_module_rule *r = bpf_map_lookup_elem(&rules, &module);
		if (r && r->present && (r->flags & RULE_GUARD))
			w->guard = module;
	}
	if (mode == MODE_TRACE) {
		count_trace(module, w->nr);
		return 0;
	}
	if (w->check && !module_allows(w, module)) {
		if (w->denied == ~0U)
			w->denied = module;
		__u32 nd = s->ndenied;
		if (nd < DENIED_MAX) {
			s->denied[nd & (DENIED_MAX - 1)] = module;
			s->ndenied = nd + 1;
		}
	}
	return 0;
}

#endif
