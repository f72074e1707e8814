/* Exits with the code given as argv[1] through exit(), after an atexit handler prints; with no
 * argument, returns from main. */
#include <stdio.h>
#include <stdlib.h>

static void bye(void) { printf("atexit handler ran\n"); }

int main(int argc, char **argv) {
    atexit(bye);
    printf("exiting with %s\n", argc > 1 ? argv[1] : "a return from main");
    if (argc > 1) exit(atoi(argv[1]));
    return 0;
}
