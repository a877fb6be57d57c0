/*
 * The virtual board's cycle model in compiled code: unicorn's UC_HOOK_BLOCK callback
 * tmv_hook_block charges every block without a Python frame.
 *
 * This is a port of the hot path of calibration/vboard/engine.py (CycleEngine.on_block and the
 * helpers it calls on every block): branch cost (Cortex-M4 refill, Cortex-M7 BTAC prediction),
 * instruction fetch (fetch caches with epochs, flash wait states, the read buffer), static
 * cost, register-based access groups (unaligned and flash-data corrections through the data
 * cache), groups with an index register, counting, and the self-loop fast path (arm, count,
 * sync, replay of flash data streams through the data cache).  Everything rare goes back to
 * Python through one callback (tmv_slow_fn): translating a new block, WFI, events (cycle
 * limit, SysTick, pending exceptions, stop requests), and arming a loop with more than
 * TMV_MAX_STREAMS flash streams.  The Python engine stays the reference; a change to its hot
 * path must be made here too.  calibration/vboard/native.py mirrors the structures below by
 * name (tests/vboard/test_native.py checks names and sizes) and tests/vboard compares both
 * engines cycle for cycle.
 *
 * Memory: the engine and cache structures are owned by Python (ctypes); the block records,
 * the address hash, the access cost tables, the fetch-stall buffer and the BTAC are growable
 * heap arrays owned here (tmv_engine_free releases them) -- host code, unlike the firmware,
 * whose no-heap rule does not apply.  No unicorn header is needed: the register read function
 * is handed in as a pointer.
 *
 * Threads: the hook runs on the emulator thread without the GIL; another thread may only
 * write next_event and fast_budget (CycleEngine.poke), see the fence in arm().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- caches (the LineCache of timing.py) ---------------------------------------------- */

typedef struct tmv_cache {
    int64_t epoch, hits, misses, mru;
    int64_t sets, ways, shift;
    int64_t *tags;      /* sets * ways line numbers, per set least recently used first */
    int64_t *fill;      /* lines present per set */
} tmv_cache;

/* Look up line; fill it on a miss (evicting the least recently used).  1 on a hit. */
int tmv_cache_access(tmv_cache *c, int64_t line)
{
    c->mru = line;
    int64_t set = line % c->sets;
    if (set < 0)
        set += c->sets;
    int64_t *s = c->tags + set * c->ways;
    int64_t n = c->fill[set];
    for (int64_t i = 0; i < n; i++) {
        if (s[i] == line) {
            if (i != n - 1) {
                memmove(s + i, s + i + 1, (size_t)(n - 1 - i) * sizeof *s);
                s[n - 1] = line;
            }
            c->hits++;
            return 1;
        }
    }
    if (n >= c->ways) {
        memmove(s, s + 1, (size_t)(n - 1) * sizeof *s);
        n--;
    }
    s[n] = line;
    c->fill[set] = n + 1;
    c->epoch++;
    c->misses++;
    return 0;
}

void tmv_cache_flush(tmv_cache *c)
{
    memset(c->fill, 0, (size_t)c->sets * sizeof *c->fill);
    c->epoch++;
    c->mru = -1;
}

/* ---- block records (the B_* lists of engine.py) --------------------------------------- */

typedef struct tmv_group {
    int64_t base, index, shift, lo, hi, loads, stride, table;
    int64_t unal[4];
} tmv_group;

enum { TMV_BR_OTHER = 0, TMV_BR_DIRECT = 1, TMV_BR_COND = 2, TMV_BR_INDIRECT = 3 };

typedef struct tmv_block {
    int64_t addr, size, fall, static_cycles, taken, entry, wfi, count, ninsn;
    int64_t has_flines, fepoch, fill, nflines;
    int64_t *flines;    /* nflines x (line, chunks, line address) */
    tmv_cache *fcache;
    int64_t ndyn, ndyn2;
    tmv_group *dyn, *dyn2;
    int64_t loopx, loopx_valid, loopok, fast;
    int64_t br_has, br_pc, br_kind, br_backward, br_penalty;
} tmv_block;

/* Status of the functions that can fail. */
enum { TMV_OK = 0, TMV_NO_MEMORY = -1 };

