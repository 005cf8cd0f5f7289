/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reporting: the one ring buffer of tagged records (process events and
 * violations), the in-kernel dedup of repeated violations and the cap on full
 * reports (log mode), and what happens to the offender (kill / stop, and
 * letting a stopped syscall through once it is continued).
 */
#ifndef SECIMPORT_LIB_REPORT_H
#define SECIMPORT_LIB_REPORT_H

#include "common.h"

#define RING_BYTES (4 << 20)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RING_BYTES);
} events SEC(".maps");

/* More than half the ring is waiting for the supervisor: a flood of
 * violation records yields, so process events (forks, execs, exits) still
 * find room. */
static __always_inline int ring_busy(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > RING_BYTES / 2;
}

/* Log mode: every (process, syscall, first denying module) seen, with its
 * count. Not an LRU: an evicted triple would be reported again, without end
 * under a flood; a triple that does not fit is counted instead
 * (STAT_REPORT_KEYS_OVERFLOW). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, REPORT_KEYS_MAX);
	__type(key, struct si_report_key);
	__type(value, struct si_report_val);
} reported SEC(".maps");

/* Log mode: full records sent so far, and the syscall numbers that had one
 * (the first violation of a syscall is sent in full whatever the cap). */
__u32 full_reports = 0;
__u64 reported_nrs[RIGHT_WORDS] = {};

/* Stop mode: the syscall a thread was stopped at. When the stop interrupted
 * it (clone, a blocking call), SIGCONT makes the kernel restart it: that one
 * re-entry is let through instead of stopping the thread again. */
struct si_stop_mark {
	__u64 ip;      /* user address of the stopped syscall instruction */
	__u32 nr1;     /* the syscall + 1; 0: none */
	__u32 restart; /* the stop interrupted it: it will be made again */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct si_stop_mark);
} stop_marks SEC(".maps");

#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514

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
					    __u64 runtime, __u64 syscalls, struct linux_binprm *bprm,
					    __u32 program)
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
	e->program = program;
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
	f->line_format = r->off.line_format;
	if (f->module == MODULE_SHIM || !code) {
		f->firstlineno = 0;
		f->func[0] = 0;
		f->lasti = -1;
		f->linetable_len = 0;
		f->linetable_size = OFFSET_NONE;
		return 0;
	}
	f->firstlineno = read_u32(code + r->off.code_firstlineno);
	f->func[0] = 0;
	__u64 name = read_u64(code + r->off.code_name);
	if (name)
		bpf_probe_read_user_str(f->func, sizeof(f->func), (void *)(name + r->off.str_ascii_data));

	if (r->off.family == FAMILY_FRAME_OBJECT) {
		/* f_lasti: an int, in the line format's unit (-1: not started). */
		__s32 lasti = -1;
		if (bpf_probe_read_user(&lasti, sizeof(lasti), (void *)(frame + r->off.frame_instr)))
			lasti = -1;
		f->lasti = lasti;
	} else {
		__u64 instr = read_u64(frame + r->off.frame_instr);
		__u64 start = code + r->off.code_adaptive;
		f->lasti = instr >= start ? (__s32)((instr - start) / 2) : -1;
	}

	/* The table's first LINETABLE_MAX bytes, and its whole size (an empty
	 * co_lnotab says something: all on the first line). */
	f->linetable_len = 0;
	f->linetable_size = OFFSET_NONE;
	__u64 lt = 0, len = 0;
	if (read_u64_ok(code + r->off.code_linetable, &lt) && lt &&
	    read_u64_ok(lt + r->off.bytes_size, &len) && len < (1ULL << 31)) {
		__u32 n = len > LINETABLE_MAX ? LINETABLE_MAX : (__u32)len;
		if (n == 0) {
			f->linetable_size = 0;
		} else if (n <= LINETABLE_MAX &&
			   !bpf_probe_read_user(f->linetable, n, (void *)(lt + r->off.bytes_data))) {
			f->linetable_len = n;
			f->linetable_size = (__u32)len;
		}
	}
	return 0;
}

