/*
 * OpenBLAS cblas_sbgemm (bf16 inputs, fp32 accumulate and output) against cblas_sgemm (fp32) on given shapes.
 * Part of `difflab bench gemm` (tools/bench/src/gemm-bench.ts compiles it on demand: cc -O2 gemm_bf16.c -ldl).
 *
 * OpenBLAS is loaded with dlopen, so the program builds without OpenBLAS headers and runs against any build:
 *   --lib PATH       the library whose cblas_sgemm is timed (default libopenblas.so.0: the one the native backend links)
 *   --bf16-lib PATH  the library whose cblas_sbgemm is timed (default: --lib). Debian's 0.3.21 is built without
 *                    BUILD_BFLOAT16 and has no cblas_sbgemm; an OpenBLAS built with BUILD_BFLOAT16=1 can be named here.
 * Then: --threads N (OpenBLAS threads, both libraries), --seconds S (timed seconds per kernel and shape, split
 * into --blocks B alternating blocks; the best block counts, so another process's load lowers both alike), and
 * shapes M,N,K or M,N,K,t (t: A transposed, the weight-gradient form Aᵀ·B), row-major C[M,N] = op(A)·B.
 * Prints one JSON object: GFLOP/s (2·M·N·K per product) of both kernels per shape (and of the --bf16-lib's own
 * cblas_sgemm when it is another library), and the largest error of the
 * sbgemm result relative to sgemm on the same bf16-rounded inputs (scaled by max |C|), which shows it is a real product.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
typedef void (*sbgemm_fn)(int, int, int, int, int, int, float, const uint16_t *, int, const uint16_t *, int, float, float *, int);
typedef void (*set_threads_fn)(int);
typedef char *(*str_fn)(void);

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* fp32 → bf16, round to nearest even (finite inputs only). */
static uint16_t to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  u += 0x7fff + ((u >> 16) & 1);
  return (uint16_t)(u >> 16);
}

static float from_bf16(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static void json_string(const char *s) {
  putchar('"');
  for (; s && *s; s++) {
    if (*s == '"' || *s == '\\') putchar('\\');
    if ((unsigned char)*s >= 0x20) putchar(*s);
  }
  putchar('"');
}

struct lib {
  const char *path;
  void *handle;
  sgemm_fn sgemm;
  sbgemm_fn sbgemm;
  set_threads_fn set_threads;
  str_fn config, corename;
};

static int open_lib(struct lib *l, const char *path) {
  l->path = path;
  l->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!l->handle) {
    fprintf(stderr, "gemm_bf16: cannot load %s: %s\n", path, dlerror());
    return 0;
  }
  l->sgemm = (sgemm_fn)dlsym(l->handle, "cblas_sgemm");
  l->sbgemm = (sbgemm_fn)dlsym(l->handle, "cblas_sbgemm");
  l->set_threads = (set_threads_fn)dlsym(l->handle, "openblas_set_num_threads");
  l->config = (str_fn)dlsym(l->handle, "openblas_get_config");
  l->corename = (str_fn)dlsym(l->handle, "openblas_get_corename");
  return 1;
}

static void print_lib(const char *key, const struct lib *l, int has_sbgemm) {
  printf("\"%s\":{\"path\":", key);
  json_string(l->path);
  printf(",\"config\":");
  json_string(l->config ? l->config() : "unknown");
  printf(",\"core\":");
  json_string(l->corename ? l->corename() : "unknown");
  printf(",\"sbgemm\":%s}", has_sbgemm ? "true" : "false");
}