/* Kinds of the Python callback. */
enum { TMV_SLOW_TRANSLATE = 1, TMV_SLOW_SYNC = 2, TMV_SLOW_WFI = 3, TMV_SLOW_EVENT = 4,
       TMV_SLOW_ARM = 5 };

typedef int64_t (*tmv_slow_fn)(int64_t kind, int64_t a, int64_t b, int64_t c);
typedef int (*tmv_reg_read_fn)(void *uc, int regid, void *value);

#define TMV_FAST_OFF (-1)
#define TMV_MAX_STREAMS 16
#define TMV_NO_MARK INT64_MIN
#define TMV_TABLE 128

/* An open-addressed map from non-negative keys to `width` values per key (linear probing, at most
 * half full): the block index (address -> record id, width 1) and the Cortex-M7 BTAC (branch
 * pc -> 2-bit counter, target; width 2). */
typedef struct tmv_map {
    int64_t *keys;      /* cap slots, -1 when empty */
    int64_t *vals;      /* cap x width values */
    int64_t width, cap, used;
} tmv_map;

typedef struct tmv_engine {
    /* the cycle state (attributes of CycleEngine of the same names; prev and fast_b are ids) */
    int64_t cycles, entry, prev, next_event, unaligned_cycles, mispredicts;
    int64_t fast_addr, fast_size, fast_n, fast_budget, fast_d, fast_tail, fast_extra, fast_b;
    int64_t fast_total, fast_stream;
    /* flash data streams of the armed loop replayed in C: (lo, hi, stride) at iteration 0 */
    int64_t fast_nstreams;
    int64_t stream_lo[TMV_MAX_STREAMS], stream_hi[TMV_MAX_STREAMS], stream_s[TMV_MAX_STREAMS];
    /* instruction fetch: the flash line fetched last without a fetch cache, and the stalls
     * of the last block that had a fetch check (fetch_mark: TMV_NO_MARK for none) */
    int64_t last_fetch_line, fetch_mark, nstalls;
    int64_t *stall_addr, *stall_k;
    int64_t stall_cap;
    /* configuration */
    int64_t m7, flash_mask, data_miss, fetch_ws, prefetch;
    tmv_cache *dcache;
    uint32_t *regs;             /* unicorn's R0..R15, or NULL: read through reg_read */
    void *uc;
    tmv_reg_read_fn reg_read;
    int64_t reg_ids[16];
    tmv_slow_fn slow;
    /* statistics of the engine itself */
    int64_t slow_calls;
    /* owned arrays */
    tmv_block *blocks;
    int64_t nblocks, cap_blocks;
    tmv_map index;      /* block address -> record id */
    int64_t *tables;
    int64_t ntables, cap_tables;
    tmv_map btac;       /* branch pc -> (2-bit counter, target) */
    struct tmv_uart *uart;  /* the UART's receive path in C (tmv_uart.c), or NULL */
    int64_t uart_event;     /* the UART's interrupt line changed (tmv_uart_event) */
} tmv_engine;

/* tmv_uart.c */
int64_t tmv_uart_wfi(struct tmv_uart *u, int64_t c);
int tmv_uart_deliverable(struct tmv_uart *u);

static inline int64_t reg(tmv_engine *e, int64_t i)
{
    if (e->regs)
        return (int64_t)e->regs[i];
    uint32_t v = 0;
    e->reg_read(e->uc, (int)e->reg_ids[i], &v);
    return (int64_t)v;
}

static inline int is_flash(const tmv_engine *e, int64_t bucket)
{
    return bucket >= 0 && bucket < 32 && (e->flash_mask >> bucket & 1);
}

/* ---- the maps (tmv_map): the block index and the BTAC ---------------------------------- */

static inline uint64_t mix(uint64_t k)
{
    k *= 0x9E3779B97F4A7C15ull;
    return k ^ (k >> 29);
}

/* Slot of key, or -1. */
static inline int64_t map_find(const tmv_map *m, int64_t key)
{
    if (!m->cap)
        return -1;
    uint64_t mask = (uint64_t)m->cap - 1;
    for (uint64_t i = mix((uint64_t)key) & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == key)
            return (int64_t)i;
        if (m->keys[i] < 0)
            return -1;
    }
}

static int map_grow(tmv_map *m, int64_t initial);

