/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Argument values: which program a module executes, which paths it writes,
 * which addresses it connects or binds to. A policy may restrict a module's
 * values of a kind (si_module_rule.restricted): then a syscall of that kind is
 * allowed by the module only if every value matches one of its patterns:
 *
 *   paths (exec, write, AF_UNIX sockets): `paths` holds (module, kind,
 *   pattern, string); a path matches an exact entry, the CHILDREN entry of
 *   its directory, or a TREE entry of any of its ancestors;
 *   addresses (AF_INET, AF_INET6): `addrs` is a longest-prefix-match trie
 *   over (module, kind, family, port) and the address bits.
 *
 * Values are read at syscall entry (a pointer argument can change before
 * the kernel reads it: the TOCTOU limit of entry-time checks, see
 * docs/security.md). A relative path is resolved against the working
 * directory or the directory descriptor by walking the dentries up to the
 * task's root (across mounts; a chrooted task's root is its chroot, so the
 * path is the one the task itself would name), then normalized lexically
 * (`.`, `..`, `//`, as os.path.normpath; existing symlinks are not
 * resolved). A path that cannot
 * be read or built (or is longer than VALUE_LEN) matches nothing.
 */
#ifndef SECIMPORT_LIB_VALUES_H
#define SECIMPORT_LIB_VALUES_H

#include <bpf/bpf_endian.h>
#include "common.h"
#include "args.h"

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((void *)(ptr) - bpf_core_field_offset(type, member)))
#endif

#define AT_FDCWD_ -100
#define AT_EMPTY_PATH_ 0x1000
#define PATH_DEPTH_MAX 64
#define PATH_END 512 /* where pbuf's string ends */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct si_path_key);
	__type(value, __u8);
} paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1 << 14);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct si_addr_key);
	__type(value, __u8);
} addrs SEC(".maps");

/* The kind of values a right carries. */
static __always_inline __u32 value_kind(__u32 right)
{
	switch (right) {
	case SI_NR_execve:
	case SI_NR_execveat:
		return VALUE_EXEC;
	case RIGHT_OPEN_WRITE:
	case RIGHT_OPENAT_WRITE:
	case RIGHT_OPENAT2_WRITE:
	case SI_NR_creat:
	case SI_NR_truncate:
	case SI_NR_rename:
	case SI_NR_renameat:
	case SI_NR_renameat2:
	case SI_NR_unlink:
	case SI_NR_unlinkat:
	case SI_NR_mkdir:
	case SI_NR_mkdirat:
	case SI_NR_rmdir:
	case SI_NR_link:
	case SI_NR_linkat:
	case SI_NR_symlink:
	case SI_NR_symlinkat:
	case SI_NR_chmod:
	case SI_NR_fchmodat:
	case SI_NR_fchmodat2:
	case SI_NR_chown:
	case SI_NR_lchown:
	case SI_NR_fchownat:
	case SI_NR_mknod:
	case SI_NR_mknodat:
		return VALUE_WRITE;
	case RIGHT_CONNECT_UNIX:
	case RIGHT_CONNECT_INET:
	case RIGHT_CONNECT_OTHER:
	case RIGHT_SENDTO_UNIX:
	case RIGHT_SENDTO_INET:
	case RIGHT_SENDTO_OTHER:
	case RIGHT_SENDMSG_UNIX:
	case RIGHT_SENDMSG_INET:
	case RIGHT_SENDMSG_OTHER:
		return VALUE_CONNECT;
	case RIGHT_BIND_UNIX:
	case RIGHT_BIND_INET:
	case RIGHT_BIND_OTHER:
		return VALUE_BIND;
	}
	return VALUE_NONE;
}

struct si_pathwalk {
	__u64 dentry;
	__u64 mnt; /* struct mount * */
	__u64 root_dentry; /* the task's root (a chroot's, or the global one): the walk ends there, */
	__u64 root_mnt;    /* as paths the task names itself start there (struct vfsmount *) */
	__s32 pos; /* start of the path built so far in pbuf */
	__u32 fail;
};

