/*
 * libFuzzer target for detect_number(): any bytes, as a NUL-terminated
 * string (embedded NULs end it early, as they would for a C caller).
 */
#include "wismo/detect.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct detect_match m[DETECT_MAX];
    char *s = malloc(size + 1);
    int n;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    n = detect_number(s, m, DETECT_MAX);
    if (n < 0 || n > DETECT_MAX)
        abort();
    for (int i = 0; i < n; i++)
        if (m[i].carrier == NULL || m[i].format == NULL)
            abort();
    n = detect_number(s, m, 1); /* the cut path */
    if (n < 0 || n > 1)
        abort();
    free(s);
    return 0;
}
