#ifndef MUSIC_CONNECTION_PARK_H
#define MUSIC_CONNECTION_PARK_H

/// epoll and eventfd for the worker loop's parked connections (FastCGI's
/// ConnectionPark): Swift's Glibc module does not export <sys/epoll.h>.
/// Each returns what the system call returns (-1 with errno set on failure).

/// epoll_create1(EPOLL_CLOEXEC).
int music_epoll_create(void);
/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK).
int music_eventfd(void);
/// Adds `fd` for EPOLLIN, level-triggered (the wake eventfd).
int music_epoll_add_level(int epoll, int fd);
/// Adds (`add` non-zero) or re-arms `fd` for one EPOLLIN report (EPOLLONESHOT).
int music_epoll_arm_oneshot(int epoll, int fd, int add);
/// Removes `fd` from the set.
int music_epoll_remove(int epoll, int fd);
/// Waits for one ready descriptor and returns it.
int music_epoll_wait_one(int epoll);
/// Adds 1 to the eventfd's counter (it becomes, and stays, readable).
int music_eventfd_signal(int fd);
/// malloc_trim(0) (<malloc.h>, not exported by the Glibc module either): returns
/// the memory malloc keeps free to the system; 1 if any was returned.
int music_malloc_trim(void);

#endif
