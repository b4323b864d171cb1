/*
 * annal fault shim: an LD_PRELOAD library for the I/O fault and power-loss tests
 * (annal_testkit::faults). It sits between a store process and libc, and acts only on paths
 * under ANNAL_FAULT_PREFIX (the store's directory), so the rest of the process (its stdout, the
 * test's own files) is untouched.
 *
 * Two jobs, both optional and chosen by the environment:
 *
 * 1. Fault injection. Every call of a chosen class on a store file counts; the one numbered
 *    ANNAL_FAULT_AT fails with ANNAL_FAULT_ERRNO instead of running, and with
 *    ANNAL_FAULT_STICKY=1 so does every later one of those classes (a dead disk rather than
 *    one bad block). With ANNAL_FAULT_PARTIAL=1 a failing write first writes half its bytes,
 *    as a device that fails mid-request does. Classes (ANNAL_FAULT_OPS, letters):
 *    w = write, pwrite, writev, ftruncate;  s = fsync, fdatasync;  r = rename, unlink;
 *    o = open of a store file;  O = open of a store file for writing. With ANNAL_FAULT_SUFFIX,
 *    only calls on paths ending with it count.
 *
 * 2. A journal of every change to store files (ANNAL_FAULT_JOURNAL): creations, writes with
 *    their bytes, truncations, file and directory syncs (and injected sync failures), renames
 *    and unlinks, in the order they took effect, from which the test computes what a power loss at any moment would leave.
 *    Records are written before the intercepted call returns, so an fsync that a caller saw
 *    complete is always in the journal.
 *
 * One mutex serializes every call on a store file with its journal record, so the journal's
 * order is the order in which the calls took effect (slower, and only ever used in tests).
 * Not modelled: writes through mmap (SQLite's -shm file; the test drops it), dup'ed
 * descriptors, and paths relative to a directory descriptor.
 *
 * Record layout (little-endian): u8 kind, u64 dev, u64 ino, u64 arg, u32 path_len,
 * u32 path2_len, u64 data_len, then path, path2 and data. Kinds: 'C' create (path, dev/ino),
 * 'O' an existing file opened for writing (path, dev/ino: a process killed between creating a
 * file and recording it leaves the next process this record as the file's first),
 * 'W' write (dev/ino, arg = offset, data), 'T' truncate (dev/ino, arg = length), 'S' file sync
 * (dev/ino), 'F' failed file sync (dev/ino), 'D' directory sync (path), 'R' rename
 * (path -> path2), 'U' unlink (path).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define FDS_MAX 65536

struct tracked_fd {
    int tracked;
    int is_dir;
    int append;
    uint64_t dev;
    uint64_t ino;
    char *path;
};

static struct tracked_fd fds[FDS_MAX];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static const char *prefix;
static size_t prefix_len;
static int journal_fd = -1;
static uint64_t fault_at;
static const char *fault_ops = "";
static const char *fault_suffix;
static int fault_errno = EIO;
static int fault_sticky;
static int fault_partial;
static uint64_t n_eligible;
static int fault_fired;

static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_unlink)(const char *);
static int (*real_close)(int);

static void *next(const char *name) {
    return dlsym(RTLD_NEXT, name);
}

static void init(void) {
    real_open = next("open");
    real_open64 = next("open64");
    real_openat = next("openat");
    real_openat64 = next("openat64");
    real_write = next("write");
    real_pwrite = next("pwrite");
    real_pwrite64 = next("pwrite64");
    real_ftruncate = next("ftruncate");
    real_ftruncate64 = next("ftruncate64");
    real_fsync = next("fsync");
    real_fdatasync = next("fdatasync");
    real_rename = next("rename");
    real_unlink = next("unlink");
    real_close = next("close");
    prefix = getenv("ANNAL_FAULT_PREFIX");
    prefix_len = prefix ? strlen(prefix) : 0;
    const char *value;
    if ((value = getenv("ANNAL_FAULT_AT")) != NULL) fault_at = strtoull(value, NULL, 10);
    if ((value = getenv("ANNAL_FAULT_OPS")) != NULL) fault_ops = value;
    fault_suffix = getenv("ANNAL_FAULT_SUFFIX");
    if ((value = getenv("ANNAL_FAULT_ERRNO")) != NULL) fault_errno = atoi(value);
    if ((value = getenv("ANNAL_FAULT_STICKY")) != NULL) fault_sticky = atoi(value);
    if ((value = getenv("ANNAL_FAULT_PARTIAL")) != NULL) fault_partial = atoi(value);
    if ((value = getenv("ANNAL_FAULT_JOURNAL")) != NULL)
        journal_fd = real_open(value, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static void ensure_init(void) {
    pthread_once(&once, init);
}

__attribute__((constructor)) static void shim_start(void) {
    ensure_init();
}

static int tracked_path(const char *path) {
    return path != NULL && prefix_len > 0 && strncmp(path, prefix, prefix_len) == 0;
}

static int tracked_fd(int fd) {
    return fd >= 0 && fd < FDS_MAX && fds[fd].tracked;
}

/* Whether this call of class `op` fails (called under the lock, for store files only). */
static int ends_with(const char *text, const char *suffix) {
    size_t text_len = strlen(text), suffix_len = strlen(suffix);
    return text_len >= suffix_len && strcmp(text + text_len - suffix_len, suffix) == 0;
}

