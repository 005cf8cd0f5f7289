// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * secimport's kernel side: process-tree tracking, Python stack attribution at
 * every syscall, per-module aggregation (trace) and per-module decisions
 * (log / kill / stop).
 *
 * Nothing runs per Python call: the cost is paid only at syscalls of the
 * sandboxed tree. A Python process's _PyRuntime is found from where it mapped
 * the interpreter (or libpython), with the VMA iterator. At each syscall we
 * find the calling thread's PyThreadState (matched on the thread's fsbase,
 * i.e. pthread_self(), cached on the task), read its frame stack in blocks,
 * and map each code object to a module id (cached per code object). Trace
 * mode aggregates {module, syscall} counts per CPU; run modes look the
 * syscall up in the base set first and only walk when it is not there.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sandbox.h"

#define SIGKILL 9
#define SIGSTOP 19
#define MAX_THREADS_SCAN 128

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* kfuncs (6.13+), used only if the kernel has them: when the supervisor dies,
 * the whole tracked tree is killed, not only its direct child. */
extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;
extern int bpf_send_signal_task(struct task_struct *task, int sig, enum pid_type type, u64 value) __ksym __weak;
/* Open-coded VMA iterator (6.7+): where did this process map the runtime ELF? */
extern int bpf_iter_task_vma_new(struct bpf_iter_task_vma *it, struct task_struct *task, __u64 addr) __ksym;
extern struct vm_area_struct *bpf_iter_task_vma_next(struct bpf_iter_task_vma *it) __ksym;
extern void bpf_iter_task_vma_destroy(struct bpf_iter_task_vma *it) __ksym;

/* Static settings, written by the loader between open() and load(). */
const volatile __u32 mode = MODE_TRACE;
const volatile __u32 unknown_rule = UNKNOWN_BASE_ONLY;
const volatile __u32 max_depth = 128;
const volatile __u32 supervisor_tgid = 0;
/* Guards: a clone/clone3 that starts a thread is not judged (it is not a
 * shell); threads started under a RULE_INHERIT module carry its rule. */
const volatile __u32 thread_clone_exempt = 0;
const volatile __u32 inherit_guards = 0;

#define NR_CLONE 56
#define NR_CLONE3 435
#define CLONE_THREAD_FLAG 0x00010000

/* Set once a kill-mode violation happened: every process of the tree is
 * killed at its next syscall. */
__u32 kill_all = 0;
__u32 next_module = MODULE_FIRST_DYNAMIC;

/* Anchors so the skeleton carries these record types for the Rust side. */
struct si_proc_event _proc_event = {};
struct si_violation_event _violation_event = {};

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

/* The thread's PyThreadState, kept on the task itself (no hash lookup). */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} tstates SEC(".maps");

/* code object -> module: a direct-mapped per-CPU cache in front of an LRU. */
struct si_code_slot {
	__u64 code;
	__u64 globals; /* the frame's f_globals: a reused code address from
			  another module comes with other globals */
	__u32 tgid;
	__u32 module;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CODE_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct si_code_slot);
} code_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct si_code_key);
	__type(value, struct si_code_val);
} codes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_MODULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct si_filename_key);
	__type(value, __u32);
} module_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_MODULES);
	__type(key, __u32);
	__type(value, struct si_module_rule);
} rules SEC(".maps");

/* tid -> guarded module to hand to the thread being created (set at the
 * clone's entry, taken at sched_process_fork). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u32);
} pending_guard SEC(".maps");

/* tid -> guarded module the thread inherited: judged as if on its stack. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} inherited SEC(".maps");

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

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct si_report_key);
	__type(value, __u64);
} reported SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* Per-CPU scratch: too big for the 512-byte BPF stack. */
struct si_scratch {
	struct si_filename_key fname;
	__u64 block[STACK_BLOCK / 8]; /* a copy of part of the frame stack */
	__u64 tstate_window[32];      /* PyThreadState from cframe to datastack_chunk */
	__u64 floor;                  /* start of the frame-stack chunk being walked */
	__u64 block_start;            /* its user address; 0: empty */
	__u64 block_len;
	__u64 block_reads;            /* block reads in this walk */
	__u32 uniq[UNIQ_MAX];
	/* Sized to a power of two so a masked index needs no bounds check. */
	__u64 frame_ptrs[32];
	__u64 code_ptrs[32];
	__u32 frame_modules[32];
	/* Distinct modules charged for the current syscall. Kept here, not in
	 * the walk context, so the verifier sees an unknown count rather than
	 * one state per value. */
	__u32 nuniq;
	struct si_violation_event ev;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct si_scratch);
} scratch_map SEC(".maps");

