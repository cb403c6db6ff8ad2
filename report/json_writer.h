/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A streaming JSON writer, in the manner of bpftool's json_writer: names,
 * values and collections written as they come, the commas between members
 * and elements taken care of. The layout is json-c's own for the flags
 * given (JSON_C_TO_STRING_PLAIN or _SPACED), and strings and reals go
 * through json-c, which escapes and formats them: the text is the one
 * json_object_to_json_string_ext() prints for the same document.
 */
#ifndef PNM_JSON_WRITER_H
#define PNM_JSON_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct jw;

/* A writer to out, holding out's lock (flockfile) until jw_destroy; NULL
 * when out of memory. */
struct jw *jw_new(FILE *out, int flags);
/* End the document with a newline, unlock out and free the writer. */
void jw_destroy(struct jw *w);

/* A member's name, escaped; jw_name_raw: one of ours, no character of
 * which needs escaping, written as it is. Its value follows. */
void jw_name(struct jw *w, const char *name);
void jw_name_raw(struct jw *w, const char *name);

/* Values: a member's (after a name) or an array's element. */
void jw_string(struct jw *w, const char *v);
void jw_uint(struct jw *w, uint64_t v);
void jw_int(struct jw *w, int64_t v);
void jw_null(struct jw *w);
void jw_float(struct jw *w, double v);
void jw_bool(struct jw *w, bool v);

/* A name of ours (as jw_name_raw) and its value. */
void jw_string_field(struct jw *w, const char *name, const char *v);
void jw_uint_field(struct jw *w, const char *name, uint64_t v);
void jw_int_field(struct jw *w, const char *name, int64_t v);
void jw_float_field(struct jw *w, const char *name, double v);
void jw_bool_field(struct jw *w, const char *name, bool v);

/* Collections. */
void jw_start_object(struct jw *w);
void jw_end_object(struct jw *w);
void jw_start_array(struct jw *w);
void jw_end_array(struct jw *w);

#endif
