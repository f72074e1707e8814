/* grepcount: how many lines of each file under a directory contain a string.
 *
 *   grepcount DIR STRING [CHUNK]
 *
 * Walks DIR recursively (opendir/readdir, in name order), reads every regular file with
 * read(2) in CHUNK-byte pieces (default 64: no stdio buffering) and writes one line per file,
 * "count path", with write(2), then a total. Deliberately system-call heavy: the time goes
 * into WASI (path_open, fd_readdir, fd_filestat_get, fd_read, fd_write, fd_close), not into
 * the guest's code.
 *
 * Part of Cage's benchmark programs (bench/programs/README.md); built by build.sh. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *needle;
static size_t needle_len;
static size_t chunk = 64;
static unsigned long long total_lines, total_files, total_bytes;

static void put(const char *s, size_t n) {
    while (n) {
        ssize_t w = write(1, s, n);
        if (w <= 0) {
            perror("write");
            exit(74);
        }
        s += w;
        n -= (size_t)w;
    }
}

/* Counts the lines of the open file FD that contain the needle. */
static unsigned long long scan(int fd) {
    char *buf = malloc(chunk);
    char line[4096];
    size_t len = 0;
    int hit = 0;
    unsigned long long lines = 0;
    ssize_t n;
    while ((n = read(fd, buf, chunk)) > 0) {
        total_bytes += (unsigned long long)n;
        for (ssize_t i = 0; i < n; i++) {
            char c = buf[i];
            if (c == '\n') {
                lines += hit;
                hit = 0;
                len = 0;
                continue;
            }
            if (len == sizeof line) {
                /* Keep the tail that may still hold the start of a match. */
                memmove(line, line + len - needle_len, needle_len);
                len = needle_len;
            }
            line[len++] = c;
            if (!hit && len >= needle_len &&
                memcmp(line + len - needle_len, needle, needle_len) == 0)
                hit = 1;
        }
    }
    free(buf);
    return lines + hit;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            names = realloc(names, cap * sizeof *names);
        }
        names[count++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof *names, by_name);
    for (size_t i = 0; i < count; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) != 0) {
            perror(path);
        } else if (S_ISDIR(st.st_mode)) {
            walk(path);
        } else if (S_ISREG(st.st_mode)) {
            int fd = open(path, O_RDONLY);
            if (fd < 0) {
                perror(path);
                continue;
            }
            unsigned long long lines = scan(fd);
            close(fd);
            char out[1100];
            int n = snprintf(out, sizeof out, "%llu %s\n", lines, path);
            put(out, (size_t)n);
            total_lines += lines;
            total_files++;
        }
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: grepcount DIR STRING [CHUNK]\n");
        return 64;
    }
    needle = argv[2];
    needle_len = strlen(needle);
    if (needle_len == 0 || needle_len > 1024) {
        fprintf(stderr, "grepcount: STRING must be 1 to 1024 bytes\n");
        return 64;
    }
    if (argc > 3)
        chunk = (size_t)strtoul(argv[3], NULL, 10);
    if (chunk == 0)
        chunk = 1;
    walk(argv[1]);
    char out[200];
    int n = snprintf(out, sizeof out, "%llu lines in %llu files (%llu bytes)\n", total_lines,
                     total_files, total_bytes);
    put(out, (size_t)n);
    return 0;
}