static __always_inline void stat_inc(__u32 id)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &id);
	if (v)
		*v += 1;
}

static __always_inline __u64 read_u64(__u64 addr)
{
	__u64 v = 0;
	if (bpf_probe_read_user(&v, sizeof(v), (void *)addr))
		return 0;
	return v;
}

static __always_inline __u32 read_u32(__u64 addr)
{
	__u32 v = 0;
	bpf_probe_read_user(&v, sizeof(v), (void *)addr);
	return v;
}

static __always_inline void fill_hdr(struct si_event_hdr *h, __u32 type)
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

/* ---------------------------------------------------------------- modules */

/* Module id of a code object's co_filename; allocates an id for a new file. */
static __noinline __u32 resolve_filename(__u64 fname_obj, const struct si_py_offsets *off)
{
	__u32 zero = 0;
	struct si_scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s || !fname_obj)
		return MODULE_UNREADABLE;

	__u32 state = read_u32(fname_obj + off->str_state);
	/* state bits: interned:2 kind:3 compact:1 ascii:1 */
	__u32 kind = (state >> 2) & 7;
	int compact = (state >> 5) & 1;
	int ascii = (state >> 6) & 1;
	if (!compact)
		return MODULE_UNREADABLE; /* legacy strings: not made for file names */

	__builtin_memset(&s->fname, 0, sizeof(s->fname));
	if (ascii) {
		if (bpf_probe_read_user_str(s->fname.name, sizeof(s->fname.name),
					    (void *)(fname_obj + off->str_ascii_data)) <= 0)
			return MODULE_UNREADABLE;
	} else {
		/* Not ASCII: the raw code units (1, 2 or 4 bytes each) after a
		 * byte naming their width; user space keys file names the same. */
		if (kind != 1 && kind != 2 && kind != 4)
			return MODULE_UNREADABLE;
		__u64 len = read_u64(fname_obj + off->str_length) * kind;
		if (len > FILENAME_MAX_LEN - 2)
			len = FILENAME_MAX_LEN - 2;
		s->fname.name[0] = kind;
		if (len == 0 || bpf_probe_read_user(&s->fname.name[1], len & (FILENAME_MAX_LEN - 1),
						    (void *)(fname_obj + off->str_compact_data)))
			return MODULE_UNREADABLE;
	}

	__u32 *id = bpf_map_lookup_elem(&module_ids, &s->fname);
	if (id)
		return *id;
	__u32 fresh = __sync_fetch_and_add(&next_module, 1);
	if (fresh >= MAX_MODULES) {
		stat_inc(STAT_MODULE_OVERFLOW);
		return MODULE_OVERFLOW;
	}
	if (bpf_map_update_elem(&module_ids, &s->fname, &fresh, BPF_NOEXIST)) {
		/* Lost a race with another CPU: use its id (ours stays unused). */
		id = bpf_map_lookup_elem(&module_ids, &s->fname);
		return id ? *id : MODULE_UNREADABLE;
	}
	return fresh;
}

static __always_inline __u32 module_of(__u32 tgid, __u64 code, __u64 globals,
				       const struct si_py_offsets *off)
{
	__u32 slot = ((code >> 4) ^ (code >> 16) ^ tgid) & (CODE_CACHE_SLOTS - 1);
	struct si_code_slot *c = bpf_map_lookup_elem(&code_cache, &slot);
	if (c && c->code == code && c->tgid == tgid && c->globals == globals)
		return c->module;

	/* Slow path: the LRU, checked against the code's current co_filename. */
	__u64 fname_obj = read_u64(code + off->code_filename);
	struct si_code_key k = { .tgid = tgid, .code = code };
	struct si_code_val *v = bpf_map_lookup_elem(&codes, &k);
	__u32 module;
	if (v && v->filename == fname_obj) {
		module = v->module;
	} else {
		struct si_code_val nv = { .filename = fname_obj };
		nv.module = module = resolve_filename(fname_obj, off);
		if (module == MODULE_UNREADABLE) {
			stat_inc(STAT_READ_ERRORS);
			return module;
		}
		bpf_map_update_elem(&codes, &k, &nv, BPF_ANY);
	}
	if (c) {
		c->code = code;
		c->tgid = tgid;
		c->globals = globals;
		c->module = module;
	}
	return module;
}

