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

struct walk_ctx {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u32 pos;      /* the path occupies walk[pos .. TR_PATH_MAX) */
	__u32 flags;
	__u32 done;
};

static __always_inline char *walk_buffer(void);

static long walk_step(__u32 index, struct walk_ctx *c)
{
	struct dentry *d = c->dentry;
	struct vfsmount *vm = c->vfsmnt;
	char *buf;

	if (d == c->root_dentry && vm == c->root_mnt) {
		c->done = 1;
		return 1;
	}

	struct dentry *mnt_root = BPF_CORE_READ(vm, mnt_root);
	struct dentry *parent = BPF_CORE_READ(d, d_parent);

	if (d == mnt_root || d == parent) {
		struct mount *m = container_of(vm, struct mount, mnt);
		struct mount *mp = BPF_CORE_READ(m, mnt_parent);

		if (m == mp || !mp) {
			/* Top of this mount tree, and not the task's root. */
			c->flags |= TR_F_OUTSIDE;
			c->done = 1;
			return 1;
		}
		c->dentry = BPF_CORE_READ(m, mnt_mountpoint);
		c->vfsmnt = &mp->mnt;
		return 0;
	}

	struct qstr name = BPF_CORE_READ(d, d_name);
	__u32 len = name.len;

	if (len == 0 || len >= TR_NAME_MAX || c->pos < len + 1) {
		c->flags |= TR_F_TRUNCATED;
		c->done = 1;
		return 1;
	}
	buf = walk_buffer();
	if (!buf) {
		c->flags |= TR_F_TRUNCATED;
		c->done = 1;
		return 1;
	}
	c->pos -= len;
	bpf_probe_read_kernel(buf + (c->pos & (TR_PATH_MAX - 1)), len & (TR_NAME_MAX - 1),
			      name.name);
	c->pos -= 1;
	buf[c->pos & (TR_PATH_MAX - 1)] = '/';
	c->dentry = parent;
	return 0;
}

/* Walks (vfsmnt, dentry) up to (root_mnt, root_dentry). Returns the start
 * offset in walk_buffer(); the path is walk[start .. TR_PATH_MAX). */
static __always_inline __u32 walk_path(struct vfsmount *vfsmnt, struct dentry *dentry,
				       struct vfsmount *root_mnt, struct dentry *root_dentry,
				       __u32 *flags)
{
	struct walk_ctx c = {
		.dentry = dentry,
		.vfsmnt = vfsmnt,
		.root_dentry = root_dentry,
		.root_mnt = root_mnt,
		.pos = TR_PATH_MAX,
	};
	char *buf;

	/* d_unlinked(): unhashed and not a root. */
	if (!BPF_CORE_READ(dentry, d_hash.pprev) && BPF_CORE_READ(dentry, d_parent) != dentry)
		c.flags |= TR_F_DELETED;

	bpf_loop(TR_MAX_DEPTH, walk_step, &c, 0);
	if (!c.done)
		c.flags |= TR_F_TRUNCATED;
	if (c.pos == TR_PATH_MAX && !(c.flags & TR_F_TRUNCATED)) {
		/* The file is the root itself. */
		buf = walk_buffer();
		if (buf) {
			c.pos = TR_PATH_MAX - 1;
			buf[c.pos & (TR_PATH_MAX - 1)] = '/';
		}
	}
	*flags |= c.flags;
	return c.pos;
}

#endif /* TRACE_ROOT_PATH_WALK_BPF_H */
