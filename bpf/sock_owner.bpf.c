// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Who owns a socket. The owner is kept in socket-local storage
 * (pnm_sockowner), so it is freed with the socket and never goes stale:
 *  - cgroup/sock_create names the creating process;
 *  - a listener's owner is cloned to every socket it accepts (BPF_F_CLONE),
 *    since accepted sockets are born in softirq where no process is known;
 *  - every send and receive that moves bytes (tp_btf/sock_*_length, process
 *    context) hands the socket to the process doing it: this covers sockets
 *    shared across fork and passed over unix sockets. TCP sends
 *    (tp_btf/tcp_sendmsg_locked) and unconnected UDP sends (cgroup
 *    sendmsg4/6) are claimed before their packets leave;
 *  - at attach, an iterator over every process's open files gives the
 *    sockets that already exist to the process holding them;
 *  - sock_ops follows TCP closing: at CLOSE the connection's counters and
 *    owner go to pnm_conn, by cookie, which its time-wait socket keeps.
 * Process identities (name, parent, exited) go to pnm_procinfo.
 *
 * One object, one skeleton (sock_owner_bpf): this file keeps the socket
 * hooks and includes the rest by concern: owner_claim.bpf.h (identities
 * and claims), owner_events.bpf.h (pnm-tc events), owner_readers.bpf.h
 * (the socket readers and the seeding), owner_lifecycle.bpf.h (exec, fork,
 * exit). The programs stay in the order the skeleton (and so the loader's
 * pnm_hookstate rows) lists them, the order they are defined in: hence the
 * readers' header between the hooks, and the lifecycle's at the end.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "flows.bpf.h"
#include "net.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

extern void *bpf_rdonly_cast(void *obj, __u32 btf_id) __ksym __weak;

/* What became of each program here at load, for status (the loader writes
 * it; no program reads it). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PNM_HOOK_SLOTS);
	__type(key, __u32);
	__type(value, struct pnm_hook_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pnm_hookstate SEC(".maps");

/* The load-time options (skel->rodata) are all defined here, in the order
 * of the skeleton's rodata, whichever header uses them. */

/* May the cgroup programs walk the current task through BTF pointers
 * (bpf_get_current_task_btf, Linux 6.x)? Probed by the loader: it costs
 * them half of probe reads' time. */
const volatile bool pnm_task_btf = false;

/* pnm_parent's size, set by the loader: a fork's slot is its PID modulo. */
const volatile __u32 pnm_fork_slots = PNM_MAX_PROCS;

/* Kernels that refuse map iterators (iter/bpf_sk_storage_map, iter/
 * bpf_map_elem: EPERM on some hardened builds) get the same records from
 * every process's open sockets instead (pinned as PNM_SOCKITER too). A
 * socket open in several processes comes once per process: the reader
 * keeps one per cookie. A socket no process holds is missed: one its last
 * holder closed (so such a TCP socket retires at release, and its bytes go
 * to the maps from then on: pnm_sock_release) or one still in a listener's
 * accept queue (seen once accepted). */
const volatile bool pnm_files_reader = false;

#include "owner_events.bpf.h"
#include "owner_claim.bpf.h"

SEC("cgroup/sock_create")
int pnm_sock_create(struct bpf_sock *ctx)
{
	struct task_struct *t;
	struct pnm_owner me;
	__u64 cookie;

	/* Every IP socket (TCP, UDP, raw, ICMP ping, SCTP) and packet socket:
	 * the packet path counts the others' packets in the maps. */
	if (ctx->family == AF_INET || ctx->family == AF_INET6 || ctx->family == AF_PACKET) {
		t = current_owner(&me);
		/* A cookie now: TC ingress can read a looked-up socket's cookie
		 * but not make one (the flow cache and pnm_conn need it). */
		cookie = bpf_get_socket_cookie(ctx);
		if (claim(ctx, &me, t) > 0)
			set_cookie_owner(cookie, &me);
	}
	return 1; /* never deny */
}

/*
 * A socket closes: what it counted goes to its owner's pnm_procstat entry,
 * its connection to a pnm_conn entry, and what it counts from now on goes
 * there too (its storage dies with it). Once per socket.
 */
