// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The streaming JSON writer (json_writer.h). show --json writes its
 * document as it goes, one process at a time: a json-c tree per process
 * (twenty objects, each allocated, hashed and printed) took as long as
 * reading every map, 14 of 48 ms for 10000 processes.
 */
#define _GNU_SOURCE /* fputs_unlocked, fwrite_unlocked */
#include <stdlib.h>

#include <json-c/json.h>

#include "json_writer.h"

struct jw {
	FILE *out;
	int flags;
	bool spaced;
	/* No member yet in the innermost object or array. One flag is
	 * enough for the nesting: an object or array just closed was a member
	 * of the one around it, which so has one. */
	bool first;
	bool named; /* a name was written: its value needs no separator */
	unsigned int depth;
	struct json_object *str, *real; /* reused for each string and real */
};

struct jw *jw_new(FILE *out, int flags)
{
	struct jw *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->out = out;
	w->flags = flags;
	w->spaced = flags & JSON_C_TO_STRING_SPACED;
	w->str = json_object_new_string("");
	w->real = json_object_new_double(0);
	if (!w->str || !w->real) {
		json_object_put(w->str);
		json_object_put(w->real);
		free(w);
		return NULL;
	}
	flockfile(out); /* then stdio's _unlocked calls */
	return w;
}

void jw_destroy(struct jw *w)
{
	if (!w)
		return;
	putc_unlocked('\n', w->out);
	funlockfile(w->out);
	json_object_put(w->str);
	json_object_put(w->real);
	free(w);
}

/* Before a member or an element: the separator. */
static void jw_sep(struct jw *w)
{
	if (!w->first)
		putc_unlocked(',', w->out);
	if (w->spaced)
		putc_unlocked(' ', w->out);
	w->first = false;
}

/* Before a value: a member's follows its name; an element, its separator. */
static void jw_value(struct jw *w)
{
	if (w->named)
		w->named = false;
	else if (w->depth)
		jw_sep(w);
}

static void jw_put_string(struct jw *w, const char *v)
{
	/* "" needs no escaping, and json-c 0.16 leaks the old buffer when
	 * set to it (Debian 12's libjson-c5). */
	if (!*v) {
		fputs_unlocked("\"\"", w->out);
		return;
	}
	json_object_set_string(w->str, v);
	fputs_unlocked(json_object_to_json_string_ext(w->str, w->flags), w->out);
}

static void jw_colon(struct jw *w)
{
	fputs_unlocked(w->spaced ? ": " : ":", w->out);
	w->named = true;
}

void jw_name(struct jw *w, const char *name)
{
	jw_sep(w);
	jw_put_string(w, name);
	jw_colon(w);
}

void jw_name_raw(struct jw *w, const char *name)
{
	jw_sep(w);
	putc_unlocked('"', w->out);
	fputs_unlocked(name, w->out);
	putc_unlocked('"', w->out);
	jw_colon(w);
}

void jw_string(struct jw *w, const char *v)
{
	jw_value(w);
	jw_put_string(w, v);
}

/* Integers without printf: a process has about thirty. */
static void put_uint(struct jw *w, uint64_t v)
{
	char b[20], *p = b + sizeof(b);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	fwrite_unlocked(p, 1, (size_t)(b + sizeof(b) - p), w->out);
}

void jw_uint(struct jw *w, uint64_t v)
{
	jw_value(w);
	put_uint(w, v);
}

/* Signed, for sums of growth that may go below zero. */
void jw_int(struct jw *w, int64_t v)
{
	jw_value(w);
	if (v < 0)
		putc_unlocked('-', w->out);
	/* -(v + 1) + 1: INT64_MIN has no positive counterpart. */
	put_uint(w, v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v);
}

void jw_null(struct jw *w)
{
	jw_value(w);
	fputs_unlocked("null", w->out);
}

void jw_float(struct jw *w, double v)
{
	jw_value(w);
	json_object_set_double(w->real, v);
	fputs_unlocked(json_object_to_json_string_ext(w->real, w->flags), w->out);
}

void jw_bool(struct jw *w, bool v)
{
	jw_value(w);
	fputs_unlocked(v ? "true" : "false", w->out);
}

void jw_string_field(struct jw *w, const char *name, const char *v)
{
	jw_name_raw(w, name);
	jw_string(w, v);
}

void jw_int_field(struct jw *w, const char *name, int64_t v)
{
	jw_name_raw(w, name);
	jw_int(w, v);
}

void jw_uint_field(struct jw *w, const char *name, uint64_t v)
{
	jw_name_raw(w, name);
	jw_uint(w, v);
}

void jw_float_field(struct jw *w, const char *name, double v)
{
	jw_name_raw(w, name);
	jw_float(w, v);
}

void jw_bool_field(struct jw *w, const char *name, bool v)
{
	jw_name_raw(w, name);
	jw_bool(w, v);
}

static void jw_start(struct jw *w, char c)
{
	jw_value(w);
	putc_unlocked(c, w->out);
	w->depth++;
	w->first = true;
}

static void jw_end(struct jw *w, char c)
{
	if (w->spaced)
		putc_unlocked(' ', w->out);
	putc_unlocked(c, w->out);
	w->depth--;
	w->first = false;
}

void jw_start_object(struct jw *w)
{
	jw_start(w, '{');
}

void jw_end_object(struct jw *w)
{
	jw_end(w, '}');
}

void jw_start_array(struct jw *w)
{
	jw_start(w, '[');
}

void jw_end_array(struct jw *w)
{
	jw_end(w, ']');
}