/* Set key's values to v[0 .. width-1] (a new key grows the map when needed). */
static int map_put(tmv_map *m, int64_t key, const int64_t *v)
{
    if (2 * (m->used + 1) > m->cap && map_grow(m, 1024))
        return TMV_NO_MEMORY;
    uint64_t mask = (uint64_t)m->cap - 1;
    for (uint64_t i = mix((uint64_t)key) & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == key || m->keys[i] < 0) {
            if (m->keys[i] < 0)
                m->used++;
            m->keys[i] = key;
            memcpy(m->vals + (int64_t)i * m->width, v, (size_t)m->width * sizeof *v);
            return TMV_OK;
        }
    }
}

/* Double the capacity (an empty map gets `initial` slots) and put every entry again. */
static int map_grow(tmv_map *m, int64_t initial)
{
    tmv_map old = *m;
    int64_t cap = old.cap ? old.cap * 2 : initial;
    int64_t *keys = malloc((size_t)cap * sizeof *keys);
    int64_t *vals = malloc((size_t)(cap * old.width) * sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return TMV_NO_MEMORY;
    }
    for (int64_t i = 0; i < cap; i++)
        keys[i] = -1;
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    m->used = 0;
    for (int64_t i = 0; i < old.cap; i++)
        if (old.keys[i] >= 0)
            map_put(m, old.keys[i], old.vals + i * old.width);
    free(old.keys);
    free(old.vals);
    return TMV_OK;
}

static void map_clear(tmv_map *m)
{
    for (int64_t i = 0; i < m->cap; i++)
        m->keys[i] = -1;
    m->used = 0;
}

static void map_free(tmv_map *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = m->vals = NULL;
    m->cap = m->used = 0;
}

/* The BTAC entry's counter and target (slot i of e->btac). */
#define BTAC_CNT(e, i) ((e)->btac.vals[2 * (i)])
#define BTAC_TGT(e, i) ((e)->btac.vals[2 * (i) + 1])

/* Slot of pc's entry, or -1. */
int64_t tmv_btac_find(const tmv_engine *e, int64_t pc)
{
    return map_find(&e->btac, pc);
}

int tmv_btac_set(tmv_engine *e, int64_t pc, int64_t cnt, int64_t tgt)
{
    int64_t v[2] = {cnt, tgt};
    return map_put(&e->btac, pc, v);
}

void tmv_btac_clear(tmv_engine *e)
{
    map_clear(&e->btac);
}

/* Entry field k (0 counter, 1 target) of slot i; tmv_btac_put_field writes it. */
int64_t tmv_btac_field(const tmv_engine *e, int64_t i, int64_t k)
{
    return e->btac.vals[2 * i + (k ? 1 : 0)];
}

void tmv_btac_put_field(tmv_engine *e, int64_t i, int64_t k, int64_t v)
{
    e->btac.vals[2 * i + (k ? 1 : 0)] = v;
}

int64_t tmv_btac_len(const tmv_engine *e)
{
    return e->btac.used;
}

/* CycleEngine.predict: the misprediction penalty or 0; updates the entry.  -1: out of memory. */
static int64_t predict(tmv_engine *e, const tmv_block *p, int64_t addr, int taken)
{
    int64_t i = tmv_btac_find(e, p->br_pc);
    int ok;
    if (i < 0) {
        int kind = (int)p->br_kind;
        int pred = kind == TMV_BR_DIRECT || (kind == TMV_BR_COND && p->br_backward);
        ok = (pred == taken && kind != TMV_BR_INDIRECT) || (kind == TMV_BR_INDIRECT && !taken);
        if (tmv_btac_set(e, p->br_pc, taken ? 2 : 1, addr))
            return TMV_NO_MEMORY;
    } else {
        int pred = BTAC_CNT(e, i) >= 2;
        ok = pred == taken && (!taken || BTAC_TGT(e, i) == addr);
        if (taken) {
            if (BTAC_CNT(e, i) < 3)
                BTAC_CNT(e, i)++;
            BTAC_TGT(e, i) = addr;
        } else if (BTAC_CNT(e, i) > 0) {
            BTAC_CNT(e, i)--;
        }
    }
    if (ok)
        return 0;
    e->mispredicts++;
    return p->br_penalty;
}

/* ---- the engine's life ------------------------------------------------------------------ */

