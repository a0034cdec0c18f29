/*
 * cg_control.h - the control socket: how `contactgatectl status` asks the
 * serving process how it is doing. A unix socket the MTA cannot reach
 * (mode 0600, the daemon's user's, in a directory made 0700), served by
 * one thread of its own that never touches mail.
 *
 * Protocol: the client sends one line, "status" (at most
 * CG_CONTROL_MAX_REQUEST bytes, within CG_CONTROL_TIMEOUT_MS), and gets one
 * JSON object and a newline, then the connection is closed. A peer that is
 * neither root nor the daemon's user (SO_PEERCRED) gets {"error": ...} and
 * is closed; so is a request that is too long, too slow or unknown. One
 * client at a time, each bounded by the timeouts: a slow or malicious
 * client delays only other status requests.
 *
 * The answer (see cg_control_status): version, configuration version,
 * uptime, decisions and decisions per second by verdict over the last
 * minute, errors in the last minute, the store's state and last error,
 * the decider's queue depth, the last reload; and "health": "ok",
 * "degraded" (errors in the last minute, the store reconnecting, the last
 * reload failed) or "down" (the store down), with "problems" saying why.
 */
#ifndef CG_CONTROL_H
#define CG_CONTROL_H

#include <jansson.h>
#include <stddef.h>

#define CG_CONTROL_MAX_REQUEST 256
#define CG_CONTROL_TIMEOUT_MS 2000
/* the window of "the last minute" */
#define CG_CONTROL_WINDOW_SECS 60

/* cg_control_start - make the socket's directory if it is missing (0700),
 * refuse a socket another process answers on, replace a stale one, listen
 * (0600) and start the thread. 0, or -1 with the reason in err. */
int cg_control_start(const char *path, char *err, size_t errlen);
/* cg_control_stop - stop the thread, remove the socket; safe when not
 * started */
void cg_control_stop(void);
/* cg_control_status - the status answer as of now (a new reference) */
json_t *cg_control_status(void);

#endif
