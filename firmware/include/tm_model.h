/*
 * tm_model.h - a network linked into the image: a layer table in execution order over one
 * tensor arena, with weights in a constant blob in flash.  calibration/codegen.py generates
 * the tables (tm_model_data.c) and the blob (tm_model_blob.S, .incbin of the weights); arena
 * offsets are tinymodel.arena.plan_arena's.  Without a generated network the weak default
 * tm_model_get() returns NULL and RUN_MODEL / INFER answer NO_MODEL.
 */
#ifndef TM_MODEL_H
#define TM_MODEL_H

#include <stdint.h>

#include "tm_runner.h"

#define TM_DTYPE_F32 0u
#define TM_DTYPE_S8 1u

/* Every item of the constant blob (weights, biases, per-channel tables) starts on a multiple of
 * this many bytes from the blob's start (calibration/codegen.py lays the blob out). */
#define TM_MODEL_BLOB_ALIGN 16u

/* A model input or output: where it lives in the arena and how it is quantized. */
typedef struct {
    uint32_t dtype;       /* TM_DTYPE_* */
    uint32_t rank;
    uint32_t bytes;
    uint32_t arena_offset;
    int32_t dims[4];      /* leading dims padded with 1 */
    float scale;          /* 0 for float tensors */
    int32_t zero_point;
} tm_model_tensor;

typedef struct {
    const char *name;
    uint32_t variant;               /* tm_variant the tables were generated for */
    uint32_t n_layers;
    const tm_layer_desc *layers;
    uint32_t n_inputs;
    uint32_t n_outputs;
    const tm_model_tensor *inputs;
    const tm_model_tensor *outputs;
    const uint8_t *blob;            /* weights, biases, per-channel tables (flash) */
    uint32_t blob_bytes;
    uint8_t *arena;                 /* tensor arena (RAM), 16-byte aligned */
    uint32_t arena_bytes;
    uint64_t *layer_cycles;         /* n_layers entries (RAM): results of the last RUN_MODEL */
} tm_model;

/* The linked network, or NULL. */
const tm_model *tm_model_get(void);

/* Check every layer of the table against the arena and blob sizes.  Returns TM_RUN_OK, or an
 * error with *bad_layer set. */
tm_run_status tm_model_check(const tm_model *m, uint32_t *bad_layer);

/* Pointers of layer i. */
void tm_model_layer_ptrs(const tm_model *m, uint32_t i, tm_layer_ptrs *p);

#endif /* TM_MODEL_H */