/* ---------------------------------------------------------------- threads */

struct si_tstate_ctx {
	__u64 ts;
	__u64 fsbase;
	__u32 thread_id_off;
	__u32 next_off;
	__u64 found;
};

static long tstate_step(__u32 i, struct si_tstate_ctx *c)
{
	if (!c->ts)
		return 1;
	if (read_u64(c->ts + c->thread_id_off) == c->fsbase) {
		c->found = c->ts;
		return 1;
	}
	c->ts = read_u64(c->ts + c->next_off);
	return 0;
}

/* The calling thread's current frame, found through its PyThreadState: the
 * one whose thread_id (pthread_self()) is this task's fsbase. The tstate is
 * cached on the task and re-checked on every use; the check and the cframe
 * pointer come from one read. */
static __always_inline __u64 current_frame(__u64 runtime, const struct si_py_offsets *off)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 fsbase = task->thread.fsbase;
	__u32 zero = 0;
	struct si_scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 0;

	__u64 *cached = bpf_task_storage_get(&tstates, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	__u64 ts = cached ? *cached : 0;
	/* One read covers cframe, thread_id and datastack_chunk (3.11: 56..304). */
	__u32 lo = off->tstate_cframe;
	__u32 span = off->tstate_datastack_chunk + 8 - lo;
	if (off->tstate_cframe == ~0U || off->tstate_thread_id < lo || off->tstate_datastack_chunk < lo ||
	    off->tstate_thread_id + 8 - lo > span || span > sizeof(s->tstate_window))
		return 0; /* other layouts: not supported yet */

	for (int attempt = 0; attempt < 2; attempt++) {
		if (!ts) {
			__u64 interp = read_u64(runtime + off->runtime_interpreters_head);
			if (!interp)
				return 0;
			struct si_tstate_ctx c = {
				.ts = read_u64(interp + off->interp_threads_head),
				.fsbase = fsbase,
				.thread_id_off = off->tstate_thread_id,
				.next_off = off->tstate_next,
			};
			bpf_loop(MAX_THREADS_SCAN, tstate_step, &c, 0);
			ts = c.found;
			if (!ts)
				return 0;
			if (cached)
				*cached = ts;
		}
		if (bpf_probe_read_user(s->tstate_window, span, (void *)(ts + lo)) == 0 &&
		    s->tstate_window[((off->tstate_thread_id - lo) / 8) & 31] == fsbase) {
			__u64 cframe = s->tstate_window[((off->tstate_cframe - lo) / 8) & 31];
			/* Frames below the chunk's start are in older chunks: reads
			 * of the frame stack never go below the chunk they are in. */
			s->floor = s->tstate_window[((off->tstate_datastack_chunk - lo) / 8) & 31];
			return read_u64(cframe + off->cframe_current_frame);
		}
		ts = 0; /* stale: the thread state was freed or reused */
	}
	return 0;
}

/* ------------------------------------------------------------------ walk */

struct si_walk_ctx {
	struct si_py_offsets off;
	__u64 frame;
	__u64 last_code;  /* previous frame's code object (recursion shortcut) */
	__u32 last_module;
	__u32 window;     /* bytes of a frame the walk needs */
	__u32 tgid;
	__u32 nr;
	__u32 depth;      /* frames walked */
	__u32 charged;    /* some module was charged */
	__u32 denied;     /* first module that does not allow nr, or ~0 */
	__u32 check;      /* run modes: judge each module */
	__u32 base_ok;    /* nr is in the base set */
	__u32 find_guard; /* look for a RULE_INHERIT module */
	__u32 guard;      /* innermost RULE_INHERIT module seen, or ~0 */
};

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

static __always_inline int rule_bit(struct si_module_rule *r, __u32 nr)
{
	return (r->allow[(nr / 64) & (SYSCALL_WORDS - 1)] >> (nr % 64)) & 1;
}

/* Does `module` let `nr` through? `base_ok`: nr is in the base set. */
static __always_inline int module_allows(__u32 module, __u32 nr, int base_ok)
{
	struct si_module_rule *r = bpf_map_lookup_elem(&rules, &module);
	if (!r)
		return 0;
	if (r->present)
		return base_ok || rule_bit(r, nr);
	if (unknown_rule == UNKNOWN_ALLOW)
		return 1;
	return unknown_rule == UNKNOWN_BASE_ONLY && base_ok;
}