/* Log mode: whether this violation gets a full record. Each (process,
 * syscall, first denying module) gets one, at its first violation that finds
 * fewer than FULL_REPORTS_MAX sent and the ring less than half full; the
 * first violation of each syscall number gets one whatever the count. Every
 * violation is counted exactly once: sent in full, a repeat
 * (STAT_VIOLATIONS_SUPPRESSED, and its triple's count), or not sent because
 * of the cap (STAT_REPORTS_CAPPED) or a busy ring (STAT_REPORTS_THROTTLED). */
static __always_inline int log_full_report(__u32 tgid, __u32 nr, __u32 module)
{
	struct si_report_key k = { .tgid = tgid, .nr = nr, .module = module };
	struct si_report_val *c = bpf_map_lookup_elem(&reported, &k);
	if (c) {
		__sync_fetch_and_add(&c->count, 1);
		/* Not reported in full yet (the ring was busy): now? */
		if (!c->full && full_reports < FULL_REPORTS_MAX && !ring_busy() &&
		    __sync_val_compare_and_swap(&c->full, 0, 1) == 0) {
			__sync_fetch_and_add(&full_reports, 1);
			return 1;
		}
		stat_inc(STAT_VIOLATIONS_SUPPRESSED);
		return 0;
	}
	__u64 bit = 1ULL << (nr & 63);
	__u64 old = __sync_fetch_and_or(&reported_nrs[(nr >> 6) & (RIGHT_WORDS - 1)], bit);
	int first_of_nr = !(old & bit);
	int full = first_of_nr, busy = 0;
	if (!full && full_reports < FULL_REPORTS_MAX) {
		busy = ring_busy();
		full = !busy;
	}
	struct si_report_val v = { .count = 1, .full = full };
	long err = bpf_map_update_elem(&reported, &k, &v, BPF_NOEXIST);
	if (err == -17 /* EEXIST: another CPU inserted it meanwhile */ && !first_of_nr) {
		c = bpf_map_lookup_elem(&reported, &k);
		if (c)
			__sync_fetch_and_add(&c->count, 1);
		stat_inc(STAT_VIOLATIONS_SUPPRESSED);
		return 0;
	}
	if (err && err != -17)
		stat_inc(STAT_REPORT_KEYS_OVERFLOW); /* full: not remembered */
	if (!full) {
		stat_inc(busy ? STAT_REPORTS_THROTTLED : STAT_REPORTS_CAPPED);
		return 0;
	}
	__sync_fetch_and_add(&full_reports, 1);
	return 1;
}

/* Sends the violation with the stack the walk saved (the scratch area's
 * walk context). In log mode see log_full_report; kill and stop mode report
 * every violation (each ends or stops its process). A global function:
 * verified once. */
__noinline int report_violation(__u32 module, struct si_task *t)
{
	struct si_scratch *s = scratch();
	if (!s)
		return 0;
	struct si_walk_ctx *w = &s->w;

	stat_inc(STAT_VIOLATIONS);
	if (mode == MODE_LOG && !log_full_report(w->tgid, w->nr, module))
		return 0;

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

	__u32 nv = s->nvals;
	struct si_vscratch *vs = vscratch();
	ev->nvalues = vs && nv < MAX_VALUES ? nv : (vs ? MAX_VALUES : 0);
	if (vs)
		__builtin_memcpy(ev->values, vs->vals, sizeof(ev->values));

	struct si_report_ctx r = { .off = w->off, .nframes = ev->nframes };
	bpf_loop(REPORT_FRAMES, report_step, &r, 0);

	/* Only the frames filled in: a shallow stack is a small record. */
	__u64 size = sizeof(*ev) - sizeof(ev->frames) +
		     (__u64)(ev->nframes & 31) * sizeof(ev->frames[0]);
	if (size > sizeof(*ev))
		size = sizeof(*ev);
	if (bpf_ringbuf_output(&events, ev, size, 0))
		stat_inc(STAT_EVENTS_LOST);
	return 0;
}

