// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The load-time constants of the packet programs (patch.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "log.h"
#include "patch.h"

uint32_t pnm_attach_gen(void)
{
	struct timespec ts;
	uint32_t g;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	g = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec * 2654435761u;
	return g ? g : 1;
}

int pnm_set_consts(struct bpf_object *obj, const uint64_t val[PNM_C_COUNT])
{
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, obj)
	{
		size_t n = bpf_program__insn_cnt(prog);
		struct bpf_insn *insn = malloc(n * sizeof(*insn));
		int rc;

		if (!insn)
			return -ENOMEM;
		memcpy(insn, bpf_program__insns(prog), n * sizeof(*insn));
		for (size_t i = 0; i + 1 < n; i++) {
			uint32_t id = (uint32_t)insn[i].imm;

			if (insn[i].code != (BPF_LD | BPF_IMM | BPF_DW))
				continue;
			if (!insn[i].src_reg && (uint32_t)insn[i + 1].imm == PNM_CONST_MARK) {
				if (!id || id >= PNM_C_COUNT) {
					free(insn);
					pr_warn("program %s has an unknown load-time constant (%u)",
						bpf_program__name(prog), id);
					return -EINVAL;
				}
				insn[i].imm = (int32_t)(uint32_t)val[id];
				insn[i + 1].imm = (int32_t)(uint32_t)(val[id] >> 32);
			}
			i++; /* its second half */
		}
		rc = bpf_program__set_insns(prog, insn, n);
		free(insn);
		if (rc)
			return rc;
	}
	return 0;
}
