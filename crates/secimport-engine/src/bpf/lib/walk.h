/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The frame walk: from a thread state's current frame to its outermost one,
 * reading the frames (the frame stack in blocks from 3.11, each heap frame
 * object before), naming each code object's module (cached
 * per code object, keyed by co_filename) and visiting each module once.
 *
 * Nothing here allows anything: a frame whose code or name cannot be read is
 * visited as MODULE_UNREADABLE, a stack longer than the walk limit as
 * MODULE_TRUNCATED, and both are judged as unknown modules.
 */
#ifndef SECIMPORT_LIB_WALK_H
#define SECIMPORT_LIB_WALK_H

#include "common.h"
#include "decide.h"

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

/* Module id of a code object's co_filename; allocates an id for a new file.
 * Compact strings (what CPython makes for file names) hold their characters
 * inline; a str subclass's are behind a pointer: both are read. */
__noinline __u32 resolve_filename(__u64 fname_obj, const struct si_py_offsets *off)
{
	struct si_scratch *s = scratch();
	if (!s || !fname_obj || !off)
		return MODULE_UNREADABLE;

	__u32 state = 0;
	if (bpf_probe_read_user(&state, sizeof(state), (void *)(fname_obj + off->str_state)))
		return MODULE_UNREADABLE;
	/* state bits: interned:2 kind:3 compact:1 ascii:1 */
	__u32 kind = (state >> 2) & 7;
	int compact = (state >> 5) & 1;
	int ascii = (state >> 6) & 1;
	__u64 data;
	if (compact)
		data = fname_obj + (ascii ? off->str_ascii_data : off->str_compact_data);
	else if (!read_u64_ok(fname_obj + off->str_compact_data, &data) || !data)
		return MODULE_UNREADABLE;

	__builtin_memset(&s->fname, 0, sizeof(s->fname));
	if (ascii) {
		if (bpf_probe_read_user_str(s->fname.name, sizeof(s->fname.name), (void *)data) <= 0)
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
		if (len == 0 || bpf_probe_read_user(&s->fname.name[1], len & (FILENAME_MAX_LEN - 1), (void *)data))
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
		return id ? *id : MODULE_OVERFLOW;
	}
	if (announce_modules) {
		struct si_module_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (e) {
			fill_hdr(&e->hdr, EV_MODULE);
			e->module = fresh;
			e->pad = 0;
			__builtin_memcpy(&e->fname, &s->fname, sizeof(e->fname));
			bpf_ringbuf_submit(e, 0);
		} else {
			stat_inc(STAT_EVENTS_LOST);
		}
	}
	return fresh;
}

static __always_inline __u32 code_slot(__u32 tgid, __u64 code)
{
	return ((code >> 4) ^ (code >> 16) ^ tgid) & (CODE_CACHE_SLOTS - 1);
}

/* Is this code object's module in this CPU's code cache? */
static __always_inline int code_cached(__u32 tgid, __u64 code, __u64 globals)
{
	__u32 slot = code_slot(tgid, code);
	struct si_code_slot *c = bpf_map_lookup_elem(&code_cache, &slot);
	return code && c && c->code == code && c->tgid == tgid && c->globals == globals;
}