static int blocks_reserve(tmv_engine *e)
{
    if (e->nblocks < e->cap_blocks)
        return TMV_OK;
    int64_t ncap = e->cap_blocks ? e->cap_blocks * 2 : 1024;
    tmv_block *nb = realloc(e->blocks, (size_t)ncap * sizeof *nb);
    if (!nb)
        return TMV_NO_MEMORY;
    e->blocks = nb;
    e->cap_blocks = ncap;
    return TMV_OK;
}

/* Set up the owned arrays (block 0 is the pseudo block, tmv_set_pseudo): TMV_OK or
 * TMV_NO_MEMORY. */
int tmv_engine_init(tmv_engine *e)
{
    if (blocks_reserve(e))
        return TMV_NO_MEMORY;
    memset(&e->blocks[0], 0, sizeof e->blocks[0]);
    e->nblocks = 1;
    e->prev = 0;
    e->fast_b = -1;
    e->last_fetch_line = -1;
    e->fetch_mark = TMV_NO_MARK;
    e->index.width = 1;
    e->btac.width = 2;
    return map_grow(&e->index, 4096);
}

void tmv_engine_free(tmv_engine *e)
{
    for (int64_t i = 0; i < e->nblocks; i++) {
        free(e->blocks[i].dyn);
        free(e->blocks[i].dyn2);
        free(e->blocks[i].flines);
    }
    free(e->blocks);
    free(e->stall_addr);
    free(e->stall_k);
    e->stall_addr = e->stall_k = NULL;
    e->stall_cap = 0;
    map_free(&e->index);
    map_free(&e->btac);
    free(e->tables);
    e->blocks = NULL;
    e->tables = NULL;
    e->nblocks = e->cap_blocks = e->ntables = e->cap_tables = 0;
}

/* Register a 128-entry access cost table (CycleEngine.group_table); its id or -1. */
int64_t tmv_table_add(tmv_engine *e, const int64_t *t)
{
    if (e->ntables == e->cap_tables) {
        int64_t ncap = e->cap_tables ? e->cap_tables * 2 : 16;
        int64_t *nt = realloc(e->tables, (size_t)(ncap * TMV_TABLE) * sizeof *nt);
        if (!nt)
            return TMV_NO_MEMORY;
        e->tables = nt;
        e->cap_tables = ncap;
    }
    memcpy(e->tables + e->ntables * TMV_TABLE, t, TMV_TABLE * sizeof *t);
    return e->ntables++;
}

/* Register the record of a translated block (header h, groups g1 / g2 in the layouts above)
 * and make it the one at its address.  Returns its id, or -1 when out of memory. */
/* Room for n fetch stalls. */
int tmv_stalls_reserve(tmv_engine *e, int64_t n)
{
    if (n <= e->stall_cap)
        return TMV_OK;
    int64_t *a = realloc(e->stall_addr, (size_t)n * sizeof *a);
    if (!a)
        return TMV_NO_MEMORY;
    e->stall_addr = a;
    int64_t *k = realloc(e->stall_k, (size_t)n * sizeof *k);
    if (!k)
        return TMV_NO_MEMORY;
    e->stall_k = k;
    e->stall_cap = n;
    return TMV_OK;
}

/* Copy of n items of sz bytes (NULL for none); *fail set when out of memory. */
static void *copy_of(const void *src, int64_t n, size_t sz, int *fail)
{
    if (n <= 0)
        return NULL;
    void *p = malloc((size_t)n * sz);
    if (!p)
        *fail = 1;
    else
        memcpy(p, src, (size_t)n * sz);
    return p;
}

/* Register the record of a translated block and make it the one at its address: spec's
 * static fields (ndyn, ndyn2 and nflines give the lengths of dyn, dyn2 and flines, which are
 * copied; its pointers and dynamic fields are ignored), fetched through fcache (or NULL).
 * Returns the record's id, or TMV_NO_MEMORY. */
