/*
 * cg_milter.h - the libmilter side: callbacks and the current
 * configuration snapshot. The only module that includes libmilter.
 */
#ifndef CG_MILTER_H
#define CG_MILTER_H

#include "cg_config.h"
#include "cg_decider.h"

/* cg_milter_run - register the filter with cfg's milter_timeout, open
 * cfg's socket (refusing a unix socket another process serves on), arm the
 * milter_clients gate of an inet socket (cg_gate.h), call ready(ready_arg)
 * (may be NULL) once mail can be served, and run smfi_main(). Returns 1
 * when it could not start, else smfi_main's result (0 on a clean stop). */
int cg_milter_run(const struct cg_config *cfg, cg_decider *dc, void (*ready)(void *),
                  void *ready_arg);

/* The current configuration. cg_milter_config_ref() takes a reference for
 * one SMTP connection; cg_milter_config_swap() installs a new snapshot
 * (taking over the caller's reference) and drops the old one. */
struct cg_config *cg_milter_config_ref(void);
void cg_milter_config_swap(struct cg_config *cfg);

#endif