struct si_uniq_ctx {
	__u32 module;
	__u32 n;
	__u32 found;
};

static long uniq_step(__u32 i, struct si_uniq_ctx *u)
{
	__u32 zero = 0;
	if (i >= u->n)
		return 1;
	struct si_scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 1;
	if (s->uniq[i & (UNIQ_MAX - 1)] == u->module) {
		u->found = 1;
		return 1;
	}
	return 0;
}

/* Charge one module (once per syscall) and, in run modes, judge it. */
static __always_inline void visit_module(struct si_walk_ctx *w, __u32 module)
{
	/* Once per syscall: the distinct modules so far are in scratch->uniq. */
	__u32 zero = 0;
	struct si_scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return;
	struct si_uniq_ctx u = { .module = module, .n = s->nuniq };
	if (u.n)
		bpf_loop(UNIQ_MAX, uniq_step, &u, 0);
	if (u.found)
		return;
	/* Past UNIQ_MAX distinct modules a module may be charged twice for one
	 * syscall; counts grow, sets stay right. */
	if (u.n < UNIQ_MAX) {
		s->uniq[u.n & (UNIQ_MAX - 1)] = module;
		s->nuniq = u.n + 1;
	}
	w->charged = 1;
	if (mode == MODE_TRACE)
		count_trace(module, w->nr);
	else if (w->check && w->denied == ~0U && !module_allows(module, w->nr, w->base_ok))
		w->denied = module;
	if (w->find_guard && w->guard == ~0U) {
		struct si_module_rule *r = bpf_map_lookup_elem(&rules, &module);
		if (r && r->present && (r->flags & RULE_INHERIT))
			w->guard = module;
	}
}

static long walk_step(__u32 i, struct si_walk_ctx *w)
{
	__u64 frame = w->frame;
	if (!frame)
		return 1;
	__u32 zero = 0;
	struct si_scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 1;
	/* Frames live on the thread's frame stack, callers below callees:
	 * one read usually covers many frames. A first small block, then
	 * big ones; a block that would cross into unreadable memory falls
	 * back to the frame alone. */
	__u32 size = w->window;
	if (size == 0 || size > FRAME_WINDOW_MAX)
		return 1;
	if (!(frame >= s->block_start && frame + size <= s->block_start + s->block_len)) {
		__u64 want = s->block_reads ? STACK_BLOCK : 512;
		/* A frame below the chunk's start lives in an older chunk. */
		for (int k = 0; k < 4 && s->floor && frame < s->floor; k++)
			s->floor = read_u64(s->floor + w->off.chunk_previous);
		__u64 floor = s->floor && frame >= s->floor ? s->floor : frame & ~4095ULL;
		__u64 start = frame + size > want ? frame + size - want : frame;
		if (start < floor) {
			start = floor;
			want = frame + size - start;
		}
		long err = -1;
		if (want >= size && want <= STACK_BLOCK)
			err = bpf_probe_read_user(s->block, want, (void *)start);
		if (err) {
			start = frame;
			want = size;
			err = bpf_probe_read_user(s->block, size, (void *)start);
		}
		s->block_reads++;
		if (err) {
			s->block_start = 0;
			s->block_len = 0;
			stat_inc(STAT_READ_ERRORS);
			w->frame = 0;
			visit_module(w, MODULE_UNREADABLE);
			return 1;
		}
		s->block_start = start;
		s->block_len = want;
	}
	__u64 base = frame - s->block_start;
	w->frame = s->block[((base + w->off.frame_previous) / 8) & (STACK_BLOCK / 8 - 1)];
	__u64 code = s->block[((base + w->off.frame_code) / 8) & (STACK_BLOCK / 8 - 1)];
	__u64 globals = s->block[((base + w->off.frame_globals) / 8) & (STACK_BLOCK / 8 - 1)];

	if (w->off.owner_cstack != ~0U) {
		__u8 owner = 0;
		bpf_probe_read_user(&owner, 1, (void *)(frame + w->off.frame_owner));
		if (owner == w->off.owner_cstack)
			return 0;
	}
	__u32 module;
	if (code && code == w->last_code)
		module = w->last_module; /* recursion, or a loop calling itself */
	else if (code)
		module = module_of(w->tgid, code, globals, &w->off);
	else
		module = MODULE_UNREADABLE;
	if (!code)
		stat_inc(STAT_READ_ERRORS);

	/* Depth comes from the loop index, which the verifier treats as unknown:
	 * a counter of our own would be explored once per value. */
	if (i < REPORT_FRAMES) {
		s->frame_ptrs[i & 31] = frame;
		s->code_ptrs[i & 31] = code;
		s->frame_modules[i & 31] = module;
	}
	w->depth = i + 1;
	if (code != w->last_code || i == 0) {
		w->last_code = code;
		if (module != w->last_module || i == 0) {
			w->last_module = module;
			visit_module(w, module);
		}
	}
	return 0;
}

