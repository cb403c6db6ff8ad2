// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests: which program libbpf says it failed to load, and why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

/* As libbpf 1.1 says it, in order, for a program the verifier refused. */
static void verifier_refusal(void **state)
{
	struct pnm_load_failure f = { 0 };

	(void)state;
	pnm_load_failure_parse(&f, "libbpf: prog 'pnm_sockfiles': BPF program load failed: "
				   "Permission denied\n");
	pnm_load_failure_parse(
		&f, "libbpf: prog 'pnm_sockfiles': -- BEGIN PROG LOAD LOG --\n"
		    "0: R1=ctx() R10=fp0\n"
		    "; ps = bpf_sk_storage_get(&pnm_sockowner, sk, 0, 0); @ sock_owner.bpf.c:570\n"
		    "42: (85) call bpf_sk_storage_get#107\n"
		    "R2 type=untrusted_ptr_ expected=ptr_, trusted_ptr_, rcu_ptr_\n"
		    "processed 67 insns (limit 1000000) max_states_per_insn 0 total_states 7\n"
		    "-- END PROG LOAD LOG --\n");
	assert_string_equal(f.prog, "");
	pnm_load_failure_parse(&f, "libbpf: prog 'pnm_sockfiles': failed to load: -13\n");
	assert_string_equal(f.prog, "pnm_sockfiles");
	assert_string_equal(f.reason_of, "pnm_sockfiles");
	assert_string_equal(f.reason,
			    "R2 type=untrusted_ptr_ expected=ptr_, trusted_ptr_, rcu_ptr_");
}

/* Refused before the verifier ran (a lockdown's EPERM): its log has only
 * the statistics, and the reason is libbpf's own line. */
static void refused_without_log(void **state)
{
	struct pnm_load_failure f = { 0 };

	(void)state;
	pnm_load_failure_parse(&f, "libbpf: prog 'pnm_sockiter': BPF program load failed: "
				   "Operation not permitted\n");
	pnm_load_failure_parse(&f, "libbpf: prog 'pnm_sockiter': -- BEGIN PROG LOAD LOG --\n"
				   "processed 0 insns (limit 1000000) max_states_per_insn 0\n"
				   "-- END PROG LOAD LOG --\n");
	pnm_load_failure_parse(&f, "libbpf: prog 'pnm_sockiter': failed to load: -1\n");
	assert_string_equal(f.prog, "pnm_sockiter");
	assert_string_equal(f.reason, "BPF program load failed: Operation not permitted");
}

/* Another program's messages do not lend it their reason; other lines and
 * over-long names are ignored. */
static void other_lines(void **state)
{
	struct pnm_load_failure f = { 0 };
	char longname[200];

	(void)state;
	pnm_load_failure_parse(&f, "libbpf: prog 'a': BPF program load failed: Invalid argument\n");
	pnm_load_failure_parse(&f, "libbpf: failed to load object 'sock_owner_bpf'\n");
	pnm_load_failure_parse(&f, "libbpf: prog 'b': failed to load: -22\n");
	assert_string_equal(f.prog, "b");
	assert_string_equal(f.reason_of, "a");
	memset(longname, 'x', sizeof(longname));
	memcpy(longname, "prog '", 6);
	longname[sizeof(longname) - 1] = '\0';
	pnm_load_failure_parse(&f, longname);
	pnm_load_failure_parse(&f, "prog '': failed to load: -1");
	assert_string_equal(f.prog, "b");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(verifier_refusal),
		cmocka_unit_test(refused_without_log),
		cmocka_unit_test(other_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
