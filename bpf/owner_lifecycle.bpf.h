/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Process lifecycle (part of sock_owner.bpf.c, included by it last: its
 * programs are the skeleton's last): exec refreshes a process's name in
 * pnm_procinfo, fork records the process tree (pnm_parent), exit marks the
 * record; each also makes an event when pnm-tc events wants one.
 */
#ifndef PNM_OWNER_LIFECYCLE_BPF_H
#define PNM_OWNER_LIFECYCLE_BPF_H

/* The process's pnm_procinfo record; not looked for while no live record
 * shares its pnm_infolive slot (info_live). */
static __always_inline struct pnm_proc_info *info_of(const struct pnm_owner *o)
{
	__u32 *n = info_live(o->tgid);

	return n && !PNM_ONCE(*n) ? NULL : bpf_map_lookup_elem(&pnm_procinfo, o);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(pnm_exec, struct task_struct *p)
{
	struct pnm_owner o;
	struct pnm_proc_info *info;

	/* Through the tracepoint's BTF pointer: loads, not probe-read calls
	 * (a helper call costs 100-200 ns on a VM with retpolines). */
	owner_of_btf(p, &o);
	info = info_of(&o);
	if (info)
		__builtin_memcpy(info->comm, p->comm, sizeof(info->comm));
	if (events_on(o.tgid)) {
		struct pnm_event *e = event_new(PNM_EV_EXEC, p);

		if (e)
			bpf_ringbuf_submit(e, 0);
	}
	return 0;
}

/* The process tree, for show --children: a new process (not a thread)
 * and the process that forked it. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(pnm_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 tgid = (__u32)child->tgid, slot = tgid % pnm_fork_slots;
	struct pnm_evcfg *cfg;
	struct pnm_fork *f;

	if (child->pid != child->tgid)
		return 0;
	f = bpf_map_lookup_elem(&pnm_parent, &slot);
	if (f) {
		f->child.start_ns = child->start_boottime;
		f->child.tgid = tgid;
		f->child.pad = 0;
		owner_of_btf(parent, &f->parent);
	}
	/* pnm-tc events --children: the family grows with each fork. */
	cfg = events_on((__u32)parent->tgid);
	if (cfg && cfg->filter_pids && cfg->children)
		bpf_map_update_elem(&pnm_evpids, &tgid, &tgid, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(pnm_exit, struct task_struct *p)
{
	struct pnm_owner o;
	struct pnm_proc_info *info;

	/* Only the last thread of the group ends the process. */
	if (p->signal->live.counter != 0)
		return 0;
	owner_of_btf(p, &o);
	info = info_of(&o);
	if (info && !(info->flags & PNM_PROC_EXITED)) {
		__u32 *n = info_live(o.tgid);

		info->exit_ns = bpf_ktime_get_boot_ns();
		info->flags |= PNM_PROC_EXITED;
		if (n)
			__sync_fetch_and_add(n, -1);
	}
	if (events_on(o.tgid)) {
		struct pnm_event *e = event_new(PNM_EV_EXIT, p);

		if (e) {
			/* As wait() reports it: the group's code if it had one. */
			e->value = BPF_CORE_READ(p, signal, group_exit_code)
					   ?: BPF_CORE_READ(p, exit_code);
			bpf_ringbuf_submit(e, 0);
		}
	}
	return 0;
}

#endif /* PNM_OWNER_LIFECYCLE_BPF_H */
