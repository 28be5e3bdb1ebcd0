/*
 * The C floor of the benchmark: a minimal libfcgi responder with the worker's
 * shape (threads blocking in FCGX_Accept_r on the socket spawn-fcgi hands over
 * on fd 0, no accept mutex) and no work: a fixed JSON answer. Whatever the
 * Swift worker costs beyond this is the service's own.
 *
 *   cc -O2 -o floor floor.c -lfcgi -lpthread
 *   spawn-fcgi -n -s SOCKET -M 0660 -U www-data -G www-data -- ./floor [THREADS]
 */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char answer[] =
    "Status: 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 15\r\n"
    "\r\n"
    "{\"status\":\"ok\"}";

static void *serve(void *unused) {
    (void)unused;
    FCGX_Request request;
    FCGX_InitRequest(&request, 0, 0);
    while (FCGX_Accept_r(&request) >= 0) {
        FCGX_PutStr(answer, (int)sizeof(answer) - 1, request.out);
        FCGX_Finish_r(&request);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 64;
    if (threads < 1 || threads > 1024) threads = 64;
    signal(SIGPIPE, SIG_IGN);
    if (FCGX_Init() != 0) return 1;
    pthread_t ids[1024];
    for (int i = 0; i < threads; i++) pthread_create(&ids[i], NULL, serve, NULL);
    for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
    return 0;
}
