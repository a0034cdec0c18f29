/*
 * cg_walbuf.c - the "contactgate" VFS: a transaction's WAL frames in one
 * write (see cg_walbuf.h).
 *
 * A WAL file is the default VFS's file behind a struct walfile; every
 * other file is the default VFS's file as it is. The buffer holds one run
 * of contiguous writes starting at `off`; anything that is not the next
 * contiguous write, or that needs the file as it is (read, size, sync,
 * truncate, file control, close), writes the run out first. The frame that
 * commits a transaction is the one whose 24-byte header has a non-zero
 * database size (bytes 4-7): SQLite writes that header, then the page, and
 * only then makes the commit visible in the WAL index, so the run is
 * written out right after that page, and its error is the commit's.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cg_walbuf.h"

#define WAL_HEADER 32             /* the file's header; frames follow */
#define FRAME_HEADER 24           /* page number, database size, salts, checksums */
#define RUN_MAX (1024 * 1024)     /* a bigger run is written out as it goes */
/* the unix VFS writes at most 128 KiB - 1 per call (it masks the length
 * with 0x1ffff), so a run goes out in pieces of this size */
#define WRITE_MAX (120 * 1024)

struct walfile {
    sqlite3_file base;            /* pMethods: wal_methods */
    sqlite3_file *real;           /* the default VFS's file, behind this struct */
    unsigned char *buf;           /* the run, RUN_MAX bytes once allocated */
    size_t len;                   /* bytes in the run */
    sqlite3_int64 off;            /* the file offset of buf[0] */
    int commit_next;              /* the last write was a commit frame's header */
};

/* the default VFS's file starts at this offset in ours */
#define REAL_OFFSET ((sizeof(struct walfile) + 15) & ~(size_t)15)

static sqlite3_vfs *base;
static sqlite3_vfs vfs;
static const char *registered;

/* --- the WAL file -------------------------------------------------------- */

static struct walfile *W(sqlite3_file *f)
{
    return (struct walfile *)f;
}

/* write_out - the run to the file; the run is gone either way (a failed
 * write is SQLite's write error, as it would have been without the run) */
static int write_out(struct walfile *w)
{
    w->commit_next = 0;
    if (!w->len)
        return SQLITE_OK;
    size_t n = w->len;
    w->len = 0;
    int rc = SQLITE_OK;
    for (size_t done = 0; done < n && rc == SQLITE_OK; done += WRITE_MAX) {
        size_t k = n - done < WRITE_MAX ? n - done : WRITE_MAX;
        rc = w->real->pMethods->xWrite(w->real, w->buf + done, (int)k,
                                       w->off + (sqlite3_int64)done);
    }
    return rc;
}

