/*
 * fz_libmilter.h - a libmilter of our own for the milter fuzz harness
 * (tests/fuzz/fz_libmilter.c: the smfi_* API cg_milter.c calls, and an
 * engine that feeds it a byte stream as libmilter's would).
 */
#ifndef FZ_LIBMILTER_H
#define FZ_LIBMILTER_H

#include <stddef.h>
#include <stdint.h>

/* fz_milter_socket - the socket spec smfi_opensocket is to create (a
 * unix: spec gets its socket file; an inet: spec binds nothing) */
void fz_milter_socket(const char *spec);
/* fz_milter_registered - 1 once smfi_register took the callbacks;
 * fz_milter_forget - forget them (before registering again) */
int fz_milter_registered(void);
void fz_milter_forget(void);
/* fz_milter_connection - one milter connection from data[*pos], fed to
 * the registered callbacks; *pos moves past what was read. 1 when it
 * ended with QUIT (another connection may follow), 0 when the stream
 * broke off (end of data, a bad packet, an abort). */
int fz_milter_connection(const uint8_t *data, size_t size, size_t *pos);
/* fz_milter_close - close the socket smfi_opensocket made */
void fz_milter_close(void);

#endif