/* Fill frame `i` of the pending violation event from what the walk saved. */
struct si_report_ctx {
	struct si_py_offsets off;
	__u32 nframes;
};

static long report_step(__u32 i, struct si_report_ctx *r)
{
	__u32 zero = 0;
	struct si_scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
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

static __always_inline void report_violation(struct si_walk_ctx *w, __u32 module)
{
	__u32 zero = 0;
	struct si_scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return;

	stat_inc(STAT_VIOLATIONS);
	if (mode == MODE_LOG) {
		/* One full report per (process, syscall, module); repeats are counted. */
		struct si_report_key k = { .tgid = w->tgid, .nr = w->nr, .module = module };
		__u64 one = 1, *c = bpf_map_lookup_elem(&reported, &k);
		if (c) {
			__sync_fetch_and_add(c, 1);
			stat_inc(STAT_VIOLATIONS_SUPPRESSED);
			return;
		}
		bpf_map_update_elem(&reported, &k, &one, BPF_ANY);
	}

	struct si_violation_event *ev = &s->ev;
	fill_hdr(&ev->hdr, EV_VIOLATION);
	ev->nr = w->nr;
	ev->module = module;
	ev->depth = w->depth;
	ev->truncated = w->frame != 0;
	ev->action = mode;
	ev->nframes = w->depth < REPORT_FRAMES ? w->depth : REPORT_FRAMES;

	struct si_report_ctx r = { .off = w->off, .nframes = ev->nframes };
	bpf_loop(REPORT_FRAMES, report_step, &r, 0);

	if (bpf_ringbuf_output(&events, ev, sizeof(*ev), 0))
		stat_inc(STAT_EVENTS_LOST);
}

static __always_inline void enforce(__u32 module)
{
	if (mode == MODE_KILL) {
		kill_all = 1;
		bpf_send_signal(SIGKILL);
	} else if (mode == MODE_STOP) {
		bpf_send_signal(SIGSTOP);
	}
}

/* A syscall with no Python frame to charge: one bucket. */
static __always_inline int charge_bucket(struct si_walk_ctx *w, __u32 module)
{
	if (mode == MODE_TRACE) {
		count_trace(module, w->nr);
		return 0;
	}
	struct si_module_rule *r = bpf_map_lookup_elem(&rules, &module);
	if (!r || !rule_bit(r, w->nr)) {
		report_violation(w, module);
		enforce(module);
	}
	return 0;
}

static __always_inline void emit_proc_event(__u32 type, __u32 kind, __s32 code, __u64 runtime,
					    __u64 syscalls, struct linux_binprm *bprm);

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

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	__u32 tid = (__u32)pid_tgid;
	struct si_proc_state *p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return 0;
	if (kill_all) {
		bpf_send_signal(SIGKILL);
		return 0;
	}
	if (p->kind == PROC_LAUNCHING || id < 0 || id >= NR_SYSCALLS)
		return 0;

	__u32 nr = id;
	stat_inc(STAT_SYSCALLS);
	__sync_fetch_and_add(&p->syscalls, 1);

	struct si_walk_ctx w = {};
	w.tgid = tgid;
	w.nr = nr;
	w.denied = ~0U;
	w.guard = ~0U;
	w.last_module = ~0U;

	if (p->kind != PROC_PYTHON)
		return charge_bucket(&w, MODULE_NON_PYTHON);

	int thread_clone = 0;
	if (thread_clone_exempt && (nr == NR_CLONE || nr == NR_CLONE3)) {
		__u64 flags = nr == NR_CLONE ? regs->di : read_u64(regs->di);
		thread_clone = (flags & CLONE_THREAD_FLAG) != 0;
	}

	if (mode != MODE_TRACE) {
		/* The base set allows a syscall whatever the stack: no walk. */
		__u32 base = MODULE_BASE;
		struct si_module_rule *r = bpf_map_lookup_elem(&rules, &base);
		w.base_ok = r && rule_bit(r, nr);
		w.check = !thread_clone;
		w.find_guard = thread_clone && inherit_guards;
		if (thread_clone && !w.find_guard)
			return 0;
		if (w.base_ok && unknown_rule != UNKNOWN_DENY && !w.find_guard)
			return 0;
	}

	__u32 idx = p->pyconf & (MAX_PYCONFS - 1);
	struct si_pyconf *conf = bpf_map_lookup_elem(&pyconfs, &idx);
	if (!conf)
		return charge_bucket(&w, MODULE_FRAMELESS);
	__u64 runtime = p->runtime;
	if (!runtime) {
		runtime = find_runtime(conf);
		if (runtime) {
			p->runtime = runtime;
			emit_proc_event(EV_PYTHON_READY, PROC_PYTHON, 0, runtime, 0, 0);
		}
	}

	__u32 zero = 0;
	struct si_scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 0;
	s->nuniq = 0;
	if (inherit_guards) {
		__u32 *g = bpf_map_lookup_elem(&inherited, &tid);
		if (g)
			visit_module(&w, *g);
	}

	__u64 frame = 0;
	if (runtime) {
		frame = current_frame(runtime, &conf->off);
		if (!frame)
			stat_inc(STAT_TSTATE_MISSES);
	}

	if (frame) {
		s->block_start = 0;
		s->block_len = 0;
		s->block_reads = 0;
		w.off = conf->off;
		w.window = conf->frame_window;
		w.frame = frame;
		stat_inc(STAT_WALKS);
		bpf_loop(max_depth, walk_step, &w, 0);
		if (w.frame) {
			stat_inc(STAT_TRUNCATED);
			visit_module(&w, MODULE_TRUNCATED);
		}
	}

	if (w.find_guard && w.guard != ~0U)
		bpf_map_update_elem(&pending_guard, &tid, &w.guard, BPF_ANY);
	if (w.check && w.denied != ~0U) {
		report_violation(&w, w.denied);
		enforce(w.denied);
		return 0;
	}
	if (!w.charged)
		return charge_bucket(&w, MODULE_FRAMELESS);
	return 0;
}

