/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The contract between the BPF programs (sandbox.bpf.c and lib/) and the Rust
 * loader.
 *
 * Every struct and enum that crosses the boundary is defined here once. The
 * Rust side never mirrors these by hand: it uses the types libbpf-cargo
 * generates into the skeleton (`types` in the engine crate), which come from
 * the BTF of the compiled object. Enums reach the skeleton because a global
 * or a record field has their type (see the anchors in sandbox.bpf.c).
 */
#ifndef SECIMPORT_SANDBOX_H
#define SECIMPORT_SANDBOX_H

/* Well-known module ids (index into `rules`). Real modules (one per distinct
 * co_filename) start at MODULE_FIRST_DYNAMIC. */
enum si_module_id {
	MODULE_FRAMELESS = 0,   /* no Python frame, after the first frame ran */
	MODULE_NON_PYTHON = 1,  /* a process that is not running the interpreter */
	MODULE_TRUNCATED = 2,   /* frames beyond the walk limit: judged as unknown */
	MODULE_OVERFLOW = 3,    /* more modules/threads/states than the kernel can hold: unknown */
	MODULE_UNREADABLE = 4,  /* a frame or thread state that could not be read: unknown */
	MODULE_NOWALK = 5,      /* syscalls whose verdict cannot depend on the stack */
	MODULE_STARTUP = 6,     /* no Python frame, before the first frame ran */
	MODULE_BASE = 7,        /* what every module may make besides its own list */
	MODULE_DANGEROUS = 8,   /* never allowed by base, start-up or frameless */
	MODULE_ANY_STACK = 9,   /* derived from the policy: allowed by every possible stack
				 * when not dangerous (base, start-up and frameless all
				 * allow it); walked only to learn nothing new */
	MODULE_FIRST_DYNAMIC = 16,
};

#define MAX_MODULES 65536
#define FILENAME_MAX_LEN 256
#define FRAME_WINDOW_MAX 128
#define STACK_BLOCK 4096      /* bytes of the frame stack read at once */
#define COUNT_CACHE_SLOTS 4096
#define CODE_CACHE_SLOTS 4096
#define UNIQ_MAX 128          /* distinct modules remembered per syscall */
#define PROV_MAX 128          /* modules a thread inherits from its creator */
#define DENIED_MAX 16         /* denying modules named in a report */
#define MAX_TSTATES 4         /* thread states bound to one OS thread */
#define MAX_INTERPS 4         /* interpreters a thread's cache remembers */
#define NR_SYSCALLS 512
#define SYSCALL_WORDS (NR_SYSCALLS / 64)
#define MAX_PYCONFS 8
#define REPORT_FRAMES 20
#define FUNC_NAME_LEN 64
#define LINETABLE_MAX 1024

/* Sandbox modes (const volatile `mode`). */
enum si_mode {
	MODE_TRACE = 0, /* aggregate syscall counts per module, decide nothing */
	MODE_LOG = 1,   /* decide; report violations; let them run */
	MODE_KILL = 2,  /* decide; SIGKILL the tree at syscall entry */
	MODE_STOP = 3,  /* decide; SIGSTOP the offending process */
};

/* How modules the policy does not cover are judged (const volatile `unknown_rule`). */
enum si_unknown_rule {
	UNKNOWN_BASE_ONLY = 0,
	UNKNOWN_ALLOW = 1,
	UNKNOWN_DENY = 2,
};

/* si_proc_state.kind */
enum si_proc_kind {
	PROC_LAUNCHING = 0, /* forked by the launcher, not yet exec'd: ignored */
	PROC_PYTHON = 1,    /* running a known interpreter */
	PROC_OTHER = 2,     /* running anything else */
};