int64_t tmv_block_add(tmv_engine *e, const tmv_block *spec, const tmv_group *dyn,
                      const tmv_group *dyn2, const int64_t *flines, tmv_cache *fcache)
{
    if (blocks_reserve(e) || tmv_stalls_reserve(e, spec->nflines))
        return TMV_NO_MEMORY;
    tmv_block *b = &e->blocks[e->nblocks];
    *b = *spec;
    b->count = 0;
    b->fepoch = -1;
    b->loopx = 0;
    b->loopx_valid = 0;
    b->fcache = fcache;
    int fail = 0;
    b->flines = copy_of(flines, spec->nflines, 3 * sizeof *flines, &fail);
    b->dyn = copy_of(dyn, spec->ndyn, sizeof *dyn, &fail);
    b->dyn2 = copy_of(dyn2, spec->ndyn2, sizeof *dyn2, &fail);
    if (fail || map_put(&e->index, b->addr, &e->nblocks)) {
        free(b->flines);
        free(b->dyn);
        free(b->dyn2);
        return TMV_NO_MEMORY;
    }
    return e->nblocks++;
}

/* sizeof of the structures Python mirrors (native.py): cache, group, block, engine, map. */
void tmv_struct_sizes(int64_t out[5])
{
    out[0] = (int64_t)sizeof(tmv_cache);
    out[1] = (int64_t)sizeof(tmv_group);
    out[2] = (int64_t)sizeof(tmv_block);
    out[3] = (int64_t)sizeof(tmv_engine);
    out[4] = (int64_t)sizeof(tmv_map);
}

/* Forget which record is at which address (CycleEngine.invalidate_blocks); the records stay. */
void tmv_blocks_clear(tmv_engine *e)
{
    map_clear(&e->index);
}

/* The pseudo block (pseudo_block in engine.py): entering fall costs no branch penalty. */
void tmv_set_pseudo(tmv_engine *e, int64_t fall)
{
    tmv_block *b = &e->blocks[0];
    memset(b, 0, sizeof *b);
    b->addr = fall;
    b->fall = fall;
    b->fepoch = 0;
    e->prev = 0;
}

int64_t tmv_block_count(const tmv_engine *e, int64_t id)
{
    return e->blocks[id].count;
}

int64_t tmv_block_loopx(const tmv_engine *e, int64_t id)
{
    return e->blocks[id].loopx_valid ? e->blocks[id].loopx : INT64_MIN;
}

int64_t tmv_block_fepoch(const tmv_engine *e, int64_t id)
{
    return e->blocks[id].fepoch;
}

/* ---- instruction fetch ------------------------------------------------------------------ */

/* CycleEngine.fetch_slow: the instruction-fetch stalls of block b (cache lookups, wait
 * states), remembered per line for CycleEngine.now. */
static int64_t fetch_slow(tmv_engine *e, tmv_block *b, int sequential, int64_t c)
{
    tmv_cache *cache = b->fcache;
    int64_t ws = e->fetch_ws, cost = 0, nst = 0;
    int first = 1;
    for (int64_t i = 0; i < b->nflines; i++) {
        int64_t line = b->flines[3 * i], chunks = b->flines[3 * i + 1];
        if (cache) {
            if (tmv_cache_access(cache, line)) {
                first = 0;
                continue;
            }
        } else if (line == e->last_fetch_line) {
            first = 0;
            continue;
        }
        int64_t k;
        if (b->fill)
            k = ws * (chunks > 1 ? chunks : 1);
        else if (e->prefetch)
            k = (first && !sequential) ? ws : 0;
        else
            k = ws * chunks;
        if (k) {
            cost += k;
            e->stall_addr[nst] = b->flines[3 * i + 2];
            e->stall_k[nst] = k;
            nst++;
        }
        e->last_fetch_line = line;
        first = 0;
    }
    if (cache)
        b->fepoch = cache->epoch;
    c += cost;
    e->fetch_mark = c;
    e->nstalls = nst;
    return c;
}

/* ---- dynamic corrections ---------------------------------------------------------------- */

/* CycleEngine.data_slow */
static int64_t data_slow(tmv_engine *e, int64_t lo, int64_t hi, int64_t nloads)
{
    tmv_cache *dc = e->dcache;
    if (!dc)
        return e->data_miss * nloads;
    int64_t cost = 0, sh = dc->shift;
    for (int64_t line = lo >> sh; line <= hi >> sh; line++)
        if (!tmv_cache_access(dc, line))
            cost += e->data_miss;
    return cost;
}

static inline int64_t table_cost(const tmv_engine *e, const tmv_group *g, int64_t v)
{
    return e->tables[g->table * TMV_TABLE + ((v >> 25 & 0x7C) | (v & 3))];
}

