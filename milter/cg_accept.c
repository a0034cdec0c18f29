/*
 * cg_accept.c - the daemon's own accept(): libmilter's listener accepts
 * its connections through accept() (an undefined symbol of libmilter.so,
 * bound through its PLT); the daemon's executable defines it, so the
 * dynamic linker binds libmilter's call to this function, which hands the
 * connection to the gate (cg_gate.c) before libmilter sees it. This is the
 * one symbol the daemon exports (tests/e2e/test_build.sh allows exactly
 * it): the linker exports a definition that a shared library of the link
 * refers to.
 *
 * Built without _GNU_SOURCE so that <sys/socket.h> declares accept() with
 * a plain struct sockaddr pointer (glibc's GNU declaration uses a
 * transparent union).
 */
#undef _GNU_SOURCE
#define _POSIX_C_SOURCE 200809L
#include <sys/socket.h>

#include "cg_gate.h"

/* accept - libmilter's accept(), through the gate */
int accept(int fd, struct sockaddr *restrict addr, socklen_t *restrict addrlen)
{
    return cg_gate_accept(fd, addr, addrlen);
}
