/* Load generator for net_bench.py: the same three workloads as its Python client, in C,
 * so the client is never the bottleneck. Built on the fly by net_bench.py when a C
 * compiler is available.
 *
 *   net_load echo|qotd|bulk|bulk1m PORT SECONDS SERVER_PID
 *
 * bulk keeps BULK_WINDOW (4 MiB) in flight, bulk1m 1 MiB.
 *
 * Prints one JSON object: rate (round trips/s, connections/s or MB/s), client_cpu and
 * server_cpu (fractions of one CPU over the measured window), errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONNECTIONS 32
#define QOTD_IN_FLIGHT 16
#define MSG 64
#define BULK_CHUNK 65536
#define BULK_WINDOW (4 * 1024 * 1024)
#define WARMUP 0.3

#define QUOTE_LEN 38 /* len(QUOTE) in net_bench.py */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double self_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static double proc_cpu(int pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    unsigned long utime = 0, stime = 0;
    /* fields after ')': state(3) ... utime is field 14, stime 15 (1-based) */
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
        field++;
        if (field == 14) utime = strtoul(tok, NULL, 10);
        if (field == 15) { stime = strtoul(tok, NULL, 10); break; }
    }
    return (double)(utime + stime) / sysconf(_SC_CLK_TCK);
}

static struct sockaddr_in target;

static int open_conn(int blocking) {
    int s = socket(AF_INET, SOCK_STREAM | (blocking ? 0 : SOCK_NONBLOCK), 0);
    if (s < 0) { perror("socket"); exit(1); }
    int r = connect(s, (struct sockaddr *)&target, sizeof target);
    if (r < 0 && errno != EINPROGRESS) { perror("connect"); exit(1); }
    return s;
}

typedef struct {
    double start, cpu0, scpu0, deadline, warm_until;
    int warm;
} window_t;

static void window_init(window_t *w, double seconds) {
    w->warm_until = now() + WARMUP;
    w->deadline = w->warm_until + seconds;
    w->warm = 1;
}

/* Returns 1 when the measurement is over. Sets *reset when counting must restart. */
static int window_tick(window_t *w, int pid, int *reset) {
    double t = now();
    *reset = 0;
    if (w->warm && t >= w->warm_until) {
        w->warm = 0;
        *reset = 1;
        w->start = t;
        w->cpu0 = self_cpu();
        w->scpu0 = proc_cpu(pid);
        return 0;
    }
    return !w->warm && t >= w->deadline;
}

static void report(window_t *w, int pid, double count, double scale, long errors) {
    double elapsed = now() - w->start;
    double cpu = self_cpu() - w->cpu0;
    double scpu = proc_cpu(pid) - w->scpu0;
    printf("{\"rate\": %f, \"client_cpu\": %f, \"server_cpu\": %f, \"errors\": %ld}\n",
           count / elapsed / scale, cpu / elapsed, scpu / elapsed, errors);
}

static void load_echo(double seconds, int pid) {
    int ep = epoll_create1(0);
    static int pending[65536];
    int fds[CONNECTIONS];
    char msg[MSG], buf[65536];
    memset(msg, 'x', MSG);
    for (int i = 0; i < CONNECTIONS; i++) {
        fds[i] = open_conn(1);
        int one = 1;
        setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    for (int i = 0; i < CONNECTIONS; i++) send(fds[i], msg, MSG, 0);
    window_t w;
    window_init(&w, seconds);
    double count = 0;
    struct epoll_event events[CONNECTIONS];
    for (;;) {
        int n = epoll_wait(ep, events, CONNECTIONS, 1000);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            ssize_t got = recv(fd, buf, sizeof buf, 0);
            if (got <= 0) continue;
            pending[fd] += got;
            while (pending[fd] >= MSG) {
                pending[fd] -= MSG;
                count++;
                send(fd, msg, MSG, 0);
            }
        }
        int reset;
        if (window_tick(&w, pid, &reset)) break;
        if (reset) count = 0;
    }
    report(&w, pid, count, 1, 0);
}

static void load_qotd(double seconds, int pid) {
    int ep = epoll_create1(0);
    static int got[65536];
    char buf[4096];
    long errors = 0;
    for (int i = 0; i < QOTD_IN_FLIGHT; i++) {
        int s = open_conn(0);
        got[s] = 0;
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
        epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    }
    window_t w;
    window_init(&w, seconds);
    double count = 0;
    struct epoll_event events[QOTD_IN_FLIGHT];
    for (;;) {
        int n = epoll_wait(ep, events, QOTD_IN_FLIGHT, 1000);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r < 0 && errno == EAGAIN) continue;
            if (r > 0) { got[fd] += r; continue; }
            if (r < 0) errors++;
            else if (got[fd] == QUOTE_LEN) count++;
            else errors++;
            epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
            close(fd);
            int s = open_conn(0);
            got[s] = 0;
            struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
            epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
        }
        int reset;
        if (window_tick(&w, pid, &reset)) break;
        if (reset) { count = 0; errors = 0; }
    }
    report(&w, pid, count, 1, errors);
}

static void load_bulk(double seconds, int pid, long long window) {
    int s = open_conn(1);
    fcntl(s, F_SETFL, O_NONBLOCK);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = s};
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    static char chunk[BULK_CHUNK], buf[1 << 20];
    memset(chunk, 'b', sizeof chunk);
    long long sent = 0, received = 0;
    double counted = 0;
    int writing = 1;
    window_t w;
    window_init(&w, seconds);
    for (;;) {
        struct epoll_event events[1];
        int n = epoll_wait(ep, events, 1, 1000);
        if (n == 1 && (events[0].events & EPOLLIN)) {
            for (;;) {
                ssize_t r = recv(s, buf, sizeof buf, 0);
                if (r <= 0) break;
                received += r;
                counted += r;
            }
        }
        if (n == 1 && (events[0].events & EPOLLOUT)) {
            while (sent - received < window) {
                ssize_t r = send(s, chunk + sent % BULK_CHUNK, BULK_CHUNK - sent % BULK_CHUNK, 0);
                if (r <= 0) break;
                sent += r;
            }
        }
        int want = sent - received < window;
        if (want != writing) {
            writing = want;
            ev.events = EPOLLIN | (writing ? EPOLLOUT : 0);
            epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev);
        }
        int reset;
        if (window_tick(&w, pid, &reset)) break;
        if (reset) counted = 0;
    }
    report(&w, pid, counted, 1e6, 0);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s echo|qotd|bulk|bulk1m PORT SECONDS SERVER_PID\n", argv[0]);
        return 2;
    }
    memset(&target, 0, sizeof target);
    target.sin_family = AF_INET;
    target.sin_port = htons(atoi(argv[2]));
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    double seconds = atof(argv[3]);
    int pid = atoi(argv[4]);
    if (!strcmp(argv[1], "echo")) load_echo(seconds, pid);
    else if (!strcmp(argv[1], "qotd")) load_qotd(seconds, pid);
    else if (!strcmp(argv[1], "bulk")) load_bulk(seconds, pid, BULK_WINDOW);
    else if (!strcmp(argv[1], "bulk1m")) load_bulk(seconds, pid, 1 << 20);
    else { fprintf(stderr, "unknown workload %s\n", argv[1]); return 2; }
    return 0;
}
