/* File I/O in the preopened directory: make a directory, write files, list them in order, read
 * one back, rename, stat, unlink, remove; prints what it saw. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

int main(void) {
    if (mkdir("/work", 0755) != 0) { printf("mkdir: %s\n", strerror(errno)); return 1; }
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "/work/file-%d.txt", i);
        FILE *f = fopen(name, "w");
        if (!f) { printf("fopen %s: %s\n", name, strerror(errno)); return 1; }
        for (int j = 0; j <= i * 100; j++) fprintf(f, "line %d of file %d\n", j, i);
        fclose(f);
    }
    DIR *d = opendir("/work");
    if (!d) return 1;
    char *names[16];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 16)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    for (int i = 0; i < n; i++) {
        char path[64];
        struct stat st;
        snprintf(path, sizeof path, "/work/%s", names[i]);
        stat(path, &st);
        printf("%s %lld bytes\n", names[i], (long long)st.st_size);
        free(names[i]);
    }
    FILE *f = fopen("/work/file-2.txt", "r");
    char line[64];
    int lines = 0;
    while (fgets(line, sizeof line, f)) lines++;
    fclose(f);
    printf("file-2 has %d lines\n", lines);
    if (rename("/work/file-0.txt", "/work/renamed.txt") != 0) return 2;
    printf("renamed exists: %d, file-0 exists: %d\n", access("/work/renamed.txt", F_OK) == 0,
           access("/work/file-0.txt", F_OK) == 0);
    unlink("/work/renamed.txt");
    for (int i = 1; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "/work/file-%d.txt", i);
        unlink(name);
    }
    printf("rmdir: %d\n", rmdir("/work"));
    return 0;
}