/* Counters (per-CPU array map `stats`). */
enum si_stat_id {
	STAT_SYSCALLS = 0,  /* syscalls of tracked processes */
	STAT_WALKS,         /* Python stacks walked */
	STAT_TRUNCATED,     /* stacks deeper than the walk limit */
	STAT_EVENTS_LOST,   /* ring buffer full */
	STAT_READ_ERRORS,   /* user memory reads that failed during walks */
	STAT_MODULE_OVERFLOW,
	STAT_TSTATE_MISSES, /* thread of a started Python process without a PyThreadState */
	STAT_VIOLATIONS,
	STAT_VIOLATIONS_SUPPRESSED, /* repeats not reported individually */
	STAT_TSTATE_SCANS,  /* thread-state lists scanned (cache misses) */
	STAT_SIGNAL_WRITES, /* writes made inside a C signal handler, not charged */
	STAT_REPORT_KEYS_OVERFLOW, /* log mode: violations whose (process, syscall, module)
				    * did not fit the `reported` table (counted only, or
				    * reported in full while under the cap) */
	STAT_REPORTS_CAPPED, /* log mode: first violations of a (process, syscall, module)
			      * not reported in full: the run's cap was reached */
	STAT_REPORTS_THROTTLED, /* log mode: ... not reported in full then: the ring
				 * buffer was more than half full (reported at a
				 * later repeat if there is room) */
	STAT_RESUMED,       /* stop mode: stopped syscalls let through after SIGCONT */
	STAT_MAX,
};

/* Limits of the kernel side's reporting (enum, so they reach Rust). */
enum si_limit {
	/* Distinct (process, syscall, first denying module) triples whose
	 * repeats are counted in `reported` (log mode). */
	REPORT_KEYS_MAX = 16384,
	/* Full violation records sent per run in log mode; beyond it only the
	 * first violation of each syscall number is sent in full, the rest
	 * are counted (per triple in `reported`, and STAT_REPORTS_CAPPED). */
	FULL_REPORTS_MAX = 1000,
};

/* Why a verdict was reached without (only) the named modules (bits of
 * si_violation_event.reasons). */
enum si_reason {
	REASON_DANGEROUS = 1,  /* the syscall's arguments make it a dangerous class */
	REASON_TRUNCATED = 2,  /* stack deeper than the walk limit */
	REASON_UNREADABLE = 4, /* a frame, name or thread state could not be read */
	REASON_OVERFLOW = 8,   /* more than the kernel can hold */
	REASON_INHERITED = 16, /* the thread carries its creator's modules */
	REASON_FRAMELESS = 32, /* no Python frame on the thread */
	REASON_STARTUP = 64,   /* ... and the interpreter had not run a frame yet */
};

/* Ring buffer records: the first field of every record is the type. */
enum si_event_type {
	EV_FORK = 1,
	EV_EXEC = 2,
	EV_EXIT = 3,
	EV_VIOLATION = 4,
	EV_PYTHON_READY = 5,
	EV_RESUMED = 6,     /* stop mode: a stopped syscall let through after SIGCONT */
};

/* Threads (and processes) created while a module with this flag is on the
 * stack, or inherited, are judged by it for their whole life: in `run` and
 * `trace` every module is inherited this way; the flag marks guards. */
enum si_rule_flags {
	RULE_GUARD = 1,
};

/* Where the interpreter keeps what the walker needs. One entry per supported
 * interpreter ELF, filled from the offsets table in the engine crate. */
struct si_py_offsets {
	__u32 runtime_interpreters_head;
	__u32 interp_next;
	__u32 interp_threads_head;
	__u32 tstate_next;
	__u32 tstate_thread_id;
	__u32 tstate_datastack_chunk; /* the thread's current frame-stack chunk */
	__u32 chunk_previous;         /* _PyStackChunk.previous */
	__u32 tstate_cframe;        /* 0xffffffff: tstate holds current_frame directly */
	__u32 cframe_current_frame; /* or tstate->current_frame when tstate_cframe is 0xffffffff */
	__u32 frame_globals;        /* f_globals: with f_code, identifies a code object's module */
	__u32 frame_code;
	__u32 frame_previous;
	__u32 frame_owner;
	__u32 frame_prev_instr;
	__u32 owner_cstack;          /* owner value of shim frames to skip; 0xffffffff if none */
	__u32 code_filename;
	__u32 code_qualname;
	__u32 code_firstlineno;
	__u32 code_linetable;
	__u32 code_adaptive;
	__u32 str_length;
	__u32 str_state;
	__u32 str_ascii_data;
	__u32 str_utf8;              /* PyCompactUnicodeObject.utf8 (char *) */
	__u32 str_compact_data;      /* sizeof(PyCompactUnicodeObject): non-ASCII code units */
	__u32 bytes_size;
	__u32 bytes_data;
};

