/*
 * fuzz.h: what every fuzz target shares.
 *
 * Each target defines LLVMFuzzerTestOneInput. Built for libFuzzer, that is
 * all; built with SYNFIN_FUZZ_REPLAY (replay.c), a main() runs it on files.
 * FUZZ_CHECK turns a broken invariant into an abort(), which every fuzzing
 * engine reports as a crash with the input that caused it.
 */
#ifndef SYNFIN_FUZZ_H
#define SYNFIN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