static __always_inline void retire(struct pnm_sock *ps, __u64 cookie, const struct pnm_tuple *t,
				   __u8 state)
{
	struct pnm_conn *c = NULL;
	struct pnm_owner o;
	struct pnm_folds *f;

	if (__sync_fetch_and_or(&ps->flags, PNM_SOCK_RETIRED) & PNM_SOCK_RETIRED)
		return;
	flow_forget(ps);
	if (!read_owner(&ps->owner, &o))
		return;
	f = fold_begin();
	fold(ps, &o);
	if (ps->slot[0])
		c = conn_get(cookie, &o, state, t);
	for (int i = 0; c && i < PNM_CONN_IFACES; i++) {
		__u32 slot = ps->slot[i];

		if (!slot)
			continue;
		conn_add(c, slot - 1, &o, state, PNM_IN, ps->in[i].bytes, ps->in[i].packets);
		conn_add(c, slot - 1, &o, state, PNM_OUT, ps->out[i].bytes, ps->out[i].packets);
	}
	if (c)
		c->closed = 1; /* at CLOSE (TCP) or released (UDP): not open */
	fold_end(f);
}

/* A TCP socket retires when it reaches CLOSE: after its last packet
 * (a closed socket's FIN exchange and resets are still its own).
 * Established ones retire in sockops first; this takes the rest (a
 * connect that failed), whose local port is already cleared here. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(pnm_tcp_state, struct sock *sk, int oldstate, int newstate)
{
	struct pnm_tuple t = {};
	struct pnm_sock *ps;

	if (newstate != PNM_TCP_CLOSE || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	ps = bpf_sk_storage_get(&pnm_sockowner, sk, 0, 0);
	if (!ps)
		return 0;
	tuple_of_sock(sk, &t);
	retire(ps, bpf_get_socket_cookie(sk), &t, PNM_TCP_CLOSE);
	return 0;
}

/* The socket is closed by its last holder: drop its cookie record, retire
 * a UDP socket (a TCP one may still have its FIN exchange ahead), mark its
 * connection closed. */
SEC("cgroup/sock_release")
int pnm_sock_release(struct bpf_sock *ctx)
{
	__u32 proto = ctx->protocol; /* read once: not again through ctx + 12 */
	struct pnm_tuple t = { .proto = (__u8)proto };
	struct pnm_sock *ps;
	struct pnm_conn *c;
	__u64 cookie = 0;

	if (ctx->family != AF_INET && ctx->family != AF_INET6 && ctx->family != AF_PACKET)
		return 1;
	if (xdp_owners()) {
		cookie = bpf_get_socket_cookie(ctx);
		bpf_map_delete_elem(&pnm_skcookie, &cookie);
	}
	if (ctx->family == AF_PACKET || (proto != IPPROTO_TCP && proto != IPPROTO_UDP))
		return 1;
	ps = bpf_sk_storage_get(&pnm_sockowner, ctx, 0, 0);
	if (ps && (PNM_ONCE(ps->flags) & PNM_SOCK_ACCEPTED)) {
		/* Accepted, and closed before any byte was sent or read on
		 * it: the process closing it accepted it (or was given it),
		 * and takes it with its handshake and its closing. */
		struct pnm_owner me;
		struct task_struct *t = current_owner(&me);

		if (claim(ctx, &me, t) > 0)
			set_cookie_owner(cookie, &me);
	}
	if (ps && (__sync_fetch_and_or(&ps->flags, PNM_SOCK_RELEASED) & PNM_SOCK_RETIRED) == 0 &&
	    proto == IPPROTO_TCP && !pnm_files_reader)
		return 1; /* its pnm_conn entry, if any, is marked at CLOSE (retire) */
	if (!cookie)
		cookie = bpf_get_socket_cookie(ctx);
	/* cgroup/sock_release cannot read the local address; without
	 * bpf_rdonly_cast (Linux < 6.2) the closed connection is listed
	 * without its addresses. */
	if (bpf_rdonly_cast && (proto == IPPROTO_UDP || (ps && pnm_files_reader)))
		tuple_of_sock(bpf_rdonly_cast(ctx, bpf_core_type_id_kernel(struct sock)), &t);
	/* Also TCP when the socket reader sees only open sockets: what the
	 * socket counts from now on (its FIN exchange, the rest of its send
	 * queue) goes to the maps, where show sees it. */
	if (ps && (proto == IPPROTO_UDP || pnm_files_reader))
		retire(ps, cookie, &t, proto == IPPROTO_TCP ? PNM_TCP_CLOSE : 0);
	/* Its per-connection counters stay, marked closed, until the LRU
	 * needs the room. */
	c = bpf_map_lookup_elem(&pnm_conn, &cookie);
	if (c) {
		c->closed = 1;
		if (proto == IPPROTO_TCP)
			c->state = BPF_TCP_CLOSE;
		/* A UDP socket's entry may have been made from a datagram
		 * (a flow-cache entry keyed by its sender, a third interface,
		 * XDP) while it was unconnected: its local address was the
		 * datagram's destination (a broadcast address, say), its
		 * remote end the sender or none, whatever connect came later.
		 * From now on the entry alone describes the socket: the
		 * socket's own tuple. */
		if (proto == IPPROTO_UDP && t.lport)
			c->t = t;
	}
	return 1;
}

