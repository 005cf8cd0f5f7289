/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reporting: the one ring buffer of tagged records (process events and
 * violations), the in-kernel dedup of repeated violations, and what happens
 * to the offender (kill / stop).
 */
#ifndef SECIMPORT_LIB_REPORT_H
#define SECIMPORT_LIB_REPORT_H

#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct si_report_key);
	__type(value, __u64);
} reported SEC(".maps");

static __always_inline void fill_hdr(struct si_event_hdr *h, enum si_event_type type)
{
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	h->type = type;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->ppid = BPF_CORE_READ(t, real_parent, tgid);
	h->ts_ns = bpf_ktime_get_boot_ns();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

static __always_inline void emit_proc_event(enum si_event_type type, enum si_proc_kind kind, __s32 code,
					    __u64 runtime, __u64 syscalls, struct linux_binprm *bprm)
{
	struct si_proc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(STAT_EVENTS_LOST);
		return;
	}
	fill_hdr(&e->hdr, type);
	e->kind = kind;
	e->exit_code = code;
	e->runtime = runtime;
	e->syscalls = syscalls;
	e->filename[0] = 0;
	if (bprm)
		bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));
	bpf_ringbuf_submit(e, 0);
}

/* Fill frame `i` of the pending violation event from what the walk saved. */
struct si_report_ctx {
	struct si_py_offsets off;
	__u32 nframes;
};

static long report_step(__u32 i, struct si_report_ctx *r)
{
	struct si_scratch *s = scratch();
	if (!s || i >= r->nframes || i >= REPORT_FRAMES)
		return 1;
	struct si_frame_info *f = &s->ev.frames[i];
	__u64 code = s->code_ptrs[i];
	__u64 frame = s->frame_ptrs[i];

	f->code = code;
	f->module = s->frame_modules[i];
	f->firstlineno = read_u32(code + r->off.code_firstlineno);
	f->func[0] = 0;
	__u64 name = read_u64(code + r->off.code_qualname);
	if (name)
		bpf_probe_read_user_str(f->func, sizeof(f->func), (void *)(name + r->off.str_ascii_data));

	__u64 instr = read_u64(frame + r->off.frame_prev_instr);
	__u64 start = code + r->off.code_adaptive;
	f->lasti = instr >= start ? (__s32)((instr - start) / 2) : -1;

	f->linetable_len = 0;
	__u64 lt = read_u64(code + r->off.code_linetable);
	if (lt) {
		__u64 len = read_u64(lt + r->off.bytes_size);
		__u32 n = len > LINETABLE_MAX ? LINETABLE_MAX : (__u32)len;
		if (n > 0 && n <= LINETABLE_MAX &&
		    !bpf_probe_read_user(f->linetable, n, (void *)(lt + r->off.bytes_data)))
			f->linetable_len = n;
	}
	return 0;
}

/* Sends the violation with the stack the walk saved (the scratch area's
 * walk context). In log mode one full report per (process, syscall, first
 * denying module); repeats are counted. A global function: verified once. */
__noinline int report_violation(__u32 module, struct si_task *t)
{
	struct si_scratch *s = scratch();
	if (!s)
		return 0;
	struct si_walk_ctx *w = &s->w;

	stat_inc(STAT_VIOLATIONS);
	if (mode == MODE_LOG) {
		struct si_report_key k = { .tgid = w->tgid, .nr = w->nr, .module = module };
		__u64 one = 1, *c = bpf_map_lookup_elem(&reported, &k);
		if (c) {
			__sync_fetch_and_add(c, 1);
			stat_inc(STAT_VIOLATIONS_SUPPRESSED);
			return 0;
		}
		bpf_map_update_elem(&reported, &k, &one, BPF_ANY);
	}

	struct si_violation_event *ev = &s->ev;
	fill_hdr(&ev->hdr, EV_VIOLATION);
	ev->nr = w->nr;
	ev->module = module;
	ev->depth = w->depth;
	ev->truncated = w->truncated;
	ev->action = mode;
	ev->reasons = w->reasons;
	ev->nframes = s->nframes < REPORT_FRAMES ? s->nframes : REPORT_FRAMES;
	__u32 nd = s->ndenied;
	ev->ndenied = nd < DENIED_MAX ? nd : DENIED_MAX;
	__builtin_memcpy(ev->denied, s->denied, sizeof(ev->denied));
	ev->ninherited = 0;
	if (t) {
		__u32 np = t->nprov;
		ev->ninherited = np < PROV_MAX ? np : PROV_MAX;
		__builtin_memcpy(ev->inherited, t->prov, sizeof(ev->inherited));
	}

	struct si_report_ctx r = { .off = w->off, .nframes = ev->nframes };
	bpf_loop(REPORT_FRAMES, report_step, &r, 0);

	if (bpf_ringbuf_output(&events, ev, sizeof(*ev), 0))
		stat_inc(STAT_EVENTS_LOST);
	return 0;
}

static __always_inline void enforce(void)
{
	if (mode == MODE_KILL) {
		kill_all = 1;
		bpf_send_signal(SIGKILL);
	} else if (mode == MODE_STOP) {
		bpf_send_signal(SIGSTOP);
	}
}

#endif
