/* wismoctl's commands that need a running daemon's Redis (ctl_store.c). */
#ifndef WISMO_CTL_H
#define WISMO_CTL_H

#include "wismo/carrier.h"

/* argv[0] is the command name. Each returns the process exit status. */
int ctl_cmd_add(const char *cfg_path, int argc, char **argv);
int ctl_cmd_store(const char *cfg_path, int argc, char **argv);
/* list [--limit N] [--cursor C]: one JSON line per shipment. */
int ctl_cmd_list(const char *cfg_path, int argc, char **argv);
/* watch [--count N] [--from-start]: change-stream entries as JSON lines. */
int ctl_cmd_watch(const char *cfg_path, int argc, char **argv);
/* opt-out / opt-in email|sms ADDRESS: no notification to that recipient. */
int ctl_cmd_optout(const char *cfg_path, int argc, char **argv);

/* import FILE: CSV registrations (a header line names the columns). */
int ctl_cmd_import(const char *cfg_path, int argc, char **argv);
/* export --email E | --phone P | --order O: one customer's data. */
int ctl_cmd_export(const char *cfg_path, int argc, char **argv);
/* dead-letters [--limit N]: the notifier's dead letters, a JSON line each. */
int ctl_cmd_dead_letters(const char *cfg_path, int argc, char **argv);
/* replay ENTRY... | --all: dead letters back into the outbox. */
int ctl_cmd_replay(const char *cfg_path, int argc, char **argv);

#endif