/* One step up from pw->dentry: prepend "/name", or cross to the mount point. */
static long path_step(__u32 i, struct si_pathwalk *pw)
{
	struct si_vscratch *vs = vscratch();
	if (!vs) {
		pw->fail = 1;
		return 1;
	}
	struct dentry *d = (void *)pw->dentry;
	struct mount *m = (void *)pw->mnt;
	if (pw->dentry == pw->root_dentry && (__u64)&m->mnt == pw->root_mnt)
		return 1; /* the task's root */
	if (d == BPF_CORE_READ(m, mnt.mnt_root)) {
		struct mount *parent = BPF_CORE_READ(m, mnt_parent);
		if (parent == m || !parent)
			return 1; /* the root */
		pw->dentry = (__u64)BPF_CORE_READ(m, mnt_mountpoint);
		pw->mnt = (__u64)parent;
		return 0;
	}
	struct dentry *up = BPF_CORE_READ(d, d_parent);
	if (up == d || !up)
		return 1;
	__u32 len = BPF_CORE_READ(d, d_name.len);
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	__s32 pos = pw->pos - (__s32)len - 1;
	if (len == 0 || len > 255 || pos < 0) {
		pw->fail = 1;
		return 1;
	}
	vs->pbuf[pos & (PATH_END - 1)] = '/';
	if (bpf_probe_read_kernel(&vs->pbuf[(pos + 1) & (PATH_END - 1)], len & 255, name)) {
		pw->fail = 1;
		return 1;
	}
	pw->pos = pos;
	pw->dentry = (__u64)up;
	if (i == PATH_DEPTH_MAX - 1)
		pw->fail = 1; /* deeper than we walk */
	return 0;
}

/* Is the path in vs->joined[0..len) normal (no `.`/`..` component, no `//`)? */
/* Lexical normalization of vs->joined[0..len) into vs->normed: empty and
 * `.` components dropped, `..` drops the component before it (never above
 * the root), as Python's os.path.normpath does. */
struct si_norm {
	__u32 len;
	__u32 start; /* first byte of the current component in joined */
	__u32 out;   /* bytes written to normed */
	__u32 depth; /* components in normed */
	__u32 fail;
};

static long norm_step(__u32 i, struct si_norm *n)
{
	struct si_vscratch *vs = vscratch();
	if (!vs || i > n->len)
		return 1;
	char ch = i == n->len ? '/' : vs->joined[i & (2 * VALUE_LEN - 1)];
	if (ch != '/')
		return 0;
	__u32 clen = i - n->start;
	char c0 = vs->joined[n->start & (2 * VALUE_LEN - 1)];
	char c1 = vs->joined[(n->start + 1) & (2 * VALUE_LEN - 1)];
	/* An empty or `.` component is dropped; `..` drops the one before. */
	int dropped = clen == 0 || (clen == 1 && c0 == '.');
	if (clen == 2 && c0 == '.' && c1 == '.') {
		if (n->depth) {
			n->depth--;
			n->out = vs->comp_at[n->depth & (PATH_DEPTH_MAX - 1)];
		}
	} else if (!dropped) {
		if (n->depth >= PATH_DEPTH_MAX || n->out + 1 + clen >= VALUE_LEN) {
			n->fail = 1;
			return 1;
		}
		vs->comp_at[n->depth & (PATH_DEPTH_MAX - 1)] = n->out;
		n->depth++;
		vs->normed[n->out & (VALUE_LEN - 1)] = '/';
		bpf_probe_read_kernel(&vs->normed[(n->out + 1) & (VALUE_LEN - 1)], clen & (VALUE_LEN - 1),
				      &vs->joined[n->start & (VALUE_LEN - 1)]);
		n->out += 1 + clen;
	}
	n->start = i + 1;
	return 0;
}

/* The path struct of descriptor `fd` of the current task, into dentry/mnt. */
static __always_inline int fd_path(int fd, __u64 *dentry, __u64 *mnt)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return -1;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return -1;
	*dentry = (__u64)BPF_CORE_READ(f, f_path.dentry);
	struct vfsmount *vm = BPF_CORE_READ(f, f_path.mnt);
	*mnt = (__u64)container_of(vm, struct mount, mnt);
	return 0;
}

/* vs->vals[idx].s = the absolute form of the path in vs->rel (length relen),
 * relative to `dirfd`. A global function: verified once. */