/* CycleEngine.groups_cost */
static int64_t groups_cost(tmv_engine *e, tmv_block *b, int64_t c)
{
    int64_t extra = 0;
    int flash_seen = 0;
    for (int64_t i = 0; i < b->ndyn; i++) {
        const tmv_group *g = &b->dyn[i];
        int64_t v = reg(e, g->base);
        int64_t x = table_cost(e, g, v);
        if (!x)
            continue;
        if (x > 0) {
            extra += x;
            continue;
        }
        extra -= x + 1;
        flash_seen = 1;
        int64_t lo = v + g->lo;
        tmv_cache *dc = e->dcache;
        if (dc) {
            int64_t sh = dc->shift, line = lo >> sh;
            if (line == dc->mru && line == (v + g->hi) >> sh) {
                dc->hits++;
                continue;
            }
        }
        c += data_slow(e, lo, v + g->hi, g->loads);
    }
    e->unaligned_cycles += extra;
    if (flash_seen || !b->loopok) {
        b->loopx_valid = 0;
    } else {
        b->loopx_valid = 1;
        b->loopx = extra;
    }
    return c + extra;
}

/* CycleEngine.dyn_slow */
static int64_t dyn_slow(tmv_engine *e, const tmv_block *b, int64_t c)
{
    for (int64_t i = 0; i < b->ndyn2; i++) {
        const tmv_group *g = &b->dyn2[i];
        int64_t v = g->base >= 0 ? reg(e, g->base) : 0;
        if (g->index >= 0)
            v = (v + (reg(e, g->index) << g->shift)) & 0xFFFFFFFF;
        int64_t x = g->unal[v & 3];
        if (x) {
            c += x;
            e->unaligned_cycles += x;
        }
        if (g->loads && is_flash(e, (v + g->lo) >> 27))
            c += data_slow(e, v + g->lo, v + g->hi, g->loads);
    }
    return c;
}

/* ---- the self-loop fast path ------------------------------------------------------------ */

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* CycleEngine.stream_replay: the data-cache operations of n fast iterations over the armed
 * loop's flash streams; *total gets the miss cycles of all of them, *last of the last one. */
static void stream_replay(tmv_engine *e, int64_t n, int64_t *total, int64_t *last)
{
    tmv_cache *dc = e->dcache;
    int64_t sh = dc->shift, miss = e->data_miss, ns = e->fast_nstreams;
    int64_t j = 1;
    *total = 0;
    *last = 0;
    if (ns == 1) {
        int64_t lo0 = e->stream_lo[0], hi0 = e->stream_hi[0], s = e->stream_s[0];
        while (j <= n) {
            int64_t lo = lo0 + j * s, hi = hi0 + j * s, line = lo >> sh;
            if (line == dc->mru && line == hi >> sh) {
                int64_t r;
                if (s > 0)
                    r = (((line + 1) << sh) - 1 - hi) / s + 1;
                else if (s < 0)
                    r = (lo - (line << sh)) / -s + 1;
                else
                    r = n;
                r = min64(r, n - j + 1);
                dc->hits += r;
                j += r;
                *last = 0;
            } else {
                *last = 0;
                for (int64_t ln = line; ln <= hi >> sh; ln++)
                    if (!tmv_cache_access(dc, ln))
                        *last += miss;
                *total += *last;
                j++;
            }
        }
        return;
    }
    while (j <= n) {
        int64_t end = n;
        for (int64_t k = 0; k < ns; k++) {
            int64_t s = e->stream_s[k];
            if (!s)
                continue;
            int64_t lo = e->stream_lo[k] + j * s, hi = e->stream_hi[k] + j * s, room;
            if (s > 0)
                room = min64((((lo >> sh) + 1) << sh) - 1 - lo,
                             (((hi >> sh) + 1) << sh) - 1 - hi) / s;
            else
                room = min64(lo - (lo >> sh << sh), hi - (hi >> sh << sh)) / -s;
            end = min64(end, j + room);
        }
        while (j <= end) {
            int64_t m0 = dc->mru, h0 = dc->hits, misses = dc->misses, cost = 0;
            for (int64_t k = 0; k < ns; k++) {
                int64_t s = e->stream_s[k];
                int64_t lo = e->stream_lo[k] + j * s, hi = e->stream_hi[k] + j * s;
                int64_t line = lo >> sh;
                if (line == dc->mru && line == hi >> sh) {
                    dc->hits++;
                } else {
                    for (int64_t ln = line; ln <= hi >> sh; ln++)
                        if (!tmv_cache_access(dc, ln))
                            cost += miss;
                }
            }
            *total += cost;
            *last = cost;
            j++;
            if (dc->misses == misses && dc->mru == m0) {
                int64_t r = end - j + 1;
                if (r > 0) {
                    dc->hits += r * (dc->hits - h0);
                    j = end + 1;
                    *last = 0;
                }
                break;
            }
        }
    }
}

