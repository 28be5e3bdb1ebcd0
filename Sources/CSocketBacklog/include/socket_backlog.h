#ifndef MUSIC_SOCKET_BACKLOG_H
#define MUSIC_SOCKET_BACKLOG_H

#include <stdint.h>

/// The connections waiting in the backlog of the listening socket `fd` and the
/// backlog's limit, as Linux reports them: for a unix socket through sock_diag
/// netlink (UNIX_DIAG_RQLEN of the socket with fd's inode), for TCP through
/// TCP_INFO (tcpi_unacked and tcpi_sacked of a listening socket).
/// Returns 0, or -1 with errno set (not a listening unix/TCP socket, no answer).
int music_listen_backlog(int fd, uint32_t *waiting, uint32_t *limit);

#endif