__noinline int resolve_path(__u32 idx, int dirfd, __u32 relen)
{
	struct si_vscratch *vs = vscratch();
	if (!vs || idx >= MAX_VALUES || relen >= VALUE_LEN)
		return 0;
	struct si_value *v = &vs->vals[idx & (MAX_VALUES - 1)];
	__u32 total = relen;
	if (relen && vs->rel[0] == '/') {
		bpf_probe_read_kernel(vs->joined, relen & (VALUE_LEN - 1), vs->rel);
	} else {
		struct task_struct *task = bpf_get_current_task_btf();
		struct si_pathwalk pw = {
			.pos = PATH_END,
			.root_dentry = (__u64)BPF_CORE_READ(task, fs, root.dentry),
			.root_mnt = (__u64)BPF_CORE_READ(task, fs, root.mnt),
		};
		if (dirfd == AT_FDCWD_) {
			pw.dentry = (__u64)BPF_CORE_READ(task, fs, pwd.dentry);
			struct vfsmount *vm = BPF_CORE_READ(task, fs, pwd.mnt);
			pw.mnt = (__u64)container_of(vm, struct mount, mnt);
		} else if (fd_path(dirfd, &pw.dentry, &pw.mnt)) {
			v->flags |= VALUE_UNRESOLVED;
			return 0;
		}
		if (!pw.dentry || !pw.mnt) {
			v->flags |= VALUE_UNRESOLVED;
			return 0;
		}
		bpf_loop(PATH_DEPTH_MAX, path_step, &pw, 0);
		__u32 dirlen = PATH_END - pw.pos;
		if (pw.fail || pw.pos < 0 || dirlen >= VALUE_LEN) {
			v->flags |= VALUE_UNRESOLVED;
			return 0;
		}
		/* "./x" is "x" */
		__u32 off = 0;
		for (int k = 0; k < 4; k++) {
			if (off + 1 < relen && vs->rel[off & (VALUE_LEN - 1)] == '.' &&
			    vs->rel[(off + 1) & (VALUE_LEN - 1)] == '/')
				off += 2;
		}
		if (dirlen)
			bpf_probe_read_kernel(vs->joined, dirlen & (VALUE_LEN - 1),
					      &vs->pbuf[pw.pos & (PATH_END - 1)]);
		total = dirlen;
		if (relen > off) {
			vs->joined[dirlen & (VALUE_LEN - 1)] = '/';
			bpf_probe_read_kernel(&vs->joined[(dirlen + 1) & (VALUE_LEN - 1)],
					      (relen - off) & (VALUE_LEN - 1),
					      &vs->rel[off & (VALUE_LEN - 1)]);
			total = dirlen + 1 + relen - off;
		} else if (!dirlen) {
			vs->joined[0] = '/';
			total = 1;
		}
	}
	if (total == 0 || total >= VALUE_LEN) {
		v->flags |= VALUE_UNRESOLVED;
		return 0;
	}
	vs->joined[total & (2 * VALUE_LEN - 1)] = 0;
	struct si_norm n = { .len = total };
	bpf_loop(VALUE_LEN + 1, norm_step, &n, 0);
	if (n.fail || n.out >= VALUE_LEN) {
		v->flags |= VALUE_UNRESOLVED;
		return 0;
	}
	if (n.out == 0) {
		vs->normed[0] = '/';
		n.out = 1;
	}
	vs->normed[n.out & (VALUE_LEN - 1)] = 0;
	bpf_probe_read_kernel(v->s, (n.out + 1) & (VALUE_LEN - 1), vs->normed);
	return 0;
}

/* Reads the NUL-terminated user string at `uptr` into vs->rel; its length,
 * or -1 (unreadable, or VALUE_LEN bytes or more). */
static __always_inline int read_rel(struct si_vscratch *vs, __u64 uptr)
{
	if (!uptr)
		return -1;
	long n = bpf_probe_read_user_str(vs->rel, VALUE_LEN, (void *)uptr);
	if (n <= 0 || n >= VALUE_LEN)
		return -1;
	return n - 1;
}

/* Value `idx` (of `kind`) is the path at `uptr`, relative to `dirfd`. A
 * global function: verified once, not at each call site. */
__noinline int load_user_path(__u32 idx, __u32 kind, int dirfd, __u64 uptr, __u32 empty_ok)
{
	struct si_vscratch *vs = vscratch();
	if (!vs || idx >= MAX_VALUES)
		return 0;
	struct si_value *v = &vs->vals[idx & (MAX_VALUES - 1)];
	v->kind = kind;
	int n = read_rel(vs, uptr);
	if (n < 0 || (n == 0 && !empty_ok)) {
		v->flags |= VALUE_UNRESOLVED;
		return 0;
	}
	resolve_path(idx, dirfd, n);
	return 0;
}

