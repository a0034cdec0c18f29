/*
 * cg_walbuf.h - a SQLite VFS that writes a transaction's WAL frames to the
 * file in one system call.
 *
 * SQLite writes each WAL frame as two pwrite(2) calls, its 24-byte header
 * and then the page, so a commit of n pages costs 2n system calls on the
 * write path every message waits for. The "contactgate" VFS is the
 * platform's default VFS with one change: a WAL file keeps the frames
 * written to it in a buffer while they follow each other, and writes the
 * buffer out as soon as the frame that commits a transaction is complete
 * (its header carries the database size), before SQLite publishes the
 * commit to readers; any other use of the file (a read, a write elsewhere,
 * a sync, its size, a truncation, closing) writes it out first. A failed
 * write-out is the commit's write error, as without the buffer, and
 * nothing acknowledged is only in the buffer: a process that dies keeps
 * what it committed. Other files are the default VFS's own.
 */
#ifndef CG_WALBUF_H
#define CG_WALBUF_H

#define CG_WALBUF_VFS "contactgate"

/* cg_walbuf_register - register the VFS (once; thread-safe). Returns its
 * name, or NULL if it could not be registered (then use the default). */
const char *cg_walbuf_register(void);

#endif
