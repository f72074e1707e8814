/* wordfreq: the N most frequent words of a text file.
 *
 *   wordfreq FILE [N]
 *
 * Reads FILE through stdio, folds ASCII letters to lower case, counts every word (a run of
 * letters, digits, '_' or '\'') in an open-addressing hash table, sorts the table by count and
 * prints the N most frequent words (default 20) with their counts, then the totals. Mostly
 * computation: one buffered read of the file, a few dozen writes.
 *
 * Part of Cage's benchmark programs (bench/programs/README.md); built by build.sh. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    char *word;
    uint32_t len;
    uint32_t hash;
    uint64_t count;
};

static struct entry *table;
static size_t capacity = 1 << 12;
static size_t used;

static uint32_t fnv1a(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static void grow(void) {
    size_t old = capacity;
    struct entry *prev = table;
    capacity *= 2;
    table = calloc(capacity, sizeof *table);
    if (!table) {
        perror("calloc");
        exit(2);
    }
    for (size_t i = 0; i < old; i++) {
        if (!prev[i].word)
            continue;
        size_t j = prev[i].hash & (capacity - 1);
        while (table[j].word)
            j = (j + 1) & (capacity - 1);
        table[j] = prev[i];
    }
    free(prev);
}

static void count(const char *w, size_t n) {
    if (used * 4 >= capacity * 3)
        grow();
    uint32_t h = fnv1a(w, n);
    size_t j = h & (capacity - 1);
    while (table[j].word) {
        if (table[j].hash == h && table[j].len == n && memcmp(table[j].word, w, n) == 0) {
            table[j].count++;
            return;
        }
        j = (j + 1) & (capacity - 1);
    }
    table[j].word = malloc(n + 1);
    if (!table[j].word) {
        perror("malloc");
        exit(2);
    }
    memcpy(table[j].word, w, n);
    table[j].word[n] = 0;
    table[j].len = (uint32_t)n;
    table[j].hash = h;
    table[j].count = 1;
    used++;
}

static int by_count(const void *a, const void *b) {
    const struct entry *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->word, y->word);
}

static int is_word(int c) { return isalnum(c) || c == '_' || c == '\''; }

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: wordfreq FILE [N]\n");
        return 64;
    }
    long top = argc > 2 ? strtol(argv[2], NULL, 10) : 20;
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 66;
    }
    table = calloc(capacity, sizeof *table);
    char word[256];
    size_t n = 0;
    uint64_t words = 0, bytes = 0;
    int c;
    while ((c = getc(f)) != EOF) {
        bytes++;
        if (is_word(c)) {
            if (n < sizeof word)
                word[n++] = (char)tolower(c);
        } else if (n) {
            count(word, n);
            words++;
            n = 0;
        }
    }
    if (n) {
        count(word, n);
        words++;
    }
    fclose(f);
    /* Compact and sort. */
    size_t k = 0;
    for (size_t i = 0; i < capacity; i++)
        if (table[i].word)
            table[k++] = table[i];
    qsort(table, k, sizeof *table, by_count);
    for (long i = 0; i < top && (size_t)i < k; i++)
        printf("%8llu %s\n", (unsigned long long)table[i].count, table[i].word);
    printf("%llu bytes, %llu words, %zu distinct\n", (unsigned long long)bytes,
           (unsigned long long)words, k);
    return 0;
}