/* A sockaddr's value (connect, bind, sendto, sendmsg). */
__noinline int load_sockaddr(__u32 kind, __u64 addr, __u32 alen)
{
	struct si_vscratch *vs = vscratch();
	if (!vs)
		return 0;
	struct si_value *v = &vs->vals[0];
	v->kind = kind;
	__u16 family = 0;
	if (!addr || bpf_probe_read_user(&family, sizeof(family), (void *)addr)) {
		v->flags |= VALUE_UNRESOLVED;
		return 0;
	}
	v->family = family;
	if (family == AF_INET_) {
		struct sockaddr_in in = {};
		if (bpf_probe_read_user(&in, sizeof(in), (void *)addr)) {
			v->flags |= VALUE_UNRESOLVED;
			return 0;
		}
		v->port = bpf_ntohs(in.sin_port);
		__builtin_memcpy(v->addr, &in.sin_addr, 4);
	} else if (family == AF_INET6_) {
		struct sockaddr_in6 in6 = {};
		if (bpf_probe_read_user(&in6, sizeof(in6), (void *)addr)) {
			v->flags |= VALUE_UNRESOLVED;
			return 0;
		}
		v->port = bpf_ntohs(in6.sin6_port);
		__builtin_memcpy(v->addr, &in6.sin6_addr, 16);
	} else if (family == AF_UNIX_) {
		/* sun_path: a path, or (leading NUL) an abstract name, shown "@name" */
		if (alen <= 2 || bpf_probe_read_user(vs->rel, 108, (void *)(addr + 2))) {
			v->flags |= VALUE_UNRESOLVED;
			return 0;
		}
		vs->rel[108] = 0;
		if (vs->rel[0] == 0) {
			v->s[0] = '@';
			bpf_probe_read_kernel_str(&v->s[1], 108, &vs->rel[1]);
			return 0;
		}
		__u32 len = 0;
		for (int k = 0; k < 108; k++) {
			if (!vs->rel[k])
				break;
			len++;
		}
		resolve_path(0, AT_FDCWD_, len);
	} else {
		v->flags |= VALUE_UNRESOLVED;
	}
	return 0;
}

/* Loads the values of right `right` (syscall `nr`) into vs->vals; sets
 * s->nvals. Returns the kind (VALUE_NONE: the right carries none). */
static __always_inline __u32 load_values(__u32 nr, __u32 right, struct pt_regs *regs)
{
	struct si_scratch *s = scratch();
	struct si_vscratch *vs = vscratch();
	__u32 kind = value_kind(right);
	if (!s || !vs)
		return VALUE_NONE;
	s->nvals = 0;
	if (kind == VALUE_NONE)
		return kind;
	__builtin_memset(vs->vals, 0, sizeof(vs->vals));
	__u64 a0 = BPF_CORE_READ(regs, di), a1 = BPF_CORE_READ(regs, si);
	__u64 a2 = BPF_CORE_READ(regs, dx), a3 = BPF_CORE_READ(regs, r10);
	__u64 a4 = BPF_CORE_READ(regs, r8);
	s->nvals = 1;
	switch (nr) {
	case SI_NR_execveat:
		load_user_path(0, kind, (int)a0, a1, (a4 & AT_EMPTY_PATH_) != 0);
		break;
	case SI_NR_openat:
	case SI_NR_openat2:
	case SI_NR_unlinkat:
	case SI_NR_mkdirat:
	case SI_NR_fchmodat:
	case SI_NR_fchmodat2:
	case SI_NR_mknodat:
		load_user_path(0, kind, (int)a0, a1, 0);
		break;
	case SI_NR_fchownat:
		load_user_path(0, kind, (int)a0, a1, (a4 & AT_EMPTY_PATH_) != 0);
		break;
	case SI_NR_rename:
	case SI_NR_link:
	case SI_NR_symlink: /* (target, linkpath): writes through the link reach the target */
		load_user_path(0, kind, AT_FDCWD_, a0, 0);
		load_user_path(1, kind, AT_FDCWD_, a1, 0);
		s->nvals = 2;
		break;
	case SI_NR_renameat:
	case SI_NR_renameat2:
	case SI_NR_linkat:
		load_user_path(0, kind, (int)a0, a1, 0);
		load_user_path(1, kind, (int)a2, a3, 0);
		s->nvals = 2;
		break;
	case SI_NR_symlinkat: /* (target, newdirfd, linkpath) */
		load_user_path(0, kind, AT_FDCWD_, a0, 0);
		load_user_path(1, kind, (int)a1, a2, 0);
		s->nvals = 2;
		break;
	case SI_NR_connect:
	case SI_NR_bind:
		load_sockaddr(kind, a1, a2);
		break;
	case SI_NR_sendto:
		load_sockaddr(kind, a4, BPF_CORE_READ(regs, r9));
		break;
	case SI_NR_sendmsg: {
		__u64 name = 0;
		__u32 namelen = 0;
		read_u64_ok(a1, &name);
		bpf_probe_read_user(&namelen, sizeof(namelen), (void *)(a1 + 8));
		load_sockaddr(kind, name, namelen);
		break;
	}
	default: /* execve, open, creat, truncate, unlink, mkdir, rmdir, chmod, chown, lchown, mknod */
		load_user_path(0, kind, AT_FDCWD_, a0, 0);
	}
	return kind;
}