/* The readers and the seeding: their programs come here. */
#include "owner_readers.bpf.h"

/* Unconnected UDP sends, before the datagram is built. */
static __always_inline int claim_sendmsg(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct task_struct *t;
	struct pnm_owner me;

	if (sk) {
		t = current_owner(&me);
		if (claim(sk, &me, t) > 0)
			set_cookie_owner(bpf_get_socket_cookie(ctx), &me);
	}
	return 1; /* never deny */
}

SEC("cgroup/sendmsg4")
int pnm_sendmsg4(struct bpf_sock_addr *ctx)
{
	stash_dst(ctx, false);
	return claim_sendmsg(ctx);
}

SEC("cgroup/sendmsg6")
int pnm_sendmsg6(struct bpf_sock_addr *ctx)
{
	stash_dst(ctx, true);
	return claim_sendmsg(ctx);
}

/* May another UDP socket have (or get) the same local port as sk, and so
 * the packets of a sender the flow cache has given to another: bound to a
 * device, or SO_REUSEADDR/SO_REUSEPORT. True when it cannot be told. */
static __always_inline bool port_may_be_shared(struct bpf_sock *sk)
{
	struct sock *s;

	if (!bpf_rdonly_cast)
		return true;
	s = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct sock));
	return s->__sk_common.skc_bound_dev_if ||
	       BPF_CORE_READ_BITFIELD(&s->__sk_common, skc_reuse) ||
	       BPF_CORE_READ_BITFIELD(&s->__sk_common, skc_reuseport);
}

/* A UDP socket connects elsewhere: its old tuple is no longer its own. One
 * that shares its port takes its new peer's packets from the socket the
 * flow cache has for them. */
static __always_inline int forget_on_connect(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	struct pnm_sock *ps;

	if (sk && sk->protocol == IPPROTO_UDP) {
		ps = bpf_sk_storage_get(&pnm_sockowner, sk, 0, 0);
		if (ps)
			flow_forget(ps);
		if (port_may_be_shared(sk))
			flowgen_bump();
	}
	return 1; /* never deny */
}

/* A UDP socket bound to a port another socket may have: the packets the
 * flow cache gives that one by sender may be its own now. */
static __always_inline int forget_on_bind(struct bpf_sock *ctx)
{
	if (ctx->protocol == IPPROTO_UDP && port_may_be_shared(ctx))
		flowgen_bump();
	return 1; /* never deny */
}

SEC("cgroup/post_bind4")
int pnm_post_bind4(struct bpf_sock *ctx)
{
	return forget_on_bind(ctx);
}

SEC("cgroup/post_bind6")
int pnm_post_bind6(struct bpf_sock *ctx)
{
	return forget_on_bind(ctx);
}

SEC("cgroup/connect4")
int pnm_connect4(struct bpf_sock_addr *ctx)
{
	return forget_on_connect(ctx);
}

SEC("cgroup/connect6")
int pnm_connect6(struct bpf_sock_addr *ctx)
{
	return forget_on_connect(ctx);
}

/* TCP sends, before the data is queued and pushed out. */
SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(pnm_tcp_send, struct sock *sk)
{
	claim_btf(sk, bpf_get_current_task_btf());
	return 0;
}