static int fault_now(char op, const char *path) {
    if (fault_at == 0 || strchr(fault_ops, op) == NULL) return 0;
    if (fault_suffix != NULL && (path == NULL || !ends_with(path, fault_suffix))) return 0;
    n_eligible += 1;
    int fails = (fault_fired && fault_sticky) || (!fault_fired && n_eligible == fault_at);
    if (fails && !fault_fired) {
        /* Said once, on stderr, so a failing run shows where its fault struck. */
        char line[512];
        int len = snprintf(line, sizeof line,
                           "annal-fault-shim: call %llu of class %c on %s fails with errno %d%s\n",
                           (unsigned long long)n_eligible, op, path ? path : "?", fault_errno,
                           fault_sticky ? ", and every later one too" : "");
        if (len > 0) real_write(2, line, (size_t)len < sizeof line ? (size_t)len : sizeof line);
    }
    if (fails) fault_fired = 1;
    return fails;
}

static void put_u64(unsigned char *at, uint64_t value) {
    for (int i = 0; i < 8; i++) at[i] = (unsigned char)(value >> (8 * i));
}

static void put_u32(unsigned char *at, uint32_t value) {
    for (int i = 0; i < 4; i++) at[i] = (unsigned char)(value >> (8 * i));
}

/* Writes all of `len` bytes to the journal; a failure aborts, since a journal with a hole would
 * make the test draw wrong conclusions. */
static void journal_all(const void *bytes, size_t len) {
    const unsigned char *at = bytes;
    while (len > 0) {
        ssize_t n = real_write(journal_fd, at, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) abort();
        at += n;
        len -= (size_t)n;
    }
}

static void record(char kind, uint64_t dev, uint64_t ino, uint64_t arg, const char *path,
                   const char *path2, const void *data, uint64_t data_len) {
    if (journal_fd < 0) return;
    size_t path_len = path ? strlen(path) : 0;
    size_t path2_len = path2 ? strlen(path2) : 0;
    unsigned char header[41];
    header[0] = (unsigned char)kind;
    put_u64(header + 1, dev);
    put_u64(header + 9, ino);
    put_u64(header + 17, arg);
    put_u32(header + 25, (uint32_t)path_len);
    put_u32(header + 29, (uint32_t)path2_len);
    put_u64(header + 33, data_len);
    int saved = errno;
    journal_all(header, 41);
    journal_all(path, path_len);
    journal_all(path2, path2_len);
    journal_all(data, data_len);
    errno = saved;
}

static void remember(int fd, const char *path, int flags) {
    struct stat st;
    if (fd < 0 || fd >= FDS_MAX || fstat(fd, &st) != 0) return;
    free(fds[fd].path);
    fds[fd].tracked = 1;
    fds[fd].is_dir = S_ISDIR(st.st_mode);
    fds[fd].append = (flags & O_APPEND) != 0;
    fds[fd].dev = st.st_dev;
    fds[fd].ino = st.st_ino;
    fds[fd].path = strdup(path);
}

typedef int (*open_fn)(const char *, int, ...);

