/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading kernel objects with plain loads instead of probe reads.
 *
 * The programs mostly hold kernel pointers as integers (in the per-CPU
 * scratch area, or as a raw tracepoint's arguments), and an integer can
 * only be read through bpf_probe_read_kernel(): a helper call that costs
 * about 75 ns here for a few bytes. The kfunc bpf_rdonly_cast(p, id) turns
 * an integer into a read-only pointer to the kernel type with BTF id `id`,
 * whose fields are then plain loads that the JIT guards against faults (a
 * bad address reads as 0, as a failed probe read leaves 0). The verifier
 * turns the kfunc itself into a register move, so the cast is free at run
 * time, and it costs the verifier none of the BTF searches that loads
 * through a trusted pointer such as bpf_get_current_task_btf() do.
 *
 * Why a call of a made-up helper: libbpf 1.1 resolves a kfunc only after
 * parsing the whole kernel BTF, about 20 ms on every start, which is the
 * cost the small embedded BTF exists to avoid. When the kernel is the one
 * trace-root was built on, the tracer knows the kfunc's id and the structs'
 * ids from build time (bpf/btf_ids.awk) and rewrites each call of helper
 * TR_CAST_CALL into the kfunc call just before load (rewrite_cast_calls()
 * in src/trace/kernel_btf.cpp). On any other kernel the ids are 0,
 * HAVE_CAST is false, every cast sits in dead code, and the calls are
 * rewritten into a plain move that the verifier would refuse to
 * dereference, so a mistake cannot load. Each use therefore comes with the
 * probe-read form for those kernels, next to it.
 */
#ifndef TRACE_ROOT_CAST_BPF_H
#define TRACE_ROOT_CAST_BPF_H

/* Filled by userspace before load; read-only to the programs, so the
 * verifier knows the values and follows only the branch they select. */
const volatile struct tr_btf_ids btf_ids = {};

static void *(*tr_cast)(const void *p, __u32 btf_id) = (void *)TR_CAST_CALL;

#define HAVE_CAST (btf_ids.task_struct != 0)

/* The kernel object of struct `type` at address `p` (an integer). */
#define CAST(type, p) ((struct type *)tr_cast((const void *)(__u64)(p), btf_ids.type))

#endif /* TRACE_ROOT_CAST_BPF_H */
