/*
 * read_bound.c - how fast can a single core merely read a classic pcap file?
 *
 * These are the denominators of the benchmark's "ratio to the read bound":
 *   pcap     libpcap pcap_open_offline + pcap_next_ex (what libnids, tcpflow
 *            and most peers do; glibc's default 4 KiB stdio buffer)
 *   pcapbuf  the same on pcap_fopen_offline() of a FILE* given a 1 MiB
 *            setvbuf buffer (the buffer must be passed: glibc ignores a size
 *            without one)
 *   read     read(2) of 4 MiB chunks into one reused buffer, records walked
 *            by hand (records straddling chunks are carried over)
 *   mmap     mmap of the whole file, records walked in place
 * Each mode "touches" every packet the way a middlebox must at least do:
 * it reads the EtherType and the IP protocol byte, and sums caplen, so the
 * compiler cannot drop the walk. Output: "packets bytes checksum" on stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (4u << 20)
#define STDIO_BUF (1u << 20)

struct tally {
    uint64_t packets, bytes, touch;
};

static inline void touch(struct tally *t, const uint8_t *p, uint32_t caplen)
{
    t->packets++;
    t->bytes += caplen;
    if (caplen >= 24)
        t->touch += (uint64_t)(p[12] ^ p[13]) + p[23]; /* EtherType, IPv4 protocol */
}

static int run_pcap(const char *path, struct tally *t, int buffered)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc;
    FILE *fp = NULL;
    char *vbuf = NULL;
    if (buffered) {
        fp = fopen(path, "rb");
        vbuf = malloc(STDIO_BUF);
        if (!fp || !vbuf || setvbuf(fp, vbuf, _IOFBF, STDIO_BUF) != 0) {
            perror(path);
            return -1;
        }
        pc = pcap_fopen_offline(fp, err); /* pcap_close() closes fp */
    } else {
        pc = pcap_open_offline(path, err);
    }
    if (!pc) {
        fprintf(stderr, "%s: %s\n", path, err);
        return -1;
    }
    struct pcap_pkthdr *h;
    const u_char *d;
    int rc;
    while ((rc = pcap_next_ex(pc, &h, &d)) == 1)
        touch(t, d, h->caplen);
    if (rc == PCAP_ERROR)
        fprintf(stderr, "%s: %s\n", path, pcap_geterr(pc));
    pcap_close(pc);
    free(vbuf);
    return rc == PCAP_ERROR ? -1 : 0;
}

/* Returns the record-header byte order: 0 native, 1 swapped, -1 not pcap. */
static int pcap_magic(const uint8_t *h)
{
    uint32_t m;
    memcpy(&m, h, 4);
    if (m == 0xa1b2c3d4u || m == 0xa1b23c4du)
        return 0;
    if (m == 0xd4c3b2a1u || m == 0x4d3cb2a1u)
        return 1;
    return -1;
}

static uint32_t rd32(const uint8_t *p, int swap)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

static int run_read(const char *path, struct tally *t)
{
    int fd = open(path, O_RDONLY);
    uint8_t *buf = malloc(CHUNK + 65536 + 16);
    if (fd < 0 || !buf) {
        perror(path);
        return -1;
    }
    size_t have = 0, pos = 0;
    int swap = -1;
    for (;;) {
        /* keep the unparsed tail at the front, then refill */
        memmove(buf, buf + pos, have - pos);
        have -= pos;
        pos = 0;
        ssize_t n = read(fd, buf + have, CHUNK);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror(path);
            break;
        }
        if (n == 0)
            break;
        have += (size_t)n;
        if (swap < 0) {
            if (have < 24 || (swap = pcap_magic(buf)) < 0) {
                fprintf(stderr, "%s: not a classic pcap file\n", path);
                break;
            }
            pos = 24;
        }
        while (have - pos >= 16) {
            uint32_t cap = rd32(buf + pos + 8, swap);
            if (cap > 65536 + 16) {
                fprintf(stderr, "%s: bad record length %u\n", path, cap);
                close(fd);
                free(buf);
                return -1;
            }
            if (have - pos - 16 < cap)
                break;
            touch(t, buf + pos + 16, cap);
            pos += 16 + cap;
        }
    }
    close(fd);
    free(buf);
    return 0;
}

static int run_mmap(const char *path, struct tally *t)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        perror(path);
        return -1;
    }
    size_t len = (size_t)st.st_size;
    const uint8_t *m = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (m == MAP_FAILED || len < 24) {
        fprintf(stderr, "%s: cannot map\n", path);
        return -1;
    }
    madvise((void *)m, len, MADV_SEQUENTIAL);
    int swap = pcap_magic(m);
    size_t pos = 24;
    while (swap >= 0 && len - pos >= 16) {
        uint32_t cap = rd32(m + pos + 8, swap);
        if (len - pos - 16 < cap)
            break;
        touch(t, m + pos + 16, cap);
        pos += 16 + cap;
    }
    munmap((void *)m, len);
    return swap < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: read_bound pcap|pcapbuf|read|mmap FILE\n");
        return 2;
    }
    struct tally t = {0, 0, 0};
    int rc;
    if (!strcmp(argv[1], "pcap"))
        rc = run_pcap(argv[2], &t, 0);
    else if (!strcmp(argv[1], "pcapbuf"))
        rc = run_pcap(argv[2], &t, 1);
    else if (!strcmp(argv[1], "read"))
        rc = run_read(argv[2], &t);
    else if (!strcmp(argv[1], "mmap"))
        rc = run_mmap(argv[2], &t);
    else {
        fprintf(stderr, "read_bound: unknown mode %s\n", argv[1]);
        return 2;
    }
    printf("%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", t.packets, t.bytes, t.touch);
    return rc < 0 ? 1 : 0;
}
