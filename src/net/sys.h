/* Socket system calls without glibc's cancellation wrappers.
 *
 * In a process with more than one thread (every server: its loops run on
 * their own threads), glibc's read(), send() and sendmsg() are cancellation
 * points: each call enables and disables asynchronous cancellation around
 * the system call, about 30 instructions per call under callgrind, 60 per
 * echoed message. No wsjwt thread is ever cancelled, so the loops issue the
 * system calls directly. Same results and errno as the libc functions. */
#ifndef WSJWT_NET_SYS_H
#define WSJWT_NET_SYS_H

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/* recv(2), not read(2): the socket layer directly, without read()'s file
 * layer (vfs_read, rw_verify_area, security_file_permission: about 2.5% of
 * a load generator's kernel time per 32-byte echo under perf, against 1%
 * for __sys_recvfrom). */
static inline ssize_t wsjwt__sys_recv(int fd, void *buf, size_t n)
{
    return (ssize_t)syscall(SYS_recvfrom, fd, buf, n, 0, NULL, NULL);
}

static inline ssize_t wsjwt__sys_send(int fd, const void *buf, size_t n, int flags)
{
    return (ssize_t)syscall(SYS_sendto, fd, buf, n, flags, NULL, 0);
}

static inline ssize_t wsjwt__sys_sendmsg(int fd, const struct msghdr *mh, int flags)
{
    return (ssize_t)syscall(SYS_sendmsg, fd, mh, flags);
}

#endif