static __always_inline void claim_on_io(struct sock *sk, int ret, __u32 type)
{
	struct task_struct *t;

	if (ret > 0 && owned_sock(sk)) {
		t = bpf_get_current_task_btf();
		claim_btf(sk, t);
		if (sk->__sk_common.skc_family != AF_PACKET)
			event_io(sk, t, ret, type);
	}
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(pnm_send, struct sock *sk, int ret, int flags)
{
	claim_on_io(sk, ret, PNM_EV_SEND);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(pnm_recv, struct sock *sk, int ret, int flags)
{
	claim_on_io(sk, ret, PNM_EV_RECV);
	return 0;
}

/* Not inlined: two inlined copies let the compiler merge their context
 * reads through one computed pointer, which the verifier refuses. */
static __noinline void tuple_of_skops(const struct bpf_sock_ops *skops, struct pnm_tuple *t)
{
	t->proto = IPPROTO_TCP;
	t->lport = (__u16)skops->local_port;
	t->rport = (__u16)bpf_ntohl(skops->remote_port);
	if (skops->family == AF_INET) {
		t->family = AF_INET;
		__builtin_memcpy(t->local, &skops->local_ip4, 4);
		__builtin_memcpy(t->remote, &skops->remote_ip4, 4);
	} else {
		__u32 l[4] = { skops->local_ip6[0], skops->local_ip6[1], skops->local_ip6[2],
			       skops->local_ip6[3] };
		__u32 r[4] = { skops->remote_ip6[0], skops->remote_ip6[1], skops->remote_ip6[2],
			       skops->remote_ip6[3] };
		tuple_set_v6(t, l, r);
	}
}

/* An established connection reaches CLOSE: retire it here, while its local
 * port is still set (pnm_tcp_state sees it cleared). Its cookie is read in
 * place (it got one when created or accepted): the helper is a call. */
static __always_inline void retire_skops(struct bpf_sock_ops *skops)
{
	struct pnm_tuple t = {};
	struct bpf_sock *sk = skops->sk;
	struct pnm_sock *ps;
	__u64 cookie = 0;

	if (!sk)
		return;
	ps = bpf_sk_storage_get(&pnm_sockowner, sk, 0, 0);
	if (!ps)
		return;
	tuple_of_skops(skops, &t);
	if (bpf_rdonly_cast)
		cookie = ((struct sock *)bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct sock)))
				 ->__sk_common.skc_cookie.counter;
	if (!cookie)
		cookie = bpf_get_socket_cookie(skops);
	retire(ps, cookie, &t, PNM_TCP_CLOSE);
}

/* An accepted connection is established: the bytes of its handshake, which
 * only found the listener (pnm_synpend), are its own now, and its first
 * user's with the rest (PNM_SOCK_ACCEPTED). Looked for only where one may
 * be: its listener had a handshake stashed (PNM_SOCK_SYNPEND, cloned with
 * the storage), or an XDP ingress stashes them; an XDP stash of an
 * interface detached since went with it. */
static __always_inline void take_handshake(struct bpf_sock_ops *skops, struct pnm_sock *ps)
{
	struct pnm_tuple t = {};
	struct pnm_folds *f;
	struct pnm_syn *e;

	if (!(PNM_ONCE(ps->flags) & PNM_SOCK_SYNPEND) && !xdp_owners())
		return;
	tuple_of_skops(skops, &t);
	e = bpf_map_lookup_elem(&pnm_synpend, &t);
	if (!e)
		return;
	f = fold_begin();
	__sync_lock_test_and_set(&e->moved, 1);
	syn_give(e, ps);
	fold_end(f);
	bpf_map_delete_elem(&pnm_synpend, &t);
}

SEC("sockops")
int pnm_sockops(struct bpf_sock_ops *skops)
{
	struct pnm_owner owner;
	__u64 cookie;
	struct bpf_sock *sk;
	struct pnm_sock *o;

	switch (skops->op) {
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		/* An accepted socket got its listener's owner by cloning; no
		 * process-context hook has seen it yet. It gets its cookie
		 * here, as a created one does in sock_create, and waits for
		 * its first user (PNM_SOCK_ACCEPTED). */
		cookie = bpf_get_socket_cookie(skops);
		sk = skops->sk;
		if (sk) {
			o = bpf_sk_storage_get(&pnm_sockowner, sk, 0, 0);
			if (o && read_owner(&o->owner, &owner)) {
				set_cookie_owner(cookie, &owner);
				__sync_fetch_and_or(&o->flags, PNM_SOCK_ACCEPTED);
				take_handshake(skops, o);
			}
		}
		__attribute__((fallthrough));
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
							 BPF_SOCK_OPS_STATE_CB_FLAG);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] == BPF_TCP_CLOSE)
			retire_skops(skops);
		break;
	}
	return 1;
}

/* exec, fork, exit: the last programs. */
#include "owner_lifecycle.bpf.h"