static int open_tracked(open_fn real, const char *path, int flags, mode_t mode) {
    pthread_mutex_lock(&lock);
    int for_writing = (flags & O_ACCMODE) != O_RDONLY;
    if (fault_now('o', path) || (for_writing && fault_now('O', path))) {
        pthread_mutex_unlock(&lock);
        errno = fault_errno;
        return -1;
    }
    struct stat before;
    int existed = stat(path, &before) == 0;
    int fd = real(path, flags, mode);
    if (fd >= 0) {
        int saved = errno;
        remember(fd, path, flags);
        if (fd < FDS_MAX && !fds[fd].is_dir) {
            if (!existed && (flags & O_CREAT))
                record('C', fds[fd].dev, fds[fd].ino, 0, path, NULL, NULL, 0);
            else if (existed && for_writing)
                record('O', fds[fd].dev, fds[fd].ino, 0, path, NULL, NULL, 0);
            if (existed && (flags & O_TRUNC) && before.st_size > 0)
                record('T', fds[fd].dev, fds[fd].ino, 0, NULL, NULL, NULL, 0);
        }
        errno = saved;
    }
    pthread_mutex_unlock(&lock);
    return fd;
}

static mode_t mode_arg(int flags, va_list args) {
    if (flags & (O_CREAT | O_TMPFILE)) return (mode_t)va_arg(args, int);
    return 0;
}

