/*
 * cg_gate.h - who may connect to an inet milter socket: the MTA's
 * addresses only (milter_clients), checked when a connection is accepted,
 * before libmilter reads a byte of it. See cg_gate.c for how.
 */
#ifndef CG_GATE_H
#define CG_GATE_H

#include <stddef.h>
#include <sys/socket.h>

/* cg_gate_arm - find libmilter's listening socket for an inet:/inet6:
 * spec (right after smfi_opensocket), set TCP_NODELAY on it (inherited by
 * its connections) and filter every connection it accepts from then on
 * against the current configuration's milter_clients. A unix socket is
 * left alone (its file mode guards it). 0, or -1 with err when the
 * listener cannot be found (then nothing may be served). */
int cg_gate_arm(const char *spec, char *err, size_t errlen);

/* cg_gate_accept - accept() as libmilter calls it (cg_accept.c): a
 * connection on the armed listener from an address not in milter_clients
 * is closed and logged (rate-limited), and accept fails with ECONNABORTED,
 * which libmilter's listener skips without counting it as an error. */
int cg_gate_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);

/* cg_gate_check_session - for every new milter session (the option
 * negotiation, always the first command): 0, or -1 when more sessions have
 * started than the armed gate let through, i.e. connections reach
 * libmilter without passing the gate (a libmilter that no longer accepts
 * through accept()). The caller then refuses the session. */
int cg_gate_check_session(void);

#endif
