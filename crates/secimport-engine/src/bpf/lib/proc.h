/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The process tree: which processes are sandboxed and what they run (fork,
 * exec, exit), the hand-over of a creator's modules to the threads and
 * processes it makes, and the fail-closed kill when the supervisor dies.
 */
#ifndef SECIMPORT_LIB_PROC_H
#define SECIMPORT_LIB_PROC_H

#include "common.h"
#include "report.h"

/* kfuncs (6.13+), used only if the kernel has them: when the supervisor dies,
 * the whole tracked tree is killed, not only its direct child. */
extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;
extern int bpf_send_signal_task(struct task_struct *task, int sig, enum pid_type type, u64 value) __ksym __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct si_proc_state);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_PYCONFS);
	__type(key, __u32);
	__type(value, struct si_pyconf);
} pyconfs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct si_exe_key);
	__type(value, __u32);
} py_exes SEC(".maps");

/* Programs that are not Python, by identity: the module id whose rule
 * judges them (`run`: from spec.programs; `trace`: allocated at their
 * first exec, named by the EV_EXEC that carries it). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct si_exe_key);
	__type(value, __u32);
} programs SEC(".maps");

/* The module id judging a process that runs the program `k`. */
static __always_inline __u32 program_of(struct si_exe_key *k)
{
	__u32 *id = bpf_map_lookup_elem(&programs, k);
	if (id)
		return *id;
	if (mode != MODE_TRACE)
		return MODULE_NON_PYTHON;
	__u32 fresh = __sync_fetch_and_add(&next_module, 1);
	if (fresh >= MAX_MODULES)
		return MODULE_NON_PYTHON;
	if (bpf_map_update_elem(&programs, k, &fresh, BPF_NOEXIST)) {
		id = bpf_map_lookup_elem(&programs, k); /* another CPU was first */
		return id ? *id : MODULE_NON_PYTHON;
	}
	return fresh;
}

/* The child inherits what its creator carried: the modules on the creator's
 * stack at a thread-creating clone (pend), else the creator's own
 * inheritance. A fork child's own stack is a copy of the parent's, so it
 * needs only the inheritance. If the child's record cannot be made, the
 * child is killed: it would otherwise run with fewer restrictions. */
static __always_inline void hand_over(struct task_struct *parent, struct task_struct *child)
{
	struct si_task *pt = bpf_task_storage_get(&tasks, parent, 0, 0);
	if (!pt)
		return;
	int from_pend = pt->pend_valid && parent->tgid == child->tgid;
	__u32 n = from_pend ? pt->npend : pt->nprov;
	pt->pend_valid = 0;
	if (!n)
		return;
	struct si_task *ct = bpf_task_storage_get(&tasks, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!ct) {
		if (bpf_ksym_exists(bpf_send_signal_task))
			bpf_send_signal_task(child, SIGKILL, PIDTYPE_TGID, 0);
		return;
	}
	if (n > PROV_MAX)
		n = PROV_MAX;
	for (int i = 0; i < PROV_MAX; i++)
		ct->prov[i] = from_pend ? pt->pend[i] : pt->prov[i];
	ct->nprov = n;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid;
	__u32 ctgid = child->tgid;
	struct si_proc_state *p = bpf_map_lookup_elem(&procs, &ptgid);
	if (!p || p->kind == PROC_LAUNCHING)
		return 0;
	hand_over(parent, child);
	if (ptgid == ctgid)
		return 0; /* a thread */
	struct si_proc_state c = *p;
	c.syscalls = 0;
	bpf_map_update_elem(&procs, &ctgid, &c, BPF_ANY);

	struct si_proc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(STAT_EVENTS_LOST);
		return 0;
	}
	fill_hdr(&e->hdr, EV_FORK);
	e->hdr.pid = ctgid;
	e->hdr.tid = child->pid;
	e->hdr.ppid = ptgid;
	e->kind = c.kind;
	e->exit_code = 0;
	e->runtime = c.runtime;
	e->syscalls = 0;
	e->filename[0] = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = task->tgid;
	struct si_proc_state *p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return 0;
	struct si_exe_key k = {
		.dev = BPF_CORE_READ(bprm, file, f_inode, i_sb, s_dev),
		.ino = BPF_CORE_READ(bprm, file, f_inode, i_ino),
	};
	__u32 *conf = bpf_map_lookup_elem(&py_exes, &k);
	p->runtime = 0;
	p->started = 0;
	p->supervisor = self_ino && k.ino == self_ino && k.dev == self_dev;
	p->program = MODULE_NON_PYTHON;
	if (conf) {
		p->kind = PROC_PYTHON;
		p->pyconf = *conf;
	} else {
		p->kind = PROC_OTHER;
		p->program = program_of(&k);
	}
	/* A new program: no thread state of the old one can be cached. */
	struct si_task *t = bpf_task_storage_get(&tasks, task, 0, 0);
	if (t) {
		t->nts = 0;
		t->sig_depth = 0;
	}
	emit_proc_event(EV_EXEC, p->kind, 0, 0, 0, bprm, p->program);
	return 0;
}

static long kill_tracked(struct bpf_map *map, __u32 *tgid, struct si_proc_state *st, void *ctx)
{
	struct task_struct *t = bpf_task_from_pid(*tgid);
	if (t) {
		bpf_send_signal_task(t, SIGKILL, PIDTYPE_TGID, 0);
		bpf_task_release(t);
	}
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *task)
{
	__u32 tgid = task->tgid;
	if (tgid == supervisor_tgid && BPF_CORE_READ(task, signal, live.counter) == 0) {
		/* Nothing may run unsupervised: kill every tracked process. */
		kill_all = 1;
		if (bpf_ksym_exists(bpf_task_from_pid) && bpf_ksym_exists(bpf_send_signal_task) &&
		    bpf_ksym_exists(bpf_task_release))
			bpf_for_each_map_elem(&procs, kill_tracked, 0, 0);
		return 0;
	}
	struct si_proc_state *p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return 0;
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0; /* other threads live on */
	emit_proc_event(EV_EXIT, p->kind, BPF_CORE_READ(task, exit_code), 0, p->syscalls, 0, 0);
	bpf_map_delete_elem(&procs, &tgid);
	return 0;
}

#endif