int open(const char *path, int flags, ...) {
    ensure_init();
    va_list args;
    va_start(args, flags);
    mode_t mode = mode_arg(flags, args);
    va_end(args);
    if (!tracked_path(path)) return real_open(path, flags, mode);
    return open_tracked(real_open, path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    ensure_init();
    va_list args;
    va_start(args, flags);
    mode_t mode = mode_arg(flags, args);
    va_end(args);
    if (!tracked_path(path)) return real_open64(path, flags, mode);
    return open_tracked(real_open64, path, flags, mode);
}

int __open_2(const char *path, int flags) {
    return open(path, flags);
}

int __open64_2(const char *path, int flags) {
    return open64(path, flags);
}

static int at_open(int (*real)(int, const char *, int, ...), int dirfd, const char *path,
                   int flags, mode_t mode) {
    if (!tracked_path(path) || (dirfd != AT_FDCWD && path[0] != '/'))
        return real(dirfd, path, flags, mode);
    return open_tracked(real_open64, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
    ensure_init();
    va_list args;
    va_start(args, flags);
    mode_t mode = mode_arg(flags, args);
    va_end(args);
    return at_open(real_openat, dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) {
    ensure_init();
    va_list args;
    va_start(args, flags);
    mode_t mode = mode_arg(flags, args);
    va_end(args);
    return at_open(real_openat64, dirfd, path, flags, mode);
}

int creat(const char *path, mode_t mode) {
    return open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode) {
    return open64(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

/* A write of `len` bytes at `offset` (or at the file position when `offset` < 0), under the
 * lock, with the fault check and the journal record. */
static ssize_t write_tracked(int fd, const void *buf, size_t len, off_t offset) {
    pthread_mutex_lock(&lock);
    off_t at = offset;
    if (at < 0) {
        struct stat st;
        at = fds[fd].append && fstat(fd, &st) == 0 ? st.st_size : lseek(fd, 0, SEEK_CUR);
    }
    ssize_t done;
    if (fault_now('w', fds[fd].path)) {
        if (fault_partial && len > 1) {
            ssize_t part = offset < 0 ? real_write(fd, buf, len / 2)
                                      : real_pwrite64(fd, buf, len / 2, offset);
            if (part > 0) record('W', fds[fd].dev, fds[fd].ino, (uint64_t)at, NULL, NULL, buf,
                                 (uint64_t)part);
        }
        pthread_mutex_unlock(&lock);
        errno = fault_errno;
        return -1;
    }
    done = offset < 0 ? real_write(fd, buf, len) : real_pwrite64(fd, buf, len, offset);
    if (done > 0)
        record('W', fds[fd].dev, fds[fd].ino, (uint64_t)at, NULL, NULL, buf, (uint64_t)done);
    pthread_mutex_unlock(&lock);
    return done;
}

ssize_t write(int fd, const void *buf, size_t len) {
    ensure_init();
    if (!tracked_fd(fd)) return real_write(fd, buf, len);
    return write_tracked(fd, buf, len, -1);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t offset) {
    ensure_init();
    if (!tracked_fd(fd)) return real_pwrite(fd, buf, len, offset);
    return write_tracked(fd, buf, len, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t offset) {
    ensure_init();
    if (!tracked_fd(fd)) return real_pwrite64(fd, buf, len, offset);
    return write_tracked(fd, buf, len, offset);
}

ssize_t writev(int fd, const struct iovec *iov, int n_iov) {
    ensure_init();
    size_t total = 0;
    for (int i = 0; i < n_iov; i++) total += iov[i].iov_len;
    if (!tracked_fd(fd)) {
        /* Untracked: gather and write, so no second symbol needs resolving. */
        ssize_t (*real_writev)(int, const struct iovec *, int) = next("writev");
        return real_writev(fd, iov, n_iov);
    }
    char *gathered = malloc(total ? total : 1);
    if (gathered == NULL) {
        errno = ENOMEM;
        return -1;
    }
    size_t at = 0;
    for (int i = 0; i < n_iov; i++) {
        memcpy(gathered + at, iov[i].iov_base, iov[i].iov_len);
        at += iov[i].iov_len;
    }
    ssize_t done = write_tracked(fd, gathered, total, -1);
    free(gathered);
    return done;
}

static int truncate_tracked(int (*real)(int, off_t), int fd, off_t len) {
    pthread_mutex_lock(&lock);
    if (fault_now('w', fds[fd].path)) {
        pthread_mutex_unlock(&lock);
        errno = fault_errno;
        return -1;
    }
    int result = real(fd, len);
    if (result == 0) record('T', fds[fd].dev, fds[fd].ino, (uint64_t)len, NULL, NULL, NULL, 0);
    pthread_mutex_unlock(&lock);
    return result;
}

int ftruncate(int fd, off_t len) {
    ensure_init();
    if (!tracked_fd(fd)) return real_ftruncate(fd, len);
    return truncate_tracked(real_ftruncate, fd, len);
}

int ftruncate64(int fd, off_t len) {
    ensure_init();
    if (!tracked_fd(fd)) return real_ftruncate64(fd, len);
    return truncate_tracked(real_ftruncate64, fd, len);
}

static int sync_tracked(int (*real)(int), int fd) {
    pthread_mutex_lock(&lock);
    if (fault_now('s', fds[fd].path)) {
        /* Linux marks the pages clean after a failed writeback: the process still reads what
         * it wrote, but no later fsync writes it to disk. The power-loss model needs to know. */
        if (!fds[fd].is_dir) record('F', fds[fd].dev, fds[fd].ino, 0, NULL, NULL, NULL, 0);
        pthread_mutex_unlock(&lock);
        errno = fault_errno;
        return -1;
    }
    int result = real(fd);
    if (result == 0) {
        if (fds[fd].is_dir)
            record('D', 0, 0, 0, fds[fd].path, NULL, NULL, 0);
        else
            record('S', fds[fd].dev, fds[fd].ino, 0, NULL, NULL, NULL, 0);
    }
    pthread_mutex_unlock(&lock);
    return result;
}

int fsync(int fd) {
    ensure_init();
    if (!tracked_fd(fd)) return real_fsync(fd);
    return sync_tracked(real_fsync, fd);
}

int fdatasync(int fd) {
    ensure_init();
    if (!tracked_fd(fd)) return real_fdatasync(fd);
    return sync_tracked(real_fdatasync, fd);
}

int rename(const char *from, const char *to) {
    ensure_init();
    if (!tracked_path(from) && !tracked_path(to)) return real_rename(from, to);
    pthread_mutex_lock(&lock);
    if (fault_now('r', to)) {
        pthread_mutex_unlock(&lock);
        errno = fault_errno;
        return -1;
    }
    int result = real_rename(from, to);
    if (result == 0) record('R', 0, 0, 0, from, to, NULL, 0);
    pthread_mutex_unlock(&lock);
    return result;
}

int unlink(const char *path) {
    ensure_init();
    if (!tracked_path(path)) return real_unlink(path);
    pthread_mutex_lock(&lock);
    if (fault_now('r', path)) {
        pthread_mutex_unlock(&lock);
        errno = fault_errno;
        return -1;
    }
    int result = real_unlink(path);
    if (result == 0) record('U', 0, 0, 0, path, NULL, NULL, 0);
    pthread_mutex_unlock(&lock);
    return result;
}

int close(int fd) {
    ensure_init();
    if (tracked_fd(fd)) {
        pthread_mutex_lock(&lock);
        free(fds[fd].path);
        fds[fd].path = NULL;
        fds[fd].tracked = 0;
        pthread_mutex_unlock(&lock);
    }
    return real_close(fd);
}
