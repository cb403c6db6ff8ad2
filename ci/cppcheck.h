/* cppcheck only: libbpf's option macro, which it cannot expand from the
 * system header it does not read. */
#define LIBBPF_OPTS(TYPE, NAME, ...) struct TYPE NAME = { .sz = sizeof(struct TYPE), __VA_ARGS__ }
#define DECLARE_LIBBPF_OPTS LIBBPF_OPTS
