/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Interpreter and thread state: where a process's _PyRuntime is, and which
 * PyThreadStates belong to the calling OS thread.
 *
 * Mechanism (documented because it decides what is seen): a thread is judged
 * by EVERY thread state whose thread_id is the task's fsbase (pthread_self()),
 * in every interpreter (main and subinterpreters), not the first one found.
 * A state pre-allocated by a creating thread carries the creator's id and has
 * no frame until the new thread binds it, so it adds nothing; a
 * subinterpreter's state for this thread adds its frames. The "current
 * tstate" of the GIL is not used: it is NULL whenever the GIL is released.
 *
 * The set is cached on the task and re-validated at every use: the
 * interpreter list and each interpreter's thread-list head must be unchanged
 * (CPython inserts new states at the head) and each cached state must still
 * carry this thread's id. A thread with no state is never cached (its
 * pre-allocated state may be bound to it at any time). A list longer than the
 * scan bound, or more states than MAX_TSTATES, is an overflow: judged as an
 * unknown module.
 */
#ifndef SECIMPORT_LIB_PYSTATE_H
#define SECIMPORT_LIB_PYSTATE_H

#include "common.h"

#define MAX_SCAN_STEPS 8192
#define MAX_INTERPS_SCAN 64

/* Kfuncs: the open-coded VMA iterator (6.7+). */
extern int bpf_iter_task_vma_new(struct bpf_iter_task_vma *it, struct task_struct *task, __u64 addr) __ksym;
extern struct vm_area_struct *bpf_iter_task_vma_next(struct bpf_iter_task_vma *it) __ksym;
extern void bpf_iter_task_vma_destroy(struct bpf_iter_task_vma *it) __ksym;

/* Where this process mapped the runtime ELF's file offset 0, plus the
 * offset of _PyRuntime: race-free, and works for processes we attach to.
 * Called only while a Python process's runtime is still unknown (the dynamic
 * loader's first syscalls). */
static __noinline __u64 find_runtime(struct si_pyconf *conf)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct bpf_iter_task_vma it;
	struct vm_area_struct *vma;
	__u64 found = 0;

	if (!conf)
		return 0;
	bpf_iter_task_vma_new(&it, task, 0);
	while ((vma = bpf_iter_task_vma_next(&it))) {
		struct file *f = vma->vm_file;
		if (!f || vma->vm_pgoff != 0)
			continue;
		struct inode *ino = f->f_inode;
		if (ino && ino->i_ino == conf->runtime_ino && ino->i_sb->s_dev == conf->runtime_dev) {
			found = vma->vm_start + conf->runtime_offset;
			break;
		}
	}
	bpf_iter_task_vma_destroy(&it);
	return found;
}

enum si_scan_result {
	SCAN_OK = 0,
	SCAN_UNREADABLE = 1,
	SCAN_OVERFLOW = 2,
};

struct si_scan_ctx {
	__u64 interp;   /* next interpreter to enter when `ts` runs out */
	__u64 ts;       /* next thread state of the current interpreter */
	__u64 fsbase;
	__u32 interp_next_off;
	__u32 threads_head_off;
	__u32 thread_id_off;
	__u32 next_off;
	__u32 result;
	__u32 done;
};

/* One step: look at one thread state, or enter the next interpreter. Found
 * states and visited interpreters go to the scratch area. */
static long scan_step(__u32 i, struct si_scan_ctx *c)
{
	struct si_scratch *s = scratch();
	if (!s)
		return 1;
	if (!c->ts) {
		if (!c->interp) {
			c->done = 1;
			return 1;
		}
		__u32 n = s->ninterp;
		if (n >= MAX_INTERPS_SCAN) {
			c->result = SCAN_OVERFLOW;
			return 1;
		}
		__u64 head = 0, next = 0;
		if (!read_u64_ok(c->interp + c->threads_head_off, &head) ||
		    !read_u64_ok(c->interp + c->interp_next_off, &next)) {
			c->result = SCAN_UNREADABLE;
			return 1;
		}
		if (n < MAX_INTERPS) {
			s->interp[n & (MAX_INTERPS - 1)] = c->interp;
			s->heads[n & (MAX_INTERPS - 1)] = head;
		}
		s->ninterp = n + 1;
		c->ts = head;
		c->interp = next;
		return 0;
	}
	__u64 id = 0, next = 0;
	if (!read_u64_ok(c->ts + c->thread_id_off, &id) || !read_u64_ok(c->ts + c->next_off, &next)) {
		c->result = SCAN_UNREADABLE;
		return 1;
	}
	if (id == c->fsbase) {
		__u32 n = s->nts;
		if (n >= MAX_TSTATES) {
			c->result = SCAN_OVERFLOW;
			return 1;
		}
		s->ts[n & (MAX_TSTATES - 1)] = c->ts;
		s->nts = n + 1;
	}
	c->ts = next;
	return 0;
}

