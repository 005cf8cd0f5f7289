// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * secimport's kernel side. Nothing runs per Python call: the cost is paid only
 * at syscalls of the sandboxed tree, and nothing at all for the fixed set of
 * harmless syscalls (NOWALK). For every other syscall of a Python process:
 *
 *   1. the modules the thread inherited from its creator are visited;
 *   2. every PyThreadState bound to the thread is found (lib/pystate.h) and
 *      its whole frame chain walked (lib/walk.h), each module visited once;
 *   3. with no frame at all, the start-up or frameless bucket is visited;
 *   4. each visit charges the module (trace) or judges it (lib/decide.h);
 *   5. a denial is reported with the stack (lib/report.h) and enforced
 *      (in stop mode, the restart of a syscall the stop interrupted is let
 *      through once after SIGCONT).
 *
 * The process tree and the hand-over of modules to new threads and processes
 * are in lib/proc.h. What cannot be seen is visited as a pseudo-module judged
 * by the unknown rule: nothing is ever allowed because it could not be seen.
 */
#include "lib/common.h"
#include "lib/report.h"
#include "lib/args.h"
#include "lib/decide.h"
#include "lib/walk.h"
#include "lib/pystate.h"
#include "lib/proc.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Anchors: these types reach the skeleton (and so Rust) through the BTF. */
struct si_proc_event _proc_event = {};
struct si_violation_event _violation_event = {};
enum si_module_id _module_id = MODULE_FRAMELESS;
enum si_stat_id _stat_id = STAT_SYSCALLS;
enum si_reason _reason = REASON_DANGEROUS;
enum si_rule_flags _rule_flags = RULE_GUARD;
enum si_limit _limit = REPORT_KEYS_MAX;
struct si_report_val _report_val = {};
struct si_resume_event _resume_event = {};
struct si_value_event _value_event = {};
struct si_module_event _module_event = {};
struct si_path_key _path_key = {};
struct si_addr_key _addr_key = {};
enum si_value_kind _value_kind = VALUE_NONE;
enum si_path_pattern _path_pattern = PATTERN_EXACT;
enum si_value_flags _value_flags = VALUE_UNRESOLVED;
enum si_addr_key_bits _addr_key_bits = ADDR_KEY_FIXED_BITS;
enum si_frame_family _frame_family = FAMILY_FRAME_OBJECT;
enum si_line_format _line_format = LINES_LNOTAB;
enum si_offset_none _offset_none = OFFSET_NONE;

/* A C signal handler starts running on this thread (CPython's writes one byte
 * to the wakeup fd; that write is not the interrupted frames' doing). */
SEC("tp_btf/signal_deliver")
int BPF_PROG(on_signal_deliver, int sig, struct kernel_siginfo *info, struct k_sigaction *ka)
{
	/* Stop mode: how the syscall the stop was sent at ended. */
	if (mode == MODE_STOP && sig == SIGSTOP)
		stop_delivered();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!bpf_map_lookup_elem(&procs, &tgid) || !ka)
		return 0;
	unsigned long handler = (unsigned long)BPF_CORE_READ(ka, sa.sa_handler);
	if (handler <= 1)
		return 0; /* SIG_DFL, SIG_IGN: no handler runs */
	struct si_task *t = bpf_task_storage_get(&tasks, bpf_get_current_task_btf(), 0,
						 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (t && t->sig_depth < 64)
		t->sig_depth++;
	return 0;
}

/* Modules the thread was handed by its creator. A global function: verified
 * once, not along every path of the caller. */
__noinline int visit_inherited(struct si_task *t)
{
	struct si_scratch *s = scratch();
	if (!s || !t)
		return 0;
	struct si_walk_ctx *w = &s->w;
	__u32 n = t->nprov;
	if (!n)
		return 0;
	w->reasons |= REASON_INHERITED;
	for (int i = 0; i < PROV_MAX; i++) {
		if (i >= n)
			break;
		__u32 m = t->prov[i];
		if (m != MODULE_FRAMELESS && m != MODULE_STARTUP)
			visit_module(w, m);
	}
	return 0;
}

/* What a thread being created now will inherit: every module visited for
 * this clone (the no-frame buckets among them are skipped when inherited:
 * the child visits its own). What does not fit is MODULE_OVERFLOW. */
static __always_inline void remember_for_child(struct si_task *t)
{
	struct si_scratch *s = scratch();
	if (!s || !t)
		return;
	__u32 n = s->nuniq;
	__builtin_memcpy(t->pend, s->uniq, sizeof(t->pend));
	if (n > PROV_MAX || s->uniq_overflow) {
		t->pend[PROV_MAX - 1] = MODULE_OVERFLOW;
		n = PROV_MAX;
	}
	t->npend = n;
	t->pend_valid = 1;
}