/* CycleEngine.sync (flash data streams armed by Python are replayed in Python). */
void tmv_sync(tmv_engine *e)
{
    int64_t n = e->fast_n;
    e->fast_addr = TMV_FAST_OFF;
    e->fast_budget = 0;
    if (n) {
        e->fast_n = 0;
        e->fast_total += n;
        int64_t c = e->cycles + n * e->fast_d, last = 0;
        if (e->fast_nstreams) {
            int64_t more;
            stream_replay(e, n, &more, &last);
            c += more;
        }
        e->cycles = c;
        e->entry = c - e->fast_tail - last;
        e->blocks[e->fast_b].count += n;
        if (e->fast_extra)
            e->unaligned_cycles += n * e->fast_extra;
    }
}

/* The sync before an MMIO access served in C (NativeEngine.sync): 0 when done, 1 when Python
 * must do it (an armed loop over flash data streams the Python engine replays). */
int tmv_sync_mmio(tmv_engine *e)
{
    if (e->fast_addr == TMV_FAST_OFF)
        return 0;
    if (e->fast_stream)
        return 1;
    tmv_sync(e);
    return 0;
}

/* The UART's interrupt line changed (Machine.irq_changed from C): the block hook looks at the
 * next block, before the fast path can be armed again. */
void tmv_uart_event(tmv_engine *e)
{
    e->uart_event = 1;
}

int64_t tmv_next_event(const tmv_engine *e)
{
    return e->next_event;
}

/* CycleEngine.arm (more than TMV_MAX_STREAMS flash streams: armed by Python). */
static void arm(tmv_engine *e, int64_t id, int64_t c)
{
    tmv_block *b = &e->blocks[id];
    if (b->has_flines && (!b->fcache || b->fepoch != b->fcache->epoch))
        return;
    int64_t t = 0;
    if (e->m7) {
        if (b->br_has) {
            int64_t i = tmv_btac_find(e, b->br_pc);
            if (i < 0 || BTAC_CNT(e, i) != 3 || BTAC_TGT(e, i) != b->addr)
                return;
        }
    } else {
        t = b->taken + b->entry;
    }
    int64_t budget = (int64_t)1 << 62, tail = b->static_cycles, extra = 0, worst = 0, ns = 0;
    if (b->ndyn) {
        if (b->loopx_valid) {
            extra = b->loopx;
        } else {
            for (int64_t i = 0; i < b->ndyn; i++) {
                const tmv_group *g = &b->dyn[i];
                int64_t v = reg(e, g->base);
                int64_t x = table_cost(e, g, v);
                int64_t rlo = v >> 27 << 27, s = g->stride, k;
                if (s > 0)
                    k = (rlo + 0x7FFFFFF - v) / s;
                else if (s < 0)
                    k = (v - rlo) / -s;
                else
                    k = budget;
                if (k < budget)
                    budget = k;
                if (x >= 0) {
                    extra += x;
                    continue;
                }
                extra -= x + 1;
                if (!e->dcache) {
                    tail += e->data_miss * g->loads;
                    continue;
                }
                /* one cache serves the fetches and the flash data (U5 ICACHE): not armed,
                 * as in CycleEngine.arm */
                if (e->dcache == b->fcache)
                    return;
                if (ns == TMV_MAX_STREAMS) {
                    e->slow_calls++;
                    e->slow(TMV_SLOW_ARM, id, c, 0);
                    return;
                }
                e->stream_lo[ns] = v + g->lo;
                e->stream_hi[ns] = v + g->hi;
                e->stream_s[ns] = s;
                ns++;
                worst += e->data_miss * (((g->hi - g->lo) >> e->dcache->shift) + 2);
            }
        }
        tail += extra;
    }
    int64_t d = t + tail;
    int64_t ev = e->next_event - c - t;
    if (ev <= 0)
        return;
    if (d + worst <= 0) {
        e->slow_calls++;
        e->slow(TMV_SLOW_ARM, id, c, 0);
        return;
    }
    int64_t k = (ev - 1) / (d + worst) + 1;
    if (k < budget)
        budget = k;
    if (budget <= 0)
        return;
    e->fast_b = id;
    e->fast_size = b->size;
    e->fast_n = 0;
    e->fast_d = d;
    e->fast_tail = tail;
    e->fast_extra = extra;
    e->fast_stream = 0;
    e->fast_nstreams = ns;
    e->fast_budget = budget;
    e->fast_addr = b->addr;
    /* poked by another thread meanwhile (CycleEngine.poke writes next_event, then
     * fast_budget): the fence orders the stores above before the load below, so either this
     * load sees the poke or the poke's fast_budget = 0 lands after ours */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (*(volatile int64_t *)&e->next_event <= c)
        e->fast_budget = 0;
}

