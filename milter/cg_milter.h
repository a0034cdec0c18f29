/*
 * cg_milter.h - the libmilter side: callbacks and the current
 * configuration snapshot. The only module that includes libmilter.
 */
#ifndef CG_MILTER_H
#define CG_MILTER_H

#include "cg_config.h"
#include "cg_decider.h"

/* cg_milter_run - register the filter, open the socket, run smfi_main().
 * Returns smfi_main's result (0 on a clean stop). */
int cg_milter_run(const char *socket_spec, cg_decider *dc, int timeout_secs);

/* The current configuration. cg_milter_config_ref() takes a reference for
 * one SMTP connection; cg_milter_config_swap() installs a new snapshot
 * (taking over the caller's reference) and drops the old one. */
struct cg_config *cg_milter_config_ref(void);
void cg_milter_config_swap(struct cg_config *cfg);

#endif