/* Is the task's cached set still the set a scan would find? */
static __always_inline int cache_valid(struct si_task *t, __u64 runtime, const struct si_py_offsets *off)
{
	__u32 n = t->ninterp;
	if (!t->nts || n == 0 || n > MAX_INTERPS)
		return 0;
	__u64 interp = 0;
	if (!read_u64_ok(runtime + off->runtime_interpreters_head, &interp))
		return 0;
	for (int i = 0; i < MAX_INTERPS; i++) {
		if (i >= n)
			break;
		if (interp != t->interp[i])
			return 0;
		__u64 head = 0;
		if (!read_u64_ok(interp + off->interp_threads_head, &head) || head != t->heads[i])
			return 0;
		if (!read_u64_ok(interp + off->interp_next, &interp))
			return 0;
	}
	return interp == 0;
}

/* Fills s->ts[0..s->nts) with the calling thread's states; returns an
 * enum si_scan_result. */
__noinline int find_tstates(struct si_task *t, __u64 runtime, const struct si_py_offsets *off)
{
	struct si_scratch *s = scratch();
	if (!s || !off)
		return SCAN_UNREADABLE;
	s->nts = 0;
	s->ninterp = 0;
	if (t && cache_valid(t, runtime, off)) {
		__u32 n = t->nts;
		for (int i = 0; i < MAX_TSTATES; i++)
			if (i < n)
				s->ts[i] = t->ts[i];
		s->nts = n;
		return SCAN_OK;
	}

	struct task_struct *task = bpf_get_current_task_btf();
	struct si_scan_ctx c = {
		.fsbase = task->thread.fsbase,
		.interp_next_off = off->interp_next,
		.threads_head_off = off->interp_threads_head,
		.thread_id_off = off->tstate_thread_id,
		.next_off = off->tstate_next,
	};
	if (!read_u64_ok(runtime + off->runtime_interpreters_head, &c.interp))
		return SCAN_UNREADABLE;
	stat_inc(STAT_TSTATE_SCANS);
	bpf_loop(MAX_SCAN_STEPS, scan_step, &c, 0);
	if (c.result != SCAN_OK)
		return c.result;
	if (!c.done)
		return SCAN_OVERFLOW;
	if (t) {
		__u32 n = s->nts, ni = s->ninterp;
		t->nts = 0;
		if (n && ni <= MAX_INTERPS) {
			for (int i = 0; i < MAX_TSTATES; i++)
				t->ts[i] = s->ts[i];
			for (int i = 0; i < MAX_INTERPS; i++) {
				t->interp[i] = s->interp[i];
				t->heads[i] = s->heads[i];
			}
			t->ninterp = ni;
			t->nts = n;
		}
	}
	return SCAN_OK;
}

/* The current frame of thread state `ts` and the start of its frame-stack
 * chunk (0 where frames are heap objects, before 3.11); frame 0 if it has
 * no frame. The thread_id is re-checked in the same read: -1 if the state
 * no longer belongs to this thread or cannot be read. */
__noinline int tstate_frame(__u64 ts, __u64 fsbase, const struct si_py_offsets *off, __u64 *frame, __u64 *floor)
{
	struct si_scratch *s = scratch();
	if (!s || !off || !frame || !floor)
		return -1;
	*frame = 0;
	*floor = 0;
	/* One read covers the cframe pointer (3.11, 3.12) or the frame itself
	 * (the thread state holds it: 3.13+, and `frame` before 3.11), the
	 * thread_id and datastack_chunk (3.11: 56..304, 3.13: 72..240, 3.8:
	 * 24..184). */
	int direct = off->tstate_cframe == OFFSET_NONE;
	int chunked = off->tstate_datastack_chunk != OFFSET_NONE;
	__u32 lo = direct ? off->current_frame : off->tstate_cframe;
	__u32 hi = off->tstate_thread_id;
	if (chunked && off->tstate_datastack_chunk > hi)
		hi = off->tstate_datastack_chunk;
	__u32 span = hi + 8 - lo;
	if (off->tstate_thread_id < lo || (chunked && off->tstate_datastack_chunk < lo) || hi < lo ||
	    span > sizeof(s->tstate_window))
		return -1; /* a layout this walk does not know */
	if (bpf_probe_read_user(s->tstate_window, span, (void *)(ts + lo)))
		return -1;
	if (s->tstate_window[((off->tstate_thread_id - lo) / 8) & 31] != fsbase)
		return -1;
	__u64 first = s->tstate_window[0];
	/* Frames below the chunk's start are in older chunks: reads of the
	 * frame stack never go below the chunk they are in. */
	if (chunked)
		*floor = s->tstate_window[((off->tstate_datastack_chunk - lo) / 8) & 31];
	if (direct) {
		*frame = first;
		return 0;
	}
	if (!first)
		return 0;
	if (!read_u64_ok(first + off->current_frame, frame))
		return -1;
	return 0;
}

#endif
