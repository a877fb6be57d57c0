/*
 * The virtual board's TLB fill (UC_TLB_VIRTUAL), unicorn's UC_HOOK_TLB_FILL callback: the rule
 * of calibration/vboard/emulator.py, Machine._install_tlb, which is its only user and documents
 * it.  A RAM page is read/write until the core fetches an instruction from it (from then on it
 * keeps execute permission); every other page gets all permissions (unicorn's own checks
 * decide there); a fetch from a mapped region the core cannot fetch from is refused (its page
 * kept in `denied` for the fault message).  A data fill also writes EPSR back to Thumb with no
 * IT state: unicorn restored the IT state of the accessing instruction before calling the hook,
 * and inside a translated block it must be zero.
 *
 * The state is owned by Python (ctypes, TlbStruct in calibration/vboard/native.py mirrors it by
 * name); the fetched-page list is a heap array owned here (tmv_tlb_free releases it).  Runs on
 * the emulator thread without the GIL.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define TMV_TLB_RANGES 16

typedef int (*tmv_reg_write_fn)(void *uc, int regid, const void *value);

typedef struct tmv_tlb {
    int64_t nram, nmapped, nexec;
    int64_t ram[2 * TMV_TLB_RANGES];      /* [lo, hi) pairs: RAM (every mapped region but flash) */
    int64_t mapped[2 * TMV_TLB_RANGES];   /* every mapped region */
    int64_t exec[2 * TMV_TLB_RANGES];     /* the regions the core may fetch from */
    int64_t *fetched;                     /* RAM pages the core fetched from */
    int64_t nfetched, fetched_cap;
    int64_t denied;                       /* page of the last refused fetch, -1 for none */
    int64_t fetch_type, prot_all, prot_data;  /* UC_MEM_FETCH, UC_PROT_ALL, READ | WRITE */
    int64_t epsr_reg, epsr_value;         /* UC_ARM_REG_EPSR, Thumb bit alone */
    tmv_reg_write_fn reg_write;           /* uc_reg_write */
} tmv_tlb;

typedef struct tmv_tlb_entry {
    uint64_t paddr;
    int perms;
} tmv_tlb_entry;

static bool in_ranges(const int64_t *r, int64_t n, int64_t a)
{
    for (int64_t i = 0; i < n; i++)
        if (r[2 * i] <= a && a < r[2 * i + 1])
            return true;
    return false;
}

static bool was_fetched(const tmv_tlb *t, int64_t page)
{
    for (int64_t i = 0; i < t->nfetched; i++)
        if (t->fetched[i] == page)
            return true;
    return false;
}

/* Remember a fetched RAM page; false when memory runs out (the fill is then refused). */
static bool remember(tmv_tlb *t, int64_t page)
{
    if (was_fetched(t, page))
        return true;
    if (t->nfetched == t->fetched_cap) {
        int64_t cap = t->fetched_cap ? 2 * t->fetched_cap : 16;
        int64_t *p = realloc(t->fetched, (size_t)cap * sizeof *p);
        if (p == NULL)
            return false;
        t->fetched = p;
        t->fetched_cap = cap;
    }
    t->fetched[t->nfetched++] = page;
    return true;
}

bool tmv_tlb_fill(void *uc, uint64_t vaddr, int type, tmv_tlb_entry *e, void *user_data)
{
    tmv_tlb *t = user_data;
    int64_t page = (int64_t)vaddr;
    e->paddr = vaddr;
    bool ram = in_ranges(t->ram, t->nram, page);
    if (type == t->fetch_type) {
        if (in_ranges(t->mapped, t->nmapped, page) && !in_ranges(t->exec, t->nexec, page)) {
            t->denied = page;
            return false;
        }
        if (ram && !remember(t, page)) {
            t->denied = page;
            return false;
        }
        e->perms = (int)t->prot_all;
        return true;
    }
    int32_t epsr = (int32_t)t->epsr_value;
    t->reg_write(uc, (int)t->epsr_reg, &epsr);
    e->perms = (int)((ram && !was_fetched(t, page)) ? t->prot_data : t->prot_all);
    return true;
}

void tmv_tlb_free(tmv_tlb *t)
{
    free(t->fetched);
    t->fetched = NULL;
    t->nfetched = t->fetched_cap = 0;
}

/* sizeof(tmv_tlb), checked against the Python mirror when the library is loaded. */
int64_t tmv_tlb_size(void)
{
    return (int64_t)sizeof(tmv_tlb);
}
