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

static long walk_step(__u32 index, struct walk_ref *c)
{
	struct walk_state *w = c->w;
	struct dentry *d = (struct dentry *)w->dentry;
	struct vfsmount *vm = (struct vfsmount *)w->vfsmnt;
	__u32 pos = w->pos;

	if (w->dentry == w->root_dentry && w->vfsmnt == w->root_mnt) {
		w->done = 1;
		return 1;
	}

	struct dentry *mnt_root = BPF_CORE_READ(vm, mnt_root);
	struct dentry *parent = BPF_CORE_READ(d, d_parent);

	if (d == mnt_root || d == parent) {
		struct mount *m = container_of(vm, struct mount, mnt);
		struct mount *mp = BPF_CORE_READ(m, mnt_parent);

		if (m == mp || !mp) {
			/* Top of this mount tree, and not the task's root. */
			w->flags |= TR_F_OUTSIDE;
			w->done = 1;
			return 1;
		}
		w->dentry = (__u64)BPF_CORE_READ(m, mnt_mountpoint);
		w->vfsmnt = (__u64)&mp->mnt;
		return 0;
	}

	struct qstr name = BPF_CORE_READ(d, d_name);
	__u32 len = name.len;

	if (len == 0 || len >= TR_NAME_MAX || pos > TR_PATH_MAX || pos < len + 1) {
		w->flags |= TR_F_TRUNCATED;
		w->done = 1;
		return 1;
	}
	pos -= len;
	bpf_probe_read_kernel(c->buf + (pos & (TR_PATH_MAX - 1)), len & (TR_NAME_MAX - 1),
			      name.name);
	pos -= 1;
	c->buf[pos & (TR_PATH_MAX - 1)] = '/';
	w->pos = pos;
	w->dentry = (__u64)parent;
	return 0;
}

/* Walks (vfsmnt, dentry) up to (root_mnt, root_dentry), writing the path
 * at the end of `buf`. Returns the start offset; the path is
 * buf[start .. TR_PATH_MAX). */
static __always_inline __u32 walk_path(struct walk_state *w, char *buf, __u64 vfsmnt,
				       __u64 dentry, __u64 root_mnt, __u64 root_dentry,
				       __u32 *flags)
{
	struct walk_ref c = {.w = w, .buf = buf};
	struct dentry *d = (struct dentry *)dentry;

	w->dentry = dentry;
	w->vfsmnt = vfsmnt;
	w->root_dentry = root_dentry;
	w->root_mnt = root_mnt;
	w->pos = TR_PATH_MAX;
	w->flags = 0;
	w->done = 0;

	/* d_unlinked(): unhashed and not a root. */
	if (!BPF_CORE_READ(d, d_hash.pprev) && BPF_CORE_READ(d, d_parent) != d)
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