static int wal_close(sqlite3_file *f)
{
    struct walfile *w = W(f);
    int rc = write_out(w);
    int rc2 = w->real->pMethods->xClose(w->real);
    free(w->buf);
    w->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wal_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    struct walfile *w = W(f);
    int rc = write_out(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xRead(w->real, p, n, off);
}

static int wal_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    struct walfile *w = W(f);
    int commit = w->commit_next; /* this write is the page of a commit frame */
    int rc = SQLITE_OK;
    if (w->len && (off != w->off + (sqlite3_int64)w->len || w->len + (size_t)n > RUN_MAX))
        rc = write_out(w);
    if (rc != SQLITE_OK)
        return rc;
    if (!w->buf && (size_t)n <= RUN_MAX)
        w->buf = malloc(RUN_MAX);
    if (!w->buf || (size_t)n > RUN_MAX) /* no run: straight to the file */
        return w->real->pMethods->xWrite(w->real, p, n, off);
    if (!w->len)
        w->off = off;
    memcpy(w->buf + w->len, p, (size_t)n);
    w->len += (size_t)n;
    const unsigned char *h = p;
    w->commit_next = n == FRAME_HEADER && off >= WAL_HEADER && (h[4] | h[5] | h[6] | h[7]);
    return commit ? write_out(w) : SQLITE_OK;
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    struct walfile *w = W(f);
    int rc = write_out(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xTruncate(w->real, size);
}

static int wal_sync(sqlite3_file *f, int flags)
{
    struct walfile *w = W(f);
    int rc = write_out(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xSync(w->real, flags);
}

static int wal_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    struct walfile *w = W(f);
    int rc = write_out(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xFileSize(w->real, size);
}

static int wal_lock(sqlite3_file *f, int lock)
{
    return W(f)->real->pMethods->xLock(W(f)->real, lock);
}

static int wal_unlock(sqlite3_file *f, int lock)
{
    return W(f)->real->pMethods->xUnlock(W(f)->real, lock);
}

static int wal_check_reserved(sqlite3_file *f, int *out)
{
    return W(f)->real->pMethods->xCheckReservedLock(W(f)->real, out);
}

static int wal_file_control(sqlite3_file *f, int op, void *arg)
{
    struct walfile *w = W(f);
    int rc = write_out(w);
    return rc != SQLITE_OK ? rc : w->real->pMethods->xFileControl(w->real, op, arg);
}

static int wal_sector_size(sqlite3_file *f)
{
    return W(f)->real->pMethods->xSectorSize(W(f)->real);
}

static int wal_device(sqlite3_file *f)
{
    return W(f)->real->pMethods->xDeviceCharacteristics(W(f)->real);
}

/* version 1: SQLite uses neither shared memory nor mmap on a WAL file */
static const sqlite3_io_methods wal_methods = {
    .iVersion = 1,
    .xClose = wal_close,
    .xRead = wal_read,
    .xWrite = wal_write,
    .xTruncate = wal_truncate,
    .xSync = wal_sync,
    .xFileSize = wal_file_size,
    .xLock = wal_lock,
    .xUnlock = wal_unlock,
    .xCheckReservedLock = wal_check_reserved,
    .xFileControl = wal_file_control,
    .xSectorSize = wal_sector_size,
    .xDeviceCharacteristics = wal_device,
};

/* --- the VFS: the default one's, but for opening a WAL file --------------- */

static int vfs_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *f, int flags,
                    int *out)
{
    (void)v;
    if (!(flags & SQLITE_OPEN_WAL))
        return base->xOpen(base, name, f, flags, out);
    struct walfile *w = W(f);
    memset(w, 0, sizeof *w);
    w->real = (sqlite3_file *)((char *)f + REAL_OFFSET);
    memset(w->real, 0, (size_t)base->szOsFile);
    int rc = base->xOpen(base, name, w->real, flags, out);
    if (rc != SQLITE_OK) {
        if (w->real->pMethods)
            w->real->pMethods->xClose(w->real);
        f->pMethods = NULL;
        return rc;
    }
    f->pMethods = &wal_methods;
    return SQLITE_OK;
}

static int vfs_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
    (void)v;
    return base->xDelete(base, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    return base->xAccess(base, name, flags, out);
}

static int vfs_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    return base->xFullPathname(base, name, n, out);
}

static void *vfs_dlopen(sqlite3_vfs *v, const char *name)
{
    (void)v;
    return base->xDlOpen(base, name);
}

static void vfs_dlerror(sqlite3_vfs *v, int n, char *msg)
{
    (void)v;
    base->xDlError(base, n, msg);
}

static void (*vfs_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void)v;
    return base->xDlSym(base, h, sym);
}

static void vfs_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    base->xDlClose(base, h);
}

static int vfs_randomness(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return base->xRandomness(base, n, out);
}

static int vfs_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return base->xSleep(base, us);
}

static int vfs_current_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return base->xCurrentTime(base, out);
}

static int vfs_last_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return base->xGetLastError(base, n, out);
}

static int vfs_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return base->xCurrentTimeInt64(base, out);
}

static void setup(void)
{
    base = sqlite3_vfs_find(NULL);
    /* version 2 or later: all of the above (every platform's default is) */
    if (!base || base->iVersion < 2 || !base->xCurrentTimeInt64)
        return;
    vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)REAL_OFFSET + base->szOsFile,
        .mxPathname = base->mxPathname,
        .zName = CG_WALBUF_VFS,
        .xOpen = vfs_open,
        .xDelete = vfs_delete,
        .xAccess = vfs_access,
        .xFullPathname = vfs_full_pathname,
        .xDlOpen = vfs_dlopen,
        .xDlError = vfs_dlerror,
        .xDlSym = vfs_dlsym,
        .xDlClose = vfs_dlclose,
        .xRandomness = vfs_randomness,
        .xSleep = vfs_sleep,
        .xCurrentTime = vfs_current_time,
        .xGetLastError = vfs_last_error,
        .xCurrentTimeInt64 = vfs_current_time64,
    };
    if (sqlite3_vfs_register(&vfs, 0) == SQLITE_OK)
        registered = CG_WALBUF_VFS;
}

const char *cg_walbuf_register(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, setup);
    return registered;
}
