/* A libcudart for tests: device memory is host memory (malloc), copies are memcpy, streams are tokens. Every
 * allocation and stream is tracked; FAKE_CUDART_REPORT names a file that gets the counts still alive at exit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 65536
typedef struct { void *address; size_t size; int pinned; } slot_t;
static slot_t slots[SLOTS];
static int streams;

static int track(void *address, size_t size, int pinned) {
    for (int i = 0; i < SLOTS; i++) {
        if (!slots[i].address) { slots[i].address = address; slots[i].size = size; slots[i].pinned = pinned; return 0; }
    }
    return 2;
}

static int untrack(void *address, int pinned) {
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].address == address && slots[i].pinned == pinned) { slots[i].address = NULL; return 0; }
    }
    return 1; /* cudaErrorInvalidValue */
}

size_t fake_allocation_size(void *address) {
    for (int i = 0; i < SLOTS; i++) if (slots[i].address == address) return slots[i].size;
    return 0;
}

int cudaGetDeviceCount(int *count) { *count = 1; return 0; }
int cudaSetDevice(int device) { return device == 0 ? 0 : 101; }
int cudaGetDeviceProperties(void *properties, int device) {
    memset(properties, 0, 256);
    strcpy((char *)properties, "Fake GPU (libcudart)");
    return device == 0 ? 0 : 101;
}
int cudaMalloc(void **address, size_t size) { *address = malloc(size ? size : 1); return *address ? track(*address, size, 0) : 2; }
int cudaFree(void *address) { int status = untrack(address, 0); if (!status) free(address); return status; }
int cudaMallocHost(void **address, size_t size) { *address = malloc(size ? size : 1); return *address ? track(*address, size, 1) : 2; }
int cudaFreeHost(void *address) { int status = untrack(address, 1); if (!status) free(address); return status; }
int cudaMemcpy(void *destination, const void *source, size_t size, int kind) { (void)kind; memcpy(destination, source, size); return 0; }
int cudaMemcpyAsync(void *destination, const void *source, size_t size, int kind, void *stream) {
    (void)kind; (void)stream; memcpy(destination, source, size); return 0;
}
int cudaStreamCreate(void **stream) { *stream = malloc(1); streams++; return 0; }
int cudaStreamSynchronize(void *stream) { return stream ? 0 : 400; }
int cudaStreamDestroy(void *stream) { free(stream); streams--; return 0; }
int cudaMemGetInfo(size_t *free_bytes, size_t *total) { *free_bytes = (size_t)6 << 30; *total = (size_t)8 << 30; return 0; }
const char *cudaGetErrorString(int status) { return status == 1 ? "invalid argument" : "fake cuda error"; }

__attribute__((destructor)) static void report(void) {
    const char *path = getenv("FAKE_CUDART_REPORT");
    if (!path) return;
    int device = 0, pinned = 0;
    for (int i = 0; i < SLOTS; i++) if (slots[i].address) { if (slots[i].pinned) pinned++; else device++; }
    FILE *file = fopen(path, "a");
    if (!file) return;
    fprintf(file, "{\"device_buffers\": %d, \"pinned_buffers\": %d, \"streams\": %d}\n", device, pinned, streams);
    fclose(file);
}
