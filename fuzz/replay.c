/*
 * replay.c: main() for the fuzz targets when they are not linked with
 * libFuzzer (SYNFIN_FUZZ_ENGINE=replay).
 *
 *   fuzz_X FILE...   runs the target once on each file (regressions, or
 *                    AFL++'s `@@`), and says which one it is running, so a
 *                    sanitizer report can be tied to its input.
 *   fuzz_X           built with afl-clang-fast: AFL++ persistent mode, the
 *                    test cases come through shared memory.
 */
#include "fuzz.h"

#include <string.h>
#include <unistd.h> /* read(), which AFL++'s macros use */

#ifdef __AFL_FUZZ_TESTCASE_LEN
__AFL_FUZZ_INIT();
#endif

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            } else {
                buf = nb;
            }
        }
    }
    int err = ferror(f) || !buf;
    (void)fclose(f); /* read only: ferror above saw any error */
    if (err) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(buf);
        return -1;
    }
    /* An exactly sized copy, so that ASan sees any read past the input. */
    uint8_t *exact = malloc(len ? len : 1);
    if (exact) {
        memcpy(exact, buf, len);
        LLVMFuzzerTestOneInput(exact, len);
    }
    free(exact);
    free(buf);
    return exact ? 0 : -1;
}

int main(int argc, char **argv)
{
#ifdef __AFL_FUZZ_TESTCASE_LEN
    if (argc < 2) {
        __AFL_INIT();
        const unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
        while (__AFL_LOOP(10000))
            LLVMFuzzerTestOneInput(buf, (size_t)__AFL_FUZZ_TESTCASE_LEN);
        return 0;
    }
#endif
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE...\n", argv[0]);
        return 2;
    }
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        fprintf(stderr, "running %s\n", argv[i]);
        failed |= run_file(argv[i]) != 0;
    }
    return failed;
}