int main(int argc, char **argv) {
  const char *lib_path = "libopenblas.so.0", *bf16_path = NULL;
  int threads = 1, blocks = 3;
  double seconds = 0.6;
  int first_shape = argc;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--lib") && i + 1 < argc) lib_path = argv[++i];
    else if (!strcmp(argv[i], "--bf16-lib") && i + 1 < argc) bf16_path = argv[++i];
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
    else if (!strcmp(argv[i], "--blocks") && i + 1 < argc) blocks = atoi(argv[++i]);
    else if (argv[i][0] == '-') {
      fprintf(stderr, "gemm_bf16: unknown option %s\n", argv[i]);
      return 2;
    } else {
      first_shape = i;
      break;
    }
  }
  if (first_shape >= argc || threads < 1 || blocks < 1 || !(seconds > 0)) {
    fprintf(stderr, "usage: gemm_bf16 [--lib PATH] [--bf16-lib PATH] [--threads N] [--seconds S] [--blocks B] M,N,K[,t]...\n");
    return 2;
  }
  struct lib main_lib, bf16_lib;
  if (!open_lib(&main_lib, lib_path)) return 1;
  if (!main_lib.sgemm) {
    fprintf(stderr, "gemm_bf16: %s has no cblas_sgemm\n", lib_path);
    return 1;
  }
  if (bf16_path && strcmp(bf16_path, lib_path)) {
    if (!open_lib(&bf16_lib, bf16_path)) return 1;
  } else {
    bf16_lib = main_lib;
  }
  if (main_lib.set_threads) main_lib.set_threads(threads);
  if (bf16_lib.set_threads) bf16_lib.set_threads(threads);

  printf("{");
  print_lib("lib", &main_lib, main_lib.sbgemm != NULL);
  printf(",");
  print_lib("bf16Lib", &bf16_lib, bf16_lib.sbgemm != NULL);
  printf(",\"threads\":%d,\"results\":[", threads);
  srand(1);
  for (int s = first_shape; s < argc; s++) {
    int m = 0, n = 0, k = 0;
    char t = 0;
    if (sscanf(argv[s], "%d,%d,%d,%c", &m, &n, &k, &t) < 3 || m < 1 || n < 1 || k < 1) {
      fprintf(stderr, "gemm_bf16: shape must be M,N,K or M,N,K,t, got %s\n", argv[s]);
      return 2;
    }
    int trans = t == 't';
    size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
    float *a = malloc(na * 4), *b = malloc(nb * 4), *c = malloc(nc * 4), *c_ref = malloc(nc * 4);
    float *ar = malloc(na * 4), *br = malloc(nb * 4);
    uint16_t *ah = malloc(na * 2), *bh = malloc(nb * 2);
    for (size_t i = 0; i < na; i++) a[i] = (float)rand() / RAND_MAX - 0.5f, ah[i] = to_bf16(a[i]), ar[i] = from_bf16(ah[i]);
    for (size_t i = 0; i < nb; i++) b[i] = (float)rand() / RAND_MAX - 0.5f, bh[i] = to_bf16(b[i]), br[i] = from_bf16(bh[i]);
    int ta = trans ? TRANS : NO_TRANS, lda = trans ? m : k;
    double flop = 2.0 * m * n * k, best_s = 0, best_b = 0, best_s2 = 0, err = -1;
    int reps_s = 0, reps_b = 0, reps_s2 = 0;
    /* With two libraries, the bf16 library's own sgemm is timed too (its kernels may differ from --lib's). */
    int other_sgemm = bf16_lib.handle != main_lib.handle && bf16_lib.sgemm;
    if (bf16_lib.sbgemm) {
      /* Correctness: sbgemm against sgemm on the bf16-rounded inputs (both accumulate in fp32). */
      main_lib.sgemm(ROW_MAJOR, ta, NO_TRANS, m, n, k, 1.0f, ar, lda, br, n, 0.0f, c_ref, n);
      bf16_lib.sbgemm(ROW_MAJOR, ta, NO_TRANS, m, n, k, 1.0f, ah, lda, bh, n, 0.0f, c, n);
      double scale = 0, diff = 0;
      for (size_t i = 0; i < nc; i++) {
        scale = fmax(scale, fabs(c_ref[i]));
        diff = fmax(diff, fabs(c[i] - c_ref[i]));
      }
      err = scale > 0 ? diff / scale : diff;
    }
    main_lib.sgemm(ROW_MAJOR, ta, NO_TRANS, m, n, k, 1.0f, a, lda, b, n, 0.0f, c, n); /* warm-up */
    for (int blk = 0; blk < blocks; blk++) {
      double start = now(), el;
      int r = 0;
      do {
        main_lib.sgemm(ROW_MAJOR, ta, NO_TRANS, m, n, k, 1.0f, a, lda, b, n, 0.0f, c, n);
        r++;
      } while ((el = now() - start) < seconds / blocks);
      reps_s += r;
      if (flop * r / el / 1e9 > best_s) best_s = flop * r / el / 1e9;
      if (other_sgemm) {
        start = now();
        r = 0;
        do {
          bf16_lib.sgemm(ROW_MAJOR, ta, NO_TRANS, m, n, k, 1.0f, a, lda, b, n, 0.0f, c, n);
          r++;
        } while ((el = now() - start) < seconds / blocks);
        reps_s2 += r;
        if (flop * r / el / 1e9 > best_s2) best_s2 = flop * r / el / 1e9;
      }
      if (!bf16_lib.sbgemm) continue;
      start = now();
      r = 0;
      do {
        bf16_lib.sbgemm(ROW_MAJOR, ta, NO_TRANS, m, n, k, 1.0f, ah, lda, bh, n, 0.0f, c, n);
        r++;
      } while ((el = now() - start) < seconds / blocks);
      reps_b += r;
      if (flop * r / el / 1e9 > best_b) best_b = flop * r / el / 1e9;
    }
    printf("%s{\"m\":%d,\"n\":%d,\"k\":%d,\"transA\":%s,\"sgemm\":%.2f,\"sgemmReps\":%d", s > first_shape ? "," : "", m, n, k, trans ? "true" : "false", best_s, reps_s);
    if (other_sgemm) printf(",\"sgemmBf16Lib\":%.2f,\"sgemmBf16LibReps\":%d", best_s2, reps_s2);
    if (bf16_lib.sbgemm) printf(",\"sbgemm\":%.2f,\"sbgemmReps\":%d,\"sbgemmRelErr\":%.3g", best_b, reps_b, err);
    else printf(",\"sbgemm\":null");
    printf("}");
    fflush(stdout);
    free(a), free(b), free(c), free(c_ref), free(ar), free(br), free(ah), free(bh);
  }
  printf("]}\n");
  return 0;
}
