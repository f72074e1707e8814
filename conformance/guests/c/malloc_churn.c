/* Allocation churn: many malloc/realloc/free of varying sizes, each buffer filled and checked;
 * prints a checksum. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    enum { SLOTS = 257, ROUNDS = 20000 };
    unsigned char *slot[SLOTS] = {0};
    size_t size[SLOTS] = {0};
    unsigned seed = 7, sum = 0;
    for (int r = 0; r < ROUNDS; r++) {
        seed = seed * 1664525u + 1013904223u;
        int i = seed % SLOTS;
        size_t want = (seed >> 8) % 4096;
        if (slot[i] && (seed & 1)) {
            for (size_t k = 0; k < size[i]; k++) sum += slot[i][k];
            free(slot[i]);
            slot[i] = 0;
            size[i] = 0;
        } else {
            unsigned char *p = realloc(slot[i], want + 1);
            if (!p) return 2;
            memset(p, (int)(r & 0xff), want + 1);
            slot[i] = p;
            size[i] = want + 1;
        }
    }
    for (int i = 0; i < SLOTS; i++) free(slot[i]);
    printf("checksum %u\n", sum);
    return 0;
}