/* The import system's class of a write-class right, or 0. */
static __always_inline __u32 pycache_right(__u32 right)
{
	switch (right) {
	case RIGHT_OPEN_WRITE:
		return RIGHT_OPEN_PYCACHE;
	case RIGHT_OPENAT_WRITE:
		return RIGHT_OPENAT_PYCACHE;
	case RIGHT_OPENAT2_WRITE:
		return RIGHT_OPENAT2_PYCACHE;
	case SI_NR_mkdir:
		return RIGHT_MKDIR_PYCACHE;
	case SI_NR_mkdirat:
		return RIGHT_MKDIRAT_PYCACHE;
	case SI_NR_rename:
		return RIGHT_RENAME_PYCACHE;
	case SI_NR_renameat:
		return RIGHT_RENAMEAT_PYCACHE;
	case SI_NR_renameat2:
		return RIGHT_RENAMEAT2_PYCACHE;
	case SI_NR_unlink:
		return RIGHT_UNLINK_PYCACHE;
	case SI_NR_unlinkat:
		return RIGHT_UNLINKAT_PYCACHE;
	}
	return 0;
}

struct si_slashes {
	__u32 len;
	__s32 last; /* the last '/' */
	__s32 prev; /* the one before */
};

static long slash_step(__u32 i, struct si_slashes *c)
{
	struct si_vscratch *vs = vscratch();
	if (!vs)
		return 1;
	char ch = vs->joined[i & (2 * VALUE_LEN - 1)];
	if (!ch) {
		c->len = i;
		return 1;
	}
	if (ch == '/') {
		c->prev = c->last;
		c->last = i;
	}
	return 0;
}

#define PYCACHE_LEN 11 /* "__pycache__" */

/* Is vs->joined[from, from + 11) "__pycache__"? */
static __always_inline int is_pycache_name(struct si_vscratch *vs, __u32 from)
{
	const char want[PYCACHE_LEN] = "__pycache_";
	for (int k = 0; k < PYCACHE_LEN - 1; k++)
		if (vs->joined[(from + k) & (2 * VALUE_LEN - 1)] != want[k])
			return 0;
	return vs->joined[(from + PYCACHE_LEN - 1) & (2 * VALUE_LEN - 1)] == '_';
}

struct si_pyc {
	__u32 from; /* the file name's first byte in joined */
	__u32 len;  /* the path's length */
	__u32 found;
};

/* Is there ".pyc" at from + i, followed by the end or a '.'? */
static long pyc_step(__u32 i, struct si_pyc *p)
{
	struct si_vscratch *vs = vscratch();
	__u32 at = p->from + i;
	if (!vs || at + 4 > p->len)
		return 1;
	char *j = vs->joined;
	if (j[at & (2 * VALUE_LEN - 1)] == '.' && j[(at + 1) & (2 * VALUE_LEN - 1)] == 'p' &&
	    j[(at + 2) & (2 * VALUE_LEN - 1)] == 'y' && j[(at + 3) & (2 * VALUE_LEN - 1)] == 'c' &&
	    (at + 4 == p->len || j[(at + 4) & (2 * VALUE_LEN - 1)] == '.')) {
		p->found = 1;
		return 1;
	}
	return 0;
}

/* Is value `idx` a compiled module's path: DIR/__pycache__/NAME.pyc or
 * NAME.pyc.TEMP (`dir_itself`: DIR/__pycache__)? Lexical, on a normal path.
 * A global function: verified once. */