/* --------------------------------------------------------- process tree */

static __always_inline void emit_proc_event(__u32 type, __u32 kind, __s32 code, __u64 runtime,
					    __u64 syscalls, struct linux_binprm *bprm)
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

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid;
	__u32 ctgid = child->tgid;
	if (inherit_guards) {
		__u32 ptid = parent->pid, ctid = child->pid;
		__u32 *g = bpf_map_lookup_elem(&pending_guard, &ptid);
		if (!g)
			g = bpf_map_lookup_elem(&inherited, &ptid);
		if (g) {
			__u32 v = *g;
			bpf_map_update_elem(&inherited, &ctid, &v, BPF_ANY);
		}
		bpf_map_delete_elem(&pending_guard, &ptid);
	}
	if (ptgid == ctgid)
		return 0; /* a thread */
	struct si_proc_state *p = bpf_map_lookup_elem(&procs, &ptgid);
	if (!p || p->kind == PROC_LAUNCHING)
		return 0;
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
	if (conf) {
		p->kind = PROC_PYTHON;
		p->pyconf = *conf;
	} else {
		p->kind = PROC_OTHER;
	}
	emit_proc_event(EV_EXEC, p->kind, 0, 0, 0, bprm);
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
	__u32 tid = task->pid;
	__u32 tgid = task->tgid;
	if (tgid == supervisor_tgid && BPF_CORE_READ(task, signal, live.counter) == 0) {
		/* Nothing may run unsupervised: kill every tracked process. */
		kill_all = 1;
		if (bpf_ksym_exists(bpf_task_from_pid) && bpf_ksym_exists(bpf_send_signal_task) &&
		    bpf_ksym_exists(bpf_task_release))
			bpf_for_each_map_elem(&procs, kill_tracked, 0, 0);
		return 0;
	}
	if (inherit_guards) {
		bpf_map_delete_elem(&inherited, &tid);
		bpf_map_delete_elem(&pending_guard, &tid);
	}
	struct si_proc_state *p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return 0;
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0; /* other threads live on */
	emit_proc_event(EV_EXIT, p->kind, BPF_CORE_READ(task, exit_code), 0, p->syscalls, 0);
	bpf_map_delete_elem(&procs, &tgid);
	return 0;
}
