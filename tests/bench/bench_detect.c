/*
 * Benchmark for detect_number(): every valid and invalid test vector of
 * tracking_number_data plus wismo's fixture numbers, looped for about two
 * seconds (bounded by time, not by iterations). Prints numbers per second
 * and nanoseconds per number. Not a test: it never fails on speed.
 */
#include "wismo/detect.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "wismo/wm.h"

#define COURIERS_DIR  WISMO_FIXTURES "/tracking_number_data/couriers"
#define REQUESTS_JSON WISMO_FIXTURES "/carriers/requests.json"
#define BENCH_SECONDS 2.0

struct bench_vec {
    char **v; /* owned strings */
    size_t n, cap;
};

static void bench_add(struct bench_vec *vec, const char *s)
{
    if (s == NULL)
        return;
    wm_grow((void **)&vec->v, &vec->cap, vec->n + 1, sizeof(vec->v[0]));
    vec->v[vec->n++] = wm_xstrdup(s);
}

static void bench_add_array(struct bench_vec *vec, json_t *arr)
{
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v) bench_add(vec, json_string_value(v));
}

static int bench_load(struct bench_vec *vec)
{
    DIR *dir = NULL;
    struct dirent *de;
    json_t *root = NULL, *fmt, *nums;
    json_error_t jerr;
    char path[4096];
    const char *key;
    size_t i;
    int rc = WM_EIO;

    dir = opendir(COURIERS_DIR);
    if (dir == NULL) {
        fprintf(stderr, "bench_detect: cannot open %s\n", COURIERS_DIR);
        goto out;
    }
    while ((de = readdir(dir)) != NULL) {
        size_t len = strlen(de->d_name);

        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", COURIERS_DIR, de->d_name);
        root = json_load_file(path, 0, &jerr);
        if (root == NULL) {
            fprintf(stderr, "bench_detect: %s: %s\n", path, jerr.text);
            goto out;
        }
        json_array_foreach(json_object_get(root, "tracking_numbers"), i, fmt)
        {
            json_t *tn = json_object_get(fmt, "test_numbers");

            bench_add_array(vec, json_object_get(tn, "valid"));
            bench_add_array(vec, json_object_get(tn, "invalid"));
        }
        json_decref(root);
        root = NULL;
    }
    root = json_load_file(REQUESTS_JSON, 0, &jerr);
    if (root != NULL)
        json_object_foreach(root, key, nums) bench_add_array(vec, nums);
    rc = vec->n > 0 ? 0 : WM_ENOTFOUND;
out:
    json_decref(root);
    if (dir != NULL)
        closedir(dir);
    return rc;
}

static double bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
    struct bench_vec vec = {NULL, 0, 0};
    struct detect_match m[DETECT_MAX];
    unsigned long long calls = 0, found = 0;
    double t0, elapsed;
    int rc;

    rc = bench_load(&vec);
    if (rc == 0)
        rc = detect_init();
    if (rc != 0) {
        fprintf(stderr, "bench_detect: %s\n", wm_strerror(rc));
        goto out;
    }
    t0 = bench_now();
    do {
        for (size_t i = 0; i < vec.n; i++) {
            int n = detect_number(vec.v[i], m, DETECT_MAX);

            found += n > 0 ? (unsigned)n : 0;
        }
        calls += vec.n;
        elapsed = bench_now() - t0;
    } while (elapsed < BENCH_SECONDS);
    printf("bench_detect: %zu vectors, %llu numbers in %.2f s: "
           "%.0f numbers/s, %.1f ns/number (%llu matches)\n",
           vec.n, calls, elapsed, (double)calls / elapsed,
           elapsed * 1e9 / (double)calls, found);
out:
    detect_cleanup();
    for (size_t i = 0; i < vec.n; i++)
        free(vec.v[i]);
    free(vec.v);
    return rc == 0 ? 0 : 1;
}