__noinline int is_pycache_path(__u32 idx, __u32 dir_itself)
{
	struct si_vscratch *vs = vscratch();
	if (!vs || idx >= MAX_VALUES)
		return 0;
	struct si_value *v = &vs->vals[idx & (MAX_VALUES - 1)];
	if (v->flags & VALUE_UNRESOLVED)
		return 0;
	bpf_probe_read_kernel(vs->joined, VALUE_LEN, v->s);
	struct si_slashes c = { .len = VALUE_LEN, .last = -1, .prev = -1 };
	bpf_loop(VALUE_LEN, slash_step, &c, 0);
	if (c.len >= VALUE_LEN || c.last < 0)
		return 0;
	if (dir_itself)
		return c.len == (__u32)c.last + 1 + PYCACHE_LEN && is_pycache_name(vs, c.last + 1);
	if (c.prev < 0 || c.last - c.prev - 1 != PYCACHE_LEN || !is_pycache_name(vs, c.prev + 1))
		return 0;
	/* NAME ends in ".pyc" or has ".pyc." in it */
	struct si_pyc p = { .from = c.last + 1, .len = c.len };
	bpf_loop(VALUE_LEN, pyc_step, &p, 0);
	return p.found;
}

/* The right of a write into __pycache__ by the import system's rules (every
 * path it names is a compiled module's), else `right`. */
static __always_inline __u32 reclassify_pycache(__u32 right)
{
	__u32 pyc = pycache_right(right);
	struct si_scratch *s = scratch();
	if (!pyc || !s)
		return right;
	__u32 dir = right == SI_NR_mkdir || right == SI_NR_mkdirat;
	__u32 n = s->nvals;
	for (__u32 i = 0; i < MAX_VALUES; i++) {
		if (i >= n)
			break;
		if (!is_pycache_path(i, dir))
			return right;
	}
	return n ? pyc : right;
}

struct si_tail {
	__u32 first; /* the last '/' of the path not seen yet */
	__u32 found;
};

/* From the end of vs->pkey.s: at each '/', look the directory up as a TREE
 * pattern (and, for the last one, as CHILDREN); then cut the byte. */
static long tail_step(__u32 i, struct si_tail *t)
{
	struct si_vscratch *vs = vscratch();
	if (!vs)
		return 1;
	__u32 j = (VALUE_LEN - 1 - i) & (VALUE_LEN - 1);
	char c = vs->pkey.s[j];
	if (c == '/') {
		vs->pkey.pattern = PATTERN_TREE;
		if (bpf_map_lookup_elem(&paths, &vs->pkey)) {
			t->found = 1;
			return 1;
		}
		if (t->first) {
			t->first = 0;
			vs->pkey.pattern = PATTERN_CHILDREN;
			if (bpf_map_lookup_elem(&paths, &vs->pkey)) {
				t->found = 1;
				return 1;
			}
		}
	}
	vs->pkey.s[j] = 0;
	return 0;
}

/* Does value `idx` of the current syscall match one of `module`'s patterns?
 * A global function: verified once. */
__noinline int value_matches(__u32 module, __u32 idx)
{
	struct si_vscratch *vs = vscratch();
	if (!vs || idx >= MAX_VALUES)
		return 0;
	struct si_value *v = &vs->vals[idx & (MAX_VALUES - 1)];
	if (v->flags & VALUE_UNRESOLVED)
		return 0;
	if (v->family == AF_INET_ || v->family == AF_INET6_) {
		struct si_addr_key *k = &vs->akey;
		__builtin_memset(k, 0, sizeof(*k));
		k->prefixlen = ADDR_KEY_FIXED_BITS + (v->family == AF_INET_ ? 32 : 128);
		k->module = module;
		k->kind = v->kind;
		k->family = v->family;
		k->port = v->port;
		__builtin_memcpy(k->addr, v->addr, 16);
		if (bpf_map_lookup_elem(&addrs, k))
			return 1;
		k->any_port = 1;
		k->port = 0;
		return bpf_map_lookup_elem(&addrs, k) != 0;
	}
	struct si_path_key *k = &vs->pkey;
	k->module = module;
	k->kind = v->kind;
	k->pattern = PATTERN_EXACT;
	__builtin_memcpy(k->s, v->s, VALUE_LEN);
	if (bpf_map_lookup_elem(&paths, k))
		return 1;
	struct si_tail t = { .first = 1 };
	bpf_loop(VALUE_LEN, tail_step, &t, 0);
	return t.found;
}

#endif
