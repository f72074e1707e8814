/* Malloc-heavy compute: words into a chained hash table, then sorted with qsort; prints a
 * summary. The number of words comes from argv[1] (default 2000). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry { char *key; unsigned count; struct entry *next; };

static unsigned hash(const char *s) {
    unsigned h = 2166136261u;
    for (; *s; s++) { h ^= (unsigned char)*s; h *= 16777619u; }
    return h;
}

static int by_count(const void *a, const void *b) {
    const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return strcmp(x->key, y->key);
}

int main(int argc, char **argv) {
    unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], 0, 10) : 2000;
    unsigned buckets = 1024, distinct = 0, seed = 12345;
    struct entry **table = calloc(buckets, sizeof *table);
    if (!table) return 2;
    for (unsigned i = 0; i < n; i++) {
        char word[16];
        seed = seed * 1103515245u + 12345u;
        snprintf(word, sizeof word, "w%u", (seed >> 16) % (n / 3 + 1));
        unsigned b = hash(word) % buckets;
        struct entry *e = table[b];
        while (e && strcmp(e->key, word)) e = e->next;
        if (!e) {
            e = malloc(sizeof *e);
            e->key = strdup(word);
            e->count = 0;
            e->next = table[b];
            table[b] = e;
            distinct++;
        }
        e->count++;
    }
    struct entry **all = malloc(distinct * sizeof *all);
    unsigned k = 0;
    for (unsigned b = 0; b < buckets; b++)
        for (struct entry *e = table[b]; e; e = e->next) all[k++] = e;
    qsort(all, distinct, sizeof *all, by_count);
    printf("%u words, %u distinct\n", n, distinct);
    for (unsigned i = 0; i < 3 && i < distinct; i++)
        printf("%s %u\n", all[i]->key, all[i]->count);
    for (unsigned b = 0; b < buckets; b++) {
        struct entry *e = table[b];
        while (e) { struct entry *next = e->next; free(e->key); free(e); e = next; }
    }
    free(all);
    free(table);
    return 0;
}