/* ---- the block hook: CycleEngine.on_block ----------------------------------------------- */

void tmv_hook_block(void *uc, uint64_t address, uint32_t size, void *user_data)
{
    (void)uc;
    tmv_engine *e = user_data;
    int64_t addr = (int64_t)address;
    if (addr == e->fast_addr && e->fast_n < e->fast_budget && (int64_t)size == e->fast_size) {
        e->fast_n++;
        return;
    }
    if (e->fast_addr != TMV_FAST_OFF) {
        if (e->fast_stream) {
            e->slow_calls++;
            if (e->slow(TMV_SLOW_SYNC, 0, 0, 0) < 0)
                return;
        } else {
            tmv_sync(e);
        }
    }
    int64_t slot = map_find(&e->index, addr);
    int64_t id = slot < 0 ? -1 : e->index.vals[slot];
    if (id < 0 || e->blocks[id].size != (int64_t)size) {
        e->slow_calls++;
        id = e->slow(TMV_SLOW_TRANSLATE, addr, size, 0);
        if (id < 0)
            return;
    }
    tmv_block *b = &e->blocks[id];
    tmv_block *p = &e->blocks[e->prev];
    int64_t c = e->cycles;
    int sequential = addr == p->fall;
    if (e->m7) {
        if (p->br_has) {
            int64_t i = tmv_btac_find(e, p->br_pc);
            int64_t k = 0;
            if (!sequential) {
                if (i < 0 || BTAC_CNT(e, i) != 3 || BTAC_TGT(e, i) != addr)
                    k = predict(e, p, addr, 1);
            } else if (i < 0 || BTAC_CNT(e, i) != 0) {
                k = predict(e, p, addr, 0);
            }
            if (k < 0)
                return;
            c += k;
        }
    } else if (!sequential) {
        c += p->taken + b->entry;
    }
    if (p->wfi) {
        int64_t w = e->uart ? tmv_uart_wfi(e->uart, c) : -1;
        if (w >= 0) {
            c = w;
        } else {
            e->slow_calls++;
            c = e->slow(TMV_SLOW_WFI, addr, c, 0);
            if (c < 0)
                return;
            b = &e->blocks[id];
        }
    }
    if (b->has_flines && (!b->fcache || b->fepoch != b->fcache->epoch))
        c = fetch_slow(e, b, sequential, c);
    int event = c >= e->next_event || (e->uart_event && tmv_uart_deliverable(e->uart));
    e->uart_event = 0;
    if (event) {
        e->slow_calls++;
        if (e->slow(TMV_SLOW_EVENT, addr, c, 0))
            return;
        b = &e->blocks[id];
    }
    e->entry = c;
    c += b->static_cycles;
    if (b->ndyn) {
        if (e->prev == id && b->loopx_valid) {
            c += b->loopx;
            e->unaligned_cycles += b->loopx;
        } else {
            c = groups_cost(e, b, c);
        }
    }
    if (b->ndyn2)
        c = dyn_slow(e, b, c);
    e->cycles = c;
    b->count++;
    e->prev = id;
    if (b->fast)
        arm(e, id, c);
}
