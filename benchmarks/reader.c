/* The benchmark's client: open + read to EOF + close, timed with CLOCK_MONOTONIC.
 *
 * Compiled by benchmarks/run.py with gcc at run time, so no Python client overhead is in
 * any measurement. Modes (all paths are absolute):
 *   latency ITERATIONS PATH...      one warm-up round, then ITERATIONS rounds; each round
 *                                   reads every PATH once, in a fresh random order (fixed
 *                                   seed), so no path always follows the same one: where a
 *                                   read lands in the sequence moves its time (with the
 *                                   order only rotated, our mount always came right after a
 *                                   raw file and its open took about 20 us longer).
 *                                   Prints one line per PATH: "<errors> <ns> <ns> ...".
 *   throughput START_NS STOP_NS PATH...  waits for CLOCK_MONOTONIC START_NS, then cycles
 *                                   through PATHs until STOP_NS. Prints "<ops> <errors>".
 *   agent PATH...                   prints "ready <pid>", then for every line on stdin reads
 *                                   each PATH once and prints "<ns> <ns> ..." ("-1" for a
 *                                   failed read); exits at EOF.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char buffer[1 << 20];

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Nanoseconds for open + read to EOF + close, or -1 if any step failed. */
static long long read_once(const char *path) {
    long long start = now_ns();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t got;
    long total = 0;
    while ((got = read(fd, buffer, sizeof buffer)) > 0) total += got;
    close(fd);
    if (got < 0 || total == 0) return -1;
    return now_ns() - start;
}

/* A fixed-seed xorshift64 generator: the same orders in every run, no libc rand(). */
static unsigned long long random_state = 0x9E3779B97F4A7C15ULL;

static unsigned long long next_random(void) {
    random_state ^= random_state << 13;
    random_state ^= random_state >> 7;
    random_state ^= random_state << 17;
    return random_state;
}

/* Fisher-Yates: a fresh order of 0..count-1 in ``order``. */
static void shuffle(int *order, int count) {
    for (int k = count - 1; k > 0; k--) {
        int j = (int)(next_random() % (unsigned long long)(k + 1));
        int swapped = order[k];
        order[k] = order[j];
        order[j] = swapped;
    }
}

static int latency(int iterations, int count, char **paths) {
    long long *samples = calloc((size_t)iterations * count, sizeof *samples);
    long *errors = calloc(count, sizeof *errors);
    if (!samples || !errors) return 2;
    int *order = calloc(count, sizeof *order);
    if (!order) return 2;
    for (int p = 0; p < count; p++) {
        read_once(paths[p]);
        order[p] = p;
    }
    for (int i = 0; i < iterations; i++) {
        shuffle(order, count);
        for (int k = 0; k < count; k++) {
            int p = order[k];
            long long ns = read_once(paths[p]);
            if (ns < 0) errors[p]++;
            samples[(size_t)p * iterations + i] = ns;
        }
    }
    for (int p = 0; p < count; p++) {
        printf("%ld", errors[p]);
        for (int i = 0; i < iterations; i++) printf(" %lld", samples[(size_t)p * iterations + i]);
        printf("\n");
    }
    return 0;
}

static int throughput(long long start_ns, long long stop_ns, int count, char **paths) {
    struct timespec start = {start_ns / 1000000000LL, start_ns % 1000000000LL};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &start, NULL);
    long ops = 0, errors = 0;
    for (int p = 0; now_ns() < stop_ns; p = (p + 1) % count) {
        if (read_once(paths[p]) < 0) errors++;
        else ops++;
    }
    printf("%ld %ld\n", ops, errors);
    return 0;
}

static int agent(int count, char **paths) {
    char line[64];
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        for (int p = 0; p < count; p++) printf(p ? " %lld" : "%lld", read_once(paths[p]));
        printf("\n");
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "latency") == 0)
        return latency(atoi(argv[2]), argc - 3, argv + 3);
    if (argc >= 5 && strcmp(argv[1], "throughput") == 0)
        return throughput(atoll(argv[2]), atoll(argv[3]), argc - 4, argv + 4);
    if (argc >= 3 && strcmp(argv[1], "agent") == 0) return agent(argc - 2, argv + 2);
    fprintf(stderr, "usage: reader latency N PATH... | throughput START STOP PATH... | agent PATH...\n");
    return 2;
}
