/* Emulates a disk whose flush costs SLOW_FSYNC_US microseconds (default 2000, a typical
 * SSD-less or cloud volume), so group commit can be measured on a machine whose disk acknowledges
 * fsync in tens of microseconds. Every fsync/fdatasync sleeps, then runs for real.
 *
 *   cc -O2 -shared -fPIC -o slow_fsync.so slow_fsync.c -ldl
 *   LD_PRELOAD=./slow_fsync.so SLOW_FSYNC_US=2000 dynarock serve --sync ...
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

static void pause_like_a_disk(void) {
    const char *us = getenv("SLOW_FSYNC_US");
    usleep(us ? (useconds_t)atoi(us) : 2000);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    pause_like_a_disk();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    pause_like_a_disk();
    return real(fd);
}