/* Trace mode: the values of a value-carrying syscall, with every module
 * charged with it (the walk's distinct modules). A global function. */
__noinline int report_values(void)
{
	struct si_scratch *s = scratch();
	struct si_vscratch *vs = vscratch();
	if (!s || !vs || ring_busy())
		return 0;
	struct si_value_event *e = &vs->vev;
	fill_hdr(&e->hdr, EV_VALUE);
	e->nr = s->w.nr;
	__u32 nv = s->nvals;
	e->nvalues = nv < MAX_VALUES ? nv : MAX_VALUES;
	__builtin_memcpy(e->values, vs->vals, sizeof(e->values));
	__u32 nm = s->nuniq;
	e->nmods = nm < UNIQ_MAX ? nm : UNIQ_MAX;
	__builtin_memcpy(e->mods, s->uniq, sizeof(e->mods));
	if (bpf_ringbuf_output(&events, e, sizeof(*e), 0))
		stat_inc(STAT_EVENTS_LOST);
	return 0;
}

static __always_inline void enforce(__u32 nr, struct pt_regs *regs)
{
	if (mode == MODE_KILL) {
		kill_all = 1;
		bpf_send_signal(SIGKILL);
	} else if (mode == MODE_STOP) {
		struct si_stop_mark *m = bpf_task_storage_get(&stop_marks, bpf_get_current_task_btf(),
							      0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (m) {
			m->nr1 = nr + 1;
			m->restart = 0;
			m->ip = BPF_CORE_READ(regs, ip);
		}
		/* To this thread: it takes the SIGSTOP itself (the whole process
		 * stops), so stop_delivered sees how its syscall ended. */
		bpf_send_signal_thread(SIGSTOP);
	}
}

/* Stop mode, at the delivery of a SIGSTOP: did the stop interrupt the syscall
 * the thread was stopped at? Then SIGCONT restarts it (no handler runs for
 * SIGSTOP) and that re-entry is let through. Otherwise the syscall completed
 * and nothing is pending. */
static __always_inline void stop_delivered(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct si_stop_mark *m = bpf_task_storage_get(&stop_marks, task, 0, 0);
	if (!m || !m->nr1)
		return;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	long ax = BPF_CORE_READ(regs, ax);
	long orig = BPF_CORE_READ(regs, orig_ax);
	if (orig == (long)m->nr1 - 1 &&
	    (ax == -ERESTARTSYS || ax == -ERESTARTNOINTR || ax == -ERESTARTNOHAND))
		m->restart = 1;
	else
		m->nr1 = 0;
}

/* Stop mode, at a syscall that is judged: 1 if it is the restart of the
 * syscall this thread was stopped at (same number, same place, the first
 * judged syscall after the stop). The mark is used up either way. */
static __always_inline int stop_resuming(__u32 nr, struct pt_regs *regs)
{
	if (mode != MODE_STOP)
		return 0;
	struct si_stop_mark *m = bpf_task_storage_get(&stop_marks, bpf_get_current_task_btf(), 0, 0);
	if (!m || !m->nr1)
		return 0;
	int again = m->restart && m->nr1 == nr + 1 && m->ip == BPF_CORE_READ(regs, ip);
	m->nr1 = 0;
	m->restart = 0;
	return again;
}

/* The stopped syscall was let through after SIGCONT: say so. */
static __always_inline void report_resumed(__u32 nr)
{
	stat_inc(STAT_RESUMED);
	struct si_resume_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(STAT_EVENTS_LOST);
		return;
	}
	fill_hdr(&e->hdr, EV_RESUMED);
	e->nr = nr;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
}

#endif
