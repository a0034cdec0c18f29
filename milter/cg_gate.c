/*
 * cg_gate.c - the allow-list of an inet milter socket (cg_gate.h).
 *
 * libmilter neither hands out the sockets it accepts nor asks before it
 * reads from them, and one malformed packet can crash it (README
 * "Security"). So the check sits in accept() itself: libmilter's listener
 * calls accept() through its PLT, the daemon defines accept() (cg_accept.c)
 * and the dynamic linker binds libmilter's call to it. A connection from
 * an address outside milter_clients is closed before anyone reads from it
 * and accept() fails with ECONNABORTED, an error libmilter's listener
 * skips silently. Only the listener armed here is filtered; any other
 * accept() in the process passes through untouched.
 *
 * Why not something else: a socket filter (SO_ATTACH_FILTER) on the
 * listener would drop the peer's SYNs, which leaves it hanging until its
 * own timeout and cannot log who it was; filtering in the connect callback
 * is too late (libmilter has parsed the peer's packets by then); a proxy
 * in front of libmilter costs a copy of every byte. Should a future
 * libmilter accept through another call (accept4), the gate would be
 * bypassed: cg_gate_check_session() notices that (more sessions than
 * connections let through) and the sessions are refused, so the failure
 * is closed and logged, never silent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cg_gate.h"
#include "cg_log.h"
#include "cg_milter.h"
#include "cg_util.h"

static _Atomic int gate_fd = -1;                 /* the armed listener */
static _Atomic unsigned long gate_passed;        /* connections let through */
static _Atomic unsigned long gate_sessions;      /* sessions libmilter started */
static _Atomic int gate_bypass_logged;

/* spec_parse - inet:PORT@HOST -> family, port, and the address when HOST
 * is a literal (*literal_r 0 for a name) */
static int spec_parse(const char *spec, int *family_r, int *port_r, unsigned char addr[16],
                      int *literal_r)
{
    const char *p;
    if (!strncmp(spec, "inet:", 5))
        *family_r = AF_INET, p = spec + 5;
    else if (!strncmp(spec, "inet6:", 6))
        *family_r = AF_INET6, p = spec + 6;
    else
        return -1;
    char *end;
    long port = strtol(p, &end, 10);
    if (end == p || port < 1 || port > 65535)
        return -1;
    *port_r = (int)port;
    *literal_r = 0;
    if (*end == '@') {
        char host[256];
        snprintf(host, sizeof host, "%s", end + 1);
        size_t n = strlen(host);
        if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
            memmove(host, host + 1, n - 2);
            host[n - 2] = 0;
        }
        *literal_r = inet_pton(*family_r, host, addr) == 1;
    }
    return 0;
}

/* find_listener - the listening socket of this family, port (and address) */
static int find_listener(int family, int port, const unsigned char addr[16], int literal)
{
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = 3; fd < max; fd++) {
        int acc = 0, dom = 0;
        socklen_t len = sizeof acc;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) != 0 || !acc)
            continue;
        len = sizeof dom;
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) != 0 || dom != family)
            continue;
        struct sockaddr_storage ss;
        len = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
            continue;
        if (family == AF_INET) {
            const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
            if (ntohs(s4->sin_port) == port && (!literal || !memcmp(&s4->sin_addr, addr, 4)))
                return fd;
        } else {
            const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
            if (ntohs(s6->sin6_port) == port && (!literal || !memcmp(&s6->sin6_addr, addr, 16)))
                return fd;
        }
    }
    return -1;
}

/* cg_gate_arm - find the listener, TCP_NODELAY on it, filter from now on */
int cg_gate_arm(const char *spec, char *err, size_t errlen)
{
    int family, port, literal;
    unsigned char addr[16];
    if (spec_parse(spec, &family, &port, addr, &literal) < 0)
        return 0; /* unix: the socket file's mode is the gate */
    int fd = find_listener(family, port, addr, literal);
    if (fd < 0)
        return cg_errf(err, errlen, "socket %s: libmilter's listening socket not found; "
                       "refusing to serve without the milter_clients check", spec);
    /* TCP_NODELAY on the listener, inherited by each connection (Linux):
     * at end of message a tag header and the final reply are two writes;
     * with Nagle's algorithm the second waits for the MTA's delayed ACK,
     * 40 ms per tagged message (README "Performance") */
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        cg_log(LOG_WARNING, "milter socket: cannot set TCP_NODELAY: %s", strerror(errno));
    gate_fd = fd;
    return 0;
}

/* allowed - is ip in the current configuration's milter_clients */
static int allowed(const char *ip)
{
    struct cg_config *cfg = cg_milter_config_ref();
    int ok = 0;
    for (size_t i = 0; cfg && !ok && i < cfg->n_milter_clients; i++)
        ok = cg_cidr_match(&cfg->milter_clients[i], ip);
    cg_config_unref(&cfg);
    return ok;
}

/* cg_gate_accept - accept, and let through only what milter_clients allows */
int cg_gate_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, 0);
    if (cfd < 0)
        return -1;
    if (addr && addrlen) {
        memcpy(addr, &ss, sl < *addrlen ? sl : *addrlen);
        *addrlen = sl;
    }
    if (fd != gate_fd)
        return cfd;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
        port = ntohs(s4->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
        port = ntohs(s6->sin6_port);
    }
    if (allowed(ip)) {
        gate_passed++;
        return cfd;
    }
    close(cfd);
    cg_log(LOG_WARNING, "refused a milter connection from %s port %d: not in milter_clients", ip,
           port);
    errno = ECONNABORTED;
    return -1;
}

/* cg_gate_check_session - no session without a connection let through */
int cg_gate_check_session(void)
{
    unsigned long n = ++gate_sessions;
    if (gate_fd < 0 || n <= gate_passed)
        return 0;
    if (!gate_bypass_logged++)
        cg_log(LOG_CRIT, "milter connections reach libmilter without passing the "
               "milter_clients check (does this libmilter still accept through accept()?); "
               "refusing every session");
    return -1;
}