/* Whether the calling thread has a Python frame in one of its thread
 * states, inherited modules, or states that cannot be seen (then judged as
 * unknown): 0 when a walk would find nothing and visit a bucket, and also
 * when the walk has something to learn: a top frame the interpreter owns
 * (which may have no real frame below it) or whose code object is not in
 * the code cache (a file met for the first time gets its module id, and its
 * rule, at a walk: the earlier, the better). */
__noinline int has_python_context(struct si_task *t, __u32 tgid, __u64 runtime, struct si_pyconf *conf)
{
	struct si_scratch *s = scratch();
	if (!s || !conf)
		return 0;
	if (t && t->nprov)
		return 1;
	if (find_tstates(t, runtime, &conf->off) != SCAN_OK)
		return 1;
	__u64 fsbase = bpf_get_current_task_btf()->thread.fsbase;
	for (int k = 0; k < MAX_TSTATES; k++) {
		if (k >= s->nts)
			break;
		__u64 frame = 0, floor = 0;
		if (tstate_frame(s->ts[k & (MAX_TSTATES - 1)], fsbase, &conf->off, &frame, &floor) < 0)
			return 0; /* stale: the full path rescans */
		if (!frame)
			continue;
		__u32 size = conf->frame_window;
		if (size == 0 || size > FRAME_WINDOW_MAX ||
		    bpf_probe_read_user(s->block, size, (void *)frame))
			return 0;
		const struct si_py_offsets *off = &conf->off;
		if (off->owner_skip != OFFSET_NONE &&
		    ((__u8 *)s->block)[off->frame_owner & (FRAME_WINDOW_MAX - 1)] >= off->owner_skip)
			return 0;
		__u64 code = s->block[(off->frame_code / 8) & (FRAME_WINDOW_MAX / 8 - 1)];
		__u64 globals = s->block[(off->frame_globals / 8) & (FRAME_WINDOW_MAX / 8 - 1)];
		code &= ~(__u64)off->code_tag_bits;
		return code_cached(tgid, code, globals);
	}
	return 0;
}

/* Visits the frames of every thread state of the calling thread. Returns
 * how the states were found (enum si_scan_result). */
