/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Building an absolute path in the kernel, the way the task itself sees it.
 *
 * A struct path is a (vfsmount, dentry) pair. Walking d_parent from the
 * dentry up, we prepend each component's name. When the walk reaches the
 * root dentry of a mount, it continues from the dentry the mount is mounted
 * on (mnt_mountpoint) in the parent mount. The walk stops at the task's own
 * root (task->fs->root), so a chrooted task gets paths inside its root. If
 * the walk reaches the top of the mount tree without meeting the task's
 * root, the file lies outside the task's root (an fd opened before chroot)
 * and the path is flagged TR_F_OUTSIDE.
 *
 * The name is written backwards into a per-CPU buffer that ends at
 * TR_PATH_MAX. Nothing partial is ever passed off as whole: a path longer
 * than TR_PATH_MAX, a component longer than NAME_MAX, or a walk deeper than
 * TR_MAX_DEPTH sets TR_F_TRUNCATED and the caller counts it as lost.
 *
 * The walk runs in a bpf_loop() callback: a bounded C loop of 2048
 * iterations would exceed the verifier's instruction budget.
 */
#ifndef TRACE_ROOT_PATH_WALK_BPF_H
#define TRACE_ROOT_PATH_WALK_BPF_H

#define TR_WALK_BUF (TR_PATH_MAX + TR_NAME_MAX)

/* The walk's state lives in the per-CPU scratch area rather than on the
 * stack: the verifier does not track what a map value holds, so the loop
 * callback is verified in one pass instead of once per distinct range of
 * `pos` it could reach. */
struct walk_state {
	__u64 dentry;
	__u64 vfsmnt;
	__u64 root_dentry;
	__u64 root_mnt;
	__u32 pos;      /* the path occupies buf[pos .. TR_PATH_MAX) */
	__u32 flags;
	__u32 done;
	__u32 pad;
};

struct walk_ref {
	struct walk_state *w;
	char *buf;      /* TR_WALK_BUF bytes */
};

/* What one step needs of a dentry and its mount: plain loads through
 * CAST() where that works (cast.bpf.h), probe reads elsewhere. */
struct walk_read {
	__u64 parent, mnt_root, name;
	__u32 len;
};

static __always_inline void read_step(struct walk_read *r, __u64 dentry, __u64 vfsmnt)
{
	if (HAVE_CAST) {
		struct dentry *d = CAST(dentry, dentry);
		r->parent = (__u64)d->d_parent;
		r->mnt_root = (__u64)CAST(vfsmount, vfsmnt)->mnt_root;
		r->name = (__u64)d->d_name.name;
		r->len = d->d_name.len;
	} else {
		struct dentry *d = (struct dentry *)dentry;
		struct qstr name = BPF_CORE_READ(d, d_name);
		r->parent = (__u64)BPF_CORE_READ(d, d_parent);
		r->mnt_root = (__u64)BPF_CORE_READ((struct vfsmount *)vfsmnt, mnt_root);
		r->name = (__u64)name.name;
		r->len = name.len;
	}
}

/* The struct mount around a vfsmount: its parent mount and the dentry it
 * is mounted on. Returns the parent's address (0 at the top). */
static __always_inline __u64 read_mount(__u64 vfsmnt, __u64 *mountpoint)
{
	__u64 m = vfsmnt - bpf_core_field_offset(struct mount, mnt);

	if (HAVE_CAST) {
		struct mount *mo = CAST(mount, m);
		*mountpoint = (__u64)mo->mnt_mountpoint;
		return (__u64)mo->mnt_parent;
	}
	*mountpoint = (__u64)BPF_CORE_READ((struct mount *)m, mnt_mountpoint);
	return (__u64)BPF_CORE_READ((struct mount *)m, mnt_parent);
}

static long walk_step(__u32 index, struct walk_ref *c)
{
	struct walk_state *w = c->w;
	struct walk_read r;
	__u32 pos = w->pos;

	if (w->dentry == w->root_dentry && w->vfsmnt == w->root_mnt) {
		w->done = 1;
		return 1;
	}

	read_step(&r, w->dentry, w->vfsmnt);
	if (w->dentry == r.mnt_root || w->dentry == r.parent) {
		__u64 mountpoint;
		__u64 mp = read_mount(w->vfsmnt, &mountpoint);
		__u64 m = w->vfsmnt - bpf_core_field_offset(struct mount, mnt);

		if (m == mp || !mp) {
			/* Top of this mount tree, and not the task's root. */
			w->flags |= TR_F_OUTSIDE;
			w->done = 1;
			return 1;
		}
		w->dentry = mountpoint;
		w->vfsmnt = mp + bpf_core_field_offset(struct mount, mnt);
		return 0;
	}

	__u32 len = r.len;

	if (len == 0 || len >= TR_NAME_MAX || pos > TR_PATH_MAX || pos < len + 1) {
		w->flags |= TR_F_TRUNCATED;
		w->done = 1;
		return 1;
	}
	pos -= len;
	bpf_probe_read_kernel(c->buf + (pos & (TR_PATH_MAX - 1)), len & (TR_NAME_MAX - 1),
			      (const void *)r.name);
	pos -= 1;
	c->buf[pos & (TR_PATH_MAX - 1)] = '/';
	w->pos = pos;
	w->dentry = r.parent;
	return 0;
}

/* Whether a dentry was unlinked (d_unlinked(): unhashed and not a root). */
static __always_inline int dentry_unlinked(__u64 dentry)
{
	if (HAVE_CAST) {
		struct dentry *d = CAST(dentry, dentry);
		return !d->d_hash.pprev && (__u64)d->d_parent != dentry;
	}
	struct dentry *d = (struct dentry *)dentry;
	return !BPF_CORE_READ(d, d_hash.pprev) && (__u64)BPF_CORE_READ(d, d_parent) != dentry;
}

/* Walks (vfsmnt, dentry) up to (root_mnt, root_dentry), writing the path
 * at the end of `buf`. Returns the start offset; the path is
 * buf[start .. TR_PATH_MAX). */
static __always_inline __u32 walk_path(struct walk_state *w, char *buf, __u64 vfsmnt,
				       __u64 dentry, __u64 root_mnt, __u64 root_dentry,
				       __u32 *flags)
{
	struct walk_ref c = {.w = w, .buf = buf};

	w->dentry = dentry;
	w->vfsmnt = vfsmnt;
	w->root_dentry = root_dentry;
	w->root_mnt = root_mnt;
	w->pos = TR_PATH_MAX;
	w->flags = 0;
	w->done = 0;

	if (dentry_unlinked(dentry))
		w->flags |= TR_F_DELETED;

	bpf_loop(TR_MAX_DEPTH, walk_step, &c, 0);
	__u32 pos = w->pos, fl = w->flags;
	if (!w->done)
		fl |= TR_F_TRUNCATED;
	if (pos == TR_PATH_MAX && !(fl & TR_F_TRUNCATED)) {
		/* The file is the root itself. */
		pos = TR_PATH_MAX - 1;
		buf[pos & (TR_PATH_MAX - 1)] = '/';
	}
	*flags |= fl;
	return pos;
}

#endif /* TRACE_ROOT_PATH_WALK_BPF_H */
