/* Prints its arguments and environment, reads stdin to end of file with getchar (byte count and
 * a checksum), and exits with the number of arguments. */
#include <stdio.h>

extern char **environ;

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) printf("arg %d: %s\n", i, argv[i]);
    for (char **e = environ; *e; e++) printf("env: %s\n", *e);
    unsigned long n = 0, sum = 0;
    int c;
    while ((c = getchar()) != EOF) { n++; sum = sum * 31 + (unsigned char)c; }
    printf("stdin: %lu bytes, checksum %lu\n", n, sum);
    fprintf(stderr, "done\n");
    return argc - 1;
}