__noinline int visit_frames(struct si_task *t, __u64 runtime, struct si_pyconf *conf)
{
	struct si_scratch *s = scratch();
	if (!s || !conf)
		return SCAN_UNREADABLE;
	struct si_walk_ctx *w = &s->w;
	__u64 fsbase = bpf_get_current_task_btf()->thread.fsbase;
	w->off = conf->off;
	w->window = conf->frame_window;
	for (int attempt = 0; attempt < 2; attempt++) {
		enum si_scan_result res = find_tstates(attempt ? 0 : t, runtime, &conf->off);
		if (res != SCAN_OK)
			return res;
		int stale = 0;
		for (int k = 0; k < MAX_TSTATES; k++) {
			if (k >= s->nts)
				break;
			__u64 ts = s->ts[k & (MAX_TSTATES - 1)], frame, floor;
			if (tstate_frame(ts, fsbase, &conf->off, &frame, &floor) < 0) {
				stale = 1;
				break;
			}
			walk_frames(frame, floor);
		}
		if (!stale)
			return SCAN_OK;
		if (t)
			t->nts = 0; /* freed or rebound meanwhile: scan again */
	}
	return SCAN_UNREADABLE;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct si_proc_state *p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return 0;
	if (kill_all && !p->supervisor) {
		bpf_send_signal(SIGKILL);
		return 0;
	}
	if (p->kind == PROC_LAUNCHING || id < 0 || id >= NR_SYSCALLS)
		return 0;

	__u32 nr = id;
	stat_inc(STAT_SYSCALLS);
	__sync_fetch_and_add(&p->syscalls, 1);
	struct task_struct *task = bpf_get_current_task_btf();

	if (nr == SI_NR_rt_sigreturn) {
		struct si_task *t = bpf_task_storage_get(&tasks, task, 0, 0);
		if (t && t->sig_depth)
			t->sig_depth--;
		return 0;
	}
	/* From here on the syscall is judged as the right it is: its number or
	 * one of its argument classes (openat:write, clone:process, ...). */
	__u32 right = right_of(nr, regs, tgid);
	if (set_has(MODULE_NOWALK, right))
		return 0;
	struct si_task *t = bpf_task_storage_get(&tasks, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (nr == SI_NR_write && t && t->sig_depth) {
		stat_inc(STAT_SIGNAL_WRITES);
		return 0;
	}

	struct si_scratch *s = scratch();
	if (!s)
		return 0;
	s->nuniq = 0;
	s->uniq_overflow = 0;
	s->ndenied = 0;
	s->nframes = 0;

	struct si_walk_ctx *w = &s->w;
	__builtin_memset(w, 0, sizeof(*w));
	w->tgid = tgid;
	w->nr = right;
	w->denied = ~0U;
	w->guard = ~0U;
	w->check = mode != MODE_TRACE;
	/* Programs, paths and addresses, for the modules that restrict them
	 * (and, in trace mode, to be recorded). */
	w->vkind = p->kind == PROC_PYTHON ? load_values(nr, right, regs) : VALUE_NONE;
	if (w->vkind == VALUE_WRITE) {
		/* The import system writing a compiled module: its own right,
		 * not a write the policy restricts. */
		__u32 pyc = reclassify_pycache(right);
		if (pyc != right) {
			right = pyc;
			w->nr = pyc;
			w->vkind = VALUE_NONE;
		}
	}

	if (p->kind != PROC_PYTHON) {
		/* A program that is not Python: its own rule, or `children`. */
		visit_module(w, p->program >= MODULE_FIRST_DYNAMIC ? p->program : MODULE_NON_PYTHON);
		goto decide;
	}

	/* A thread clone is the plain clone/clone3 right. */
	int thread_clone = right == SI_NR_clone || right == SI_NR_clone3;
	w->danger = is_dangerous(right);
	int channel_write = writes_channel(nr, regs);
	/* A shortcut, not a rule: when base, start-up and frameless all allow a
	 * syscall that is not dangerous, and unknown modules get base, every
	 * possible stack allows it, so the walk could only say yes. Not taken
	 * during start-up (the walk notices the first frame), for thread
	 * clones (their modules are handed to the thread) or for writes to the
	 * guards' channel. */
	if (mode != MODE_TRACE && p->started && unknown_rule != UNKNOWN_DENY && !thread_clone &&
	    !(w->danger && shared_sets_judge_danger) && set_has(MODULE_ANY_STACK, right) && !channel_write)
		return 0;
	w->base_ok = !(w->danger && shared_sets_judge_danger) && set_has(MODULE_BASE, right);
	if (thread_clone && thread_clone_exempt)
		w->check = 0;

	__u32 idx = p->pyconf & (MAX_PYCONFS - 1);
	struct si_pyconf *conf = bpf_map_lookup_elem(&pyconfs, &idx);
	__u64 runtime = p->runtime;
	if (conf && !runtime) {
		runtime = find_runtime(conf);
		if (runtime) {
			p->runtime = runtime;
			emit_proc_event(EV_PYTHON_READY, PROC_PYTHON, 0, runtime, 0, 0, 0);
		}
	}
	/* A second shortcut, also not a rule: a base right that carries no
	 * values is allowed by every module (its own list or base), covered or
	 * not (unknown modules get base), and by whatever could not be seen
	 * (judged as unknown). Only a thread with no frame and nothing
	 * inherited is judged otherwise, by a bucket that may lack it: knowing
	 * that the thread has a frame is enough, without walking the stack. */
	if (mode != MODE_TRACE && p->started && unknown_rule != UNKNOWN_DENY && w->base_ok &&
	    !thread_clone && !channel_write && w->vkind == VALUE_NONE && conf && runtime &&
	    has_python_context(t, tgid, runtime, conf))
		return 0;

	visit_inherited(t);

	if (conf && runtime) {
		enum si_scan_result res = visit_frames(t, runtime, conf);
		if (res == SCAN_OVERFLOW)
			visit_module(w, MODULE_OVERFLOW);
		else if (res == SCAN_UNREADABLE && p->started)
			visit_module(w, MODULE_UNREADABLE);
		/* Before start-up is over an unreadable runtime is one not yet
		 * initialized (its pages not even touched): no frame exists. */
	}
	/* With no frame of its own, a thread is judged by the stack that created
	 * it; only a thread with neither (start-up, atexit C callbacks,
	 * finalizers, native threads nobody's Python code made) by a bucket. */
	if (w->depth)
		p->started = 1;
	else if (!(w->reasons & (REASON_TRUNCATED | REASON_UNREADABLE | REASON_OVERFLOW | REASON_INHERITED))) {
		if (p->started)
			stat_inc(STAT_TSTATE_MISSES);
		visit_module(w, p->started ? MODULE_FRAMELESS : MODULE_STARTUP);
	}
	if (thread_clone)
		remember_for_child(t);
	/* Code under a guard may not talk to the guards' supervisor. */
	if (w->guard != ~0U && channel_write) {
		if (w->denied == ~0U)
			w->denied = w->guard;
		w->check = 1;
	}

decide:
	if (mode == MODE_TRACE && w->vkind)
		report_values();
	if (mode == MODE_TRACE || !w->check || w->denied == ~0U)
		return 0;
	if (w->danger)
		w->reasons |= REASON_DANGEROUS;
	/* Stop mode: the syscall the thread was stopped at, restarted after
	 * SIGCONT, goes through once (the user chose to continue). */
	if (stop_resuming(nr, regs)) {
		report_resumed(right);
		return 0;
	}
	report_violation(w->denied, t);
	enforce(nr, regs);
	return 0;
}
