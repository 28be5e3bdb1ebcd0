// C, not Swift: the sock_diag structs live in linux/ headers that Glibc's module
// map does not cover, and walking the answer needs NLMSG_* / RTA_* macros, which
// are function-like and not imported into Swift.
#include "socket_backlog.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

enum { listen_state = 10 /* TCP_LISTEN, the state unix sockets report too */ };

static int unix_backlog(int fd, uint32_t *waiting, uint32_t *limit) {
    struct stat status;
    if (fstat(fd, &status) != 0) return -1;
    int diag = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (diag < 0) return -1;
    // A scrape must not hang on a kernel that never answers.
    struct timeval timeout = { .tv_sec = 1, .tv_usec = 0 };
    setsockopt(diag, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);

    struct {
        struct nlmsghdr header;
        struct unix_diag_req request;
    } message;
    memset(&message, 0, sizeof message);
    message.header.nlmsg_len = sizeof message;
    message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    message.header.nlmsg_flags = NLM_F_REQUEST;
    message.request.sdiag_family = AF_UNIX;
    message.request.udiag_states = 1u << listen_state;
    message.request.udiag_ino = (uint32_t)status.st_ino;
    message.request.udiag_show = UDIAG_SHOW_RQLEN;
    // One socket by inode: "no cookie" is accepted for an exact lookup.
    message.request.udiag_cookie[0] = ~0u;
    message.request.udiag_cookie[1] = ~0u;
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(diag, &message, sizeof message, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
        int saved = errno;
        close(diag);
        errno = saved;
        return -1;
    }
    long buffer[2048];
    ssize_t length = recv(diag, buffer, sizeof buffer, 0);
    int saved = errno;
    close(diag);
    if (length < 0) {
        errno = saved;
        return -1;
    }
    int remaining = (int)length;
    for (struct nlmsghdr *header = (struct nlmsghdr *)buffer; NLMSG_OK(header, remaining);
         header = NLMSG_NEXT(header, remaining)) {
        if (header->nlmsg_type == NLMSG_ERROR) {
            struct nlmsgerr *error = NLMSG_DATA(header);
            errno = error->error < 0 ? -error->error : EIO;
            return -1;
        }
        if (header->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
        struct unix_diag_msg *socket_message = NLMSG_DATA(header);
        if (socket_message->udiag_ino != (uint32_t)status.st_ino) continue;
        // A connected socket reports its own queues: only a listening one has a backlog.
        if (socket_message->udiag_state != listen_state) {
            errno = EINVAL;
            return -1;
        }
        int attributes = (int)header->nlmsg_len - NLMSG_LENGTH(sizeof *socket_message);
        for (struct rtattr *attribute = (struct rtattr *)(socket_message + 1); RTA_OK(attribute, attributes);
             attribute = RTA_NEXT(attribute, attributes)) {
            if (attribute->rta_type != UNIX_DIAG_RQLEN) continue;
            struct unix_diag_rqlen *queue = RTA_DATA(attribute);
            // For a listening socket: connections waiting to be accepted, and the limit.
            *waiting = queue->udiag_rqueue;
            *limit = queue->udiag_wqueue;
            return 0;
        }
    }
    errno = ENOENT;
    return -1;
}

static int tcp_backlog(int fd, uint32_t *waiting, uint32_t *limit) {
    struct tcp_info info;
    socklen_t length = sizeof info;
    memset(&info, 0, sizeof info);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return -1;
    if (info.tcpi_state != listen_state) {
        errno = EINVAL;
        return -1;
    }
    // On a listening socket Linux reports the accept queue in these two fields.
    *waiting = info.tcpi_unacked;
    *limit = info.tcpi_sacked;
    return 0;
}

int music_listen_backlog(int fd, uint32_t *waiting, uint32_t *limit) {
    int domain = 0;
    socklen_t length = sizeof domain;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) != 0) return -1;
    switch (domain) {
    case AF_UNIX: return unix_backlog(fd, waiting, limit);
    case AF_INET:
    case AF_INET6: return tcp_backlog(fd, waiting, limit);
    default:
        errno = EAFNOSUPPORT;
        return -1;
    }
}