struct si_pyconf {
	struct si_py_offsets off;
	/* The ELF that defines _PyRuntime (the interpreter, or libpython): the
	 * kernel finds where a process mapped its file offset 0 and adds
	 * runtime_offset (_PyRuntime's address minus that segment's address). */
	__u64 runtime_dev;
	__u64 runtime_ino;
	__u64 runtime_offset;
	/* Bytes read at once from each frame: covers f_code and previous. */
	__u32 frame_window;
	__u32 pad;
};

struct si_proc_state {
	__u64 runtime;   /* address of _PyRuntime in this process, 0 = not known yet */
	__u32 pyconf;    /* index into `pyconfs` */
	enum si_proc_kind kind;
	__u64 syscalls;
	__u32 started;   /* a Python frame was seen: start-up is over */
	__u32 supervisor; /* runs the secimport binary (another guard's supervisor): not killed
			   * with the tree, so it can report what it saw */
};

struct si_exe_key {
	__u64 dev;
	__u64 ino;
};

struct si_code_key {
	__u32 tgid;
	__u32 pad;
	__u64 code;
};

struct si_code_val {
	__u64 filename; /* co_filename pointer when cached, to detect reuse */
	__u32 module;
	__u32 pad;
};

struct si_filename_key {
	char name[FILENAME_MAX_LEN];
};

struct si_trace_key {
	__u32 module;
	__u32 nr;
};

/* Per-CPU direct-mapped trace counters in front of `trace_counts`; a slot
 * is flushed to the hash when another key needs it. count == 0: empty. */
struct si_count_slot {
	__u32 module;
	__u32 nr;
	__u64 count;
};

struct si_report_key {
	__u32 tgid;
	__u32 nr;
	__u32 module;
};

/* reported[key]: how often the triple violated, and whether a full record
 * of it was sent. */
struct si_report_val {
	__u64 count;
	__u32 full;
	__u32 pad;
};

/* rules[module]: what a module may do. `present` 0: the policy does not
 * cover it (the unknown rule applies). The well-known ids hold the sets
 * (NOWALK, BASE, STARTUP, FRAMELESS, NON_PYTHON, DANGEROUS). */
struct si_module_rule {
	__u64 allow[SYSCALL_WORDS];
	__u32 present;
	__u32 flags;   /* enum si_rule_flags */
};

struct si_event_hdr {
	enum si_event_type type;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u64 ts_ns;
	char comm[16];
};

struct si_proc_event {
	struct si_event_hdr hdr;
	__s32 exit_code;  /* EV_EXIT: raw wait status */
	enum si_proc_kind kind; /* after the event */
	__u64 runtime;    /* EV_PYTHON_READY */
	__u64 syscalls;   /* EV_EXIT: syscalls the process made while tracked */
	char filename[FILENAME_MAX_LEN]; /* EV_EXEC */
};

struct si_frame_info {
	__u64 code;
	__u32 module;
	__u32 firstlineno;
	__s32 lasti;        /* code unit offset of the current instruction, -1 unknown */
	__u32 linetable_len;
	char func[FUNC_NAME_LEN];
	__u8 linetable[LINETABLE_MAX];
};

struct si_violation_event {
	struct si_event_hdr hdr;
	__u32 nr;           /* syscall number */
	__u32 module;       /* first module that denied it */
	__u32 depth;        /* frames walked (all thread states) */
	__u32 nframes;      /* frames filled in below */
	enum si_mode action;
	__u32 truncated;
	__u32 reasons;      /* enum si_reason bits */
	__u32 ndenied;
	__u32 denied[DENIED_MAX];       /* every module that denied it, in visit order */
	__u32 ninherited;
	__u32 inherited[PROV_MAX];      /* modules inherited from the thread's creator */
	/* Last: the record sent holds only the nframes filled in. */
	struct si_frame_info frames[REPORT_FRAMES];
};

/* EV_RESUMED: the thread stopped at syscall `nr` was continued and made it
 * again (the stop had interrupted it); it was let through once. */
struct si_resume_event {
	struct si_event_hdr hdr;
	__u32 nr;
	__u32 pad;
};

#endif /* SECIMPORT_SANDBOX_H */