static __always_inline __u32 module_of(__u32 tgid, __u64 code, __u64 globals,
				       const struct si_py_offsets *off)
{
	__u32 slot = code_slot(tgid, code);
	struct si_code_slot *c = bpf_map_lookup_elem(&code_cache, &slot);
	if (c && c->code == code && c->tgid == tgid && c->globals == globals)
		return c->module;

	/* Slow path: the LRU, checked against the code's current co_filename. */
	__u64 fname_obj = 0;
	if (!read_u64_ok(code + off->code_filename, &fname_obj))
		return MODULE_UNREADABLE;
	struct si_code_key k = { .tgid = tgid, .code = code };
	struct si_code_val *v = bpf_map_lookup_elem(&codes, &k);
	__u32 module;
	if (v && v->filename == fname_obj) {
		module = v->module;
	} else {
		struct si_code_val nv = { .filename = fname_obj };
		nv.module = module = resolve_filename(fname_obj, off);
		if (module == MODULE_UNREADABLE || module == MODULE_OVERFLOW)
			return module;
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

/* FAMILY_INTERP_FRAME (3.11+): frames live on the thread's frame stack,
 * callers below callees, so one read usually covers many frames: a first
 * small block, then big ones. A block that would cross into unreadable
 * memory falls back to the frame alone. Leaves [frame, frame + size) in the
 * block; -1 if the frame cannot be read. */
static __always_inline int read_stack_frame(struct si_scratch *s, struct si_walk_ctx *w, __u64 frame, __u32 size)
{
	if (frame >= s->block_start && frame + size <= s->block_start + s->block_len)
		return 0;
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
		return -1;
	}
	s->block_start = start;
	s->block_len = want;
	return 0;
}

/* FAMILY_FRAME_OBJECT (3.8-3.10): each PyFrameObject is its own heap
 * object: one read of the fields the walk needs. */
static __always_inline int read_heap_frame(struct si_scratch *s, __u64 frame, __u32 size)
{
	s->block_reads++;
	if (bpf_probe_read_user(s->block, size, (void *)frame)) {
		s->block_start = 0;
		s->block_len = 0;
		return -1;
	}
	s->block_start = frame;
	s->block_len = size;
	return 0;
}

static long walk_step(__u32 i, void *unused)
{
	struct si_scratch *s = scratch();
	if (!s)
		return 1;
	struct si_walk_ctx *w = &s->w;
	__u64 frame = w->frame;
	if (!frame)
		return 1;
	__u32 size = w->window;
	if (size == 0 || size > FRAME_WINDOW_MAX)
		return 1;
	int err = w->off.family == FAMILY_FRAME_OBJECT ? read_heap_frame(s, frame, size)
						       : read_stack_frame(s, w, frame, size);
	if (err) {
		stat_inc(STAT_READ_ERRORS);
		/* The rest of the stack cannot be seen: judged as unknown. */
		w->frame = 0;
		visit_module(w, MODULE_UNREADABLE);
		return 1;
	}
	/* The window covers every field read here (frame_window). */
	__u64 base = frame - s->block_start;
	w->frame = s->block[((base + w->off.frame_previous) / 8) & (STACK_BLOCK / 8 - 1)];
	__u64 code = s->block[((base + w->off.frame_code) / 8) & (STACK_BLOCK / 8 - 1)];
	__u64 globals = s->block[((base + w->off.frame_globals) / 8) & (STACK_BLOCK / 8 - 1)];
	code &= ~(__u64)w->off.code_tag_bits; /* 3.14: a _PyStackRef */

	if (w->off.owner_skip != OFFSET_NONE) {
		__u8 owner = ((__u8 *)s->block)[(base + w->off.frame_owner) & (STACK_BLOCK - 1)];
		if (owner >= w->off.owner_skip) {
			/* The interpreter's own frame (a C-stack shim or an entry
			 * frame): no module; its report slot says so. */
			__u32 at = w->frame_base + i;
			if (at < REPORT_FRAMES) {
				s->frame_ptrs[at & 31] = frame;
				s->code_ptrs[at & 31] = 0;
				s->frame_modules[at & 31] = MODULE_SHIM;
				s->nframes = at + 1;
			}
			return 0;
		}
	}
	__u32 module;
	if (code && code == w->last_code)
		module = w->last_module; /* recursion, or a loop calling itself */
	else if (code)
		module = module_of(w->tgid, code, globals, &w->off);
	else
		module = MODULE_UNREADABLE;
	if (module == MODULE_UNREADABLE)
		stat_inc(STAT_READ_ERRORS);

	/* Depth comes from the loop index, which the verifier treats as unknown:
	 * a counter of our own would be explored once per value. */
	__u32 at = w->frame_base + i;
	if (at < REPORT_FRAMES) {
		s->frame_ptrs[at & 31] = frame;
		s->code_ptrs[at & 31] = code;
		s->frame_modules[at & 31] = module;
		s->nframes = at + 1;
	}
	w->depth = at + 1;
	/* Consecutive frames of one code object, or of the last two modules
	 * seen (a recursion through two modules), were visited already. */
	if (code != w->last_code || i == 0) {
		w->last_code = code;
		if (i == 0 || (module != w->last_module && module != w->prev_module)) {
			w->prev_module = w->last_module;
			w->last_module = module;
			visit_module(w, module);
		} else if (module != w->last_module) {
			w->prev_module = w->last_module;
			w->last_module = module;
		}
	}
	return 0;
}

/* Walks one thread state's frames, from `frame`, into the scratch area's
 * walk context; `floor` is the start of the frame-stack chunk the current
 * frame is in. */
__noinline int walk_frames(__u64 frame, __u64 floor)
{
	struct si_scratch *s = scratch();
	if (!s || !frame)
		return 0;
	struct si_walk_ctx *w = &s->w;
	s->floor = floor;
	s->block_start = 0;
	s->block_len = 0;
	s->block_reads = 0;
	w->frame = frame;
	w->frame_base = w->depth;
	w->last_code = 0;
	w->last_module = ~0U;
	w->prev_module = ~0U;
	stat_inc(STAT_WALKS);
	bpf_loop(max_depth, walk_step, 0, 0);
	if (w->frame) {
		stat_inc(STAT_TRUNCATED);
		w->truncated = 1;
		visit_module(w, MODULE_TRUNCATED);
	}
	return 0;
}

#endif
