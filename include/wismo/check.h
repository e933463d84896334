/*
 * wismod -t: what a loaded configuration means on this host. cfg_load has
 * already refused bad syntax and values without meaning; this checks what
 * only the host can tell: the data directory can be made and redis-server
 * run (for the private Redis), the listen address can be bound, the
 * templates folder holds templates, and every configured carrier has the
 * credentials it authenticates with.
 */
#ifndef WISMO_CHECK_H
#define WISMO_CHECK_H

#include <stdio.h>

#include "wismo/cfg.h"

/* Checks cfg and prints each problem as "wismod: file:line: why" to err
 * (notes that are not problems go to out). Returns the number of
 * problems: 0 means the configuration can run here. */
int check_config(const struct cfg *cfg, FILE *out, FILE *err);

/* The credential keys carrier authenticates with (DESIGN.md): NULL-ended,
 * never NULL itself (empty for an unknown carrier). */
const char *const *check_carrier_credentials(const char *carrier);

#endif
