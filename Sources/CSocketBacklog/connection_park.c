#include "connection_park.h"

#include <malloc.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

int music_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int music_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

int music_epoll_add_level(int epoll, int fd) {
    struct epoll_event event = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
}

int music_epoll_arm_oneshot(int epoll, int fd, int add) {
    struct epoll_event event = {.events = EPOLLIN | EPOLLONESHOT, .data.fd = fd};
    return epoll_ctl(epoll, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &event);
}

int music_epoll_remove(int epoll, int fd) { return epoll_ctl(epoll, EPOLL_CTL_DEL, fd, 0); }

int music_epoll_wait_one(int epoll) {
    struct epoll_event event;
    int count = epoll_wait(epoll, &event, 1, -1);
    return count == 1 ? event.data.fd : -1;
}

int music_eventfd_signal(int fd) {
    uint64_t one = 1;
    return write(fd, &one, sizeof one) == sizeof one ? 0 : -1;
}

int music_malloc_trim(void) { return malloc_trim(0); }
