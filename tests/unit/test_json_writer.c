// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests of the streaming JSON writer: its text is json-c's for the
 * same document, in both layouts; escaping, nesting and commas. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "json_writer.h"

static const int layouts[] = { JSON_C_TO_STRING_PLAIN,
			       JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE };

/* What fill writes, as text (its final newline cut off). */
static char *written(void (*fill)(struct jw *w), int flags)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct jw *w;

	assert_non_null(f);
	w = jw_new(f, flags);
	assert_non_null(w);
	fill(w);
	jw_destroy(w);
	assert_int_equal(fclose(f), 0);
	assert_true(len > 0 && text[len - 1] == '\n');
	text[len - 1] = '\0';
	return text;
}

/* fill's text equals json-c's for doc, in both layouts. */
static void same_as_json_c(void (*fill)(struct jw *w), struct json_object *doc)
{
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
		char *text = written(fill, layouts[i]);

		assert_string_equal(text, json_object_to_json_string_ext(doc, layouts[i]));
		free(text);
	}
	json_object_put(doc);
}

static const char hostile[] = "q\"b\\s/\x01\x1f\n\t\x7f"
			      "\xff\xfe"
			      "caf\xc3\xa9";

static void fill_escapes(struct jw *w)
{
	jw_start_object(w);
	jw_name(w, hostile);
	jw_string(w, hostile);
	jw_string_field(w, "empty", "");
	jw_end_object(w);
}

/* Quotes, backslashes, control characters, bytes that are not UTF-8: in
 * names and values, escaped as json-c escapes them; "" as it is. */
static void escapes(void **state)
{
	struct json_object *doc = json_object_new_object();

	(void)state;
	json_object_object_add(doc, hostile, json_object_new_string(hostile));
	json_object_object_add(doc, "empty", json_object_new_string(""));
	same_as_json_c(fill_escapes, doc);
}

static void fill_nested(struct jw *w)
{
	jw_start_object(w);
	jw_uint_field(w, "zero", 0);
	jw_uint_field(w, "max", UINT64_MAX);
	jw_float_field(w, "half", 0.5);
	jw_bool_field(w, "yes", true);
	jw_bool_field(w, "no", false);
	jw_int_field(w, "neg", -42);
	jw_int_field(w, "min", INT64_MIN);
	jw_int_field(w, "pos", INT64_MAX);
	jw_name_raw(w, "nothing");
	jw_null(w);
	jw_name_raw(w, "empty_object");
	jw_start_object(w);
	jw_end_object(w);
	jw_name_raw(w, "empty_array");
	jw_start_array(w);
	jw_end_array(w);
	jw_name_raw(w, "list");
	jw_start_array(w);
	jw_uint(w, 1);
	jw_string(w, "two");
	jw_start_object(w);
	jw_name_raw(w, "inner");
	jw_start_array(w);
	jw_start_array(w);
	jw_end_array(w);
	jw_float(w, 2.25);
	jw_end_array(w);
	jw_end_object(w);
	jw_bool(w, true);
	jw_end_array(w);
	jw_uint_field(w, "after", 7);
	jw_end_object(w);
}

/* Nesting and commas: a member after a closed object or array, elements of
 * every kind, empty collections, arrays in arrays. */
static void nested(void **state)
{
	struct json_object *doc = json_object_new_object(), *list = json_object_new_array();
	struct json_object *inner = json_object_new_array(), *elem = json_object_new_object();

	(void)state;
	json_object_object_add(doc, "zero", json_object_new_uint64(0));
	json_object_object_add(doc, "max", json_object_new_uint64(UINT64_MAX));
	json_object_object_add(doc, "half", json_object_new_double(0.5));
	json_object_object_add(doc, "yes", json_object_new_boolean(1));
	json_object_object_add(doc, "no", json_object_new_boolean(0));
	json_object_object_add(doc, "neg", json_object_new_int64(-42));
	json_object_object_add(doc, "min", json_object_new_int64(INT64_MIN));
	json_object_object_add(doc, "pos", json_object_new_int64(INT64_MAX));
	json_object_object_add(doc, "nothing", NULL);
	json_object_object_add(doc, "empty_object", json_object_new_object());
	json_object_object_add(doc, "empty_array", json_object_new_array());
	json_object_array_add(list, json_object_new_uint64(1));
	json_object_array_add(list, json_object_new_string("two"));
	json_object_array_add(inner, json_object_new_array());
	json_object_array_add(inner, json_object_new_double(2.25));
	json_object_object_add(elem, "inner", inner);
	json_object_array_add(list, elem);
	json_object_array_add(list, json_object_new_boolean(1));
	json_object_object_add(doc, "list", list);
	json_object_object_add(doc, "after", json_object_new_uint64(7));
	same_as_json_c(fill_nested, doc);
}

static void fill_top_array(struct jw *w)
{
	jw_start_array(w);
	jw_uint(w, 3);
	jw_uint(w, 4);
	jw_end_array(w);
}

/* A document that is an array, and the exact text of both layouts. */
static void top_array(void **state)
{
	char *plain = written(fill_top_array, JSON_C_TO_STRING_PLAIN);
	char *spaced = written(fill_top_array, JSON_C_TO_STRING_SPACED);

	(void)state;
	assert_string_equal(plain, "[3,4]");
	assert_string_equal(spaced, "[ 3, 4 ]");
	free(plain);
	free(spaced);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escapes),
		cmocka_unit_test(nested),
		cmocka_unit_test(top_array),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
