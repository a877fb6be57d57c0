/*
 * The console UART's receive path and the NVIC's clear-pending registers in compiled code, for
 * the native engine: the MMIO callbacks unicorn calls for every peripheral access
 * (tmv_mmio_read, tmv_mmio_write), the WFI wake-up of the block hook (tmv_uart_wfi) and the
 * check of the event a change of the UART's interrupt line asks for (tmv_uart_deliverable).
 *
 * A request reaches the firmware one byte at a time: per byte it clears the UART's pending
 * interrupt in the NVIC (ICPR), reads the status register, sleeps in WFI until the byte is
 * there, reads the status register again and then the data register.  In Python that was some
 * eight callbacks per byte.  Here what needs no time stamp is done in C, with the rule of
 * calibration/vboard/peripherals.py (Uart._status, Uart.read, SystemControl.write) and
 * calibration/vboard/engine.py (CycleEngine.wfi, CycleEngine.event), which stay the reference:
 *
 *   status read   while no transmitted byte is in flight (tx_free_at 0; otherwise the read
 *                 stalls until the transmitter is free, which needs the access's cycle, now());
 *                 the third poll in a row delivers the next host byte if one is here, else the
 *                 read goes to Python, which waits for one;
 *   data read     (RDR; on the F4's USART the shared data register);
 *   ICPR write    while the NVIC has no pending interrupt set by software (it clears nothing);
 *   WFI           while no exception and no software interrupt is pending and no other thread
 *                 asked for an event: the core wakes at once when the UART's interrupt is
 *                 pending, or when its receive interrupt is enabled and a host byte is here
 *                 (moved into the data register);
 *   the event     a change of the UART's line asks for at the next block (Machine.irq_changed):
 *                 CycleEngine.event would take an exception only if one were deliverable; when
 *                 nothing but the UART's line can be, and it is low, not enabled in the NVIC or
 *                 masked by PRIMASK, the event changes nothing and is skipped (the block hook
 *                 asks tmv_uart_deliverable; the cycle limit and SysTick keep their next_event).
 *
 * Everything else (transmit, the other registers, other devices) goes to the Python callbacks
 * py_read / py_write.  Host bytes are moved here by the emulator thread (Python, when a read
 * finds this buffer empty), so only that thread touches them and no lock is needed.
 *
 * The state is owned by Python (ctypes, UartStruct in calibration/vboard/native.py mirrors it by
 * name, tests/vboard/test_native.py checks the size); the receive buffer is a heap array owned
 * here (tmv_uart_free releases it).  Runs on the emulator thread without the GIL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* the engine (tmv_engine.c) */
typedef struct tmv_engine tmv_engine;
int tmv_sync_mmio(tmv_engine *e);
void tmv_uart_event(tmv_engine *e);
int64_t tmv_next_event(const tmv_engine *e);

typedef int (*tmv_reg_read_fn)(void *uc, int regid, void *value);

typedef uint64_t (*tmv_py_read_fn)(uint64_t addr, uint64_t size);
typedef void (*tmv_py_write_fn)(uint64_t addr, uint64_t size, uint64_t value);

/* Uart.POLLS_BEFORE_BLOCK */
#define TMV_POLLS_BEFORE_BLOCK 3
#define TMV_ICPR_LO 0xE000E280u
#define TMV_ICPR_HI 0xE000E2A0u

typedef struct tmv_uart {
    /* layout (Uart of peripherals.py) */
    int64_t base, v2, o_cr1, o_status, o_rdr, ue_bit;
    /* state: the Uart attributes of the same names (rdr -1 for none; cr1 mirrors CR1) */
    int64_t cr1, rdr, tx_free_at, polls;
    /* the machine, kept by Python: no exception pending, no interrupt pending by software (the
     * NVIC's pending set), the UART's interrupt enabled in the NVIC */
    int64_t no_pending_exc, no_pending_irqs, irq_enabled;
    /* PRIMASK, read through uc_reg_read */
    void *uc;
    tmv_reg_read_fn reg_read;
    int64_t primask_reg;
    /* host bytes moved here, in order: rx[rx_head .. rx_head + rx_len) */
    uint8_t *rx;
    int64_t rx_head, rx_len, rx_cap;
    tmv_engine *engine;
    tmv_py_read_fn py_read;
    tmv_py_write_fn py_write;
    /* statistics: accesses served here, WFI wake-ups decided here */
    int64_t fast_accesses, fast_wfis;
} tmv_uart;

/* The user data of one mapped MMIO range. */
typedef struct tmv_mmio {
    int64_t base;
    tmv_uart *uart;
} tmv_mmio;

int64_t tmv_uart_size(void)
{
    return (int64_t)sizeof(tmv_uart);
}

int64_t tmv_mmio_size(void)
{
    return (int64_t)sizeof(tmv_mmio);
}

void tmv_uart_free(tmv_uart *u)
{
    free(u->rx);
    u->rx = NULL;
    u->rx_head = u->rx_len = u->rx_cap = 0;
}

/* Append n host bytes: 0, or -1 out of memory. */
int tmv_uart_push(tmv_uart *u, const uint8_t *data, int64_t n)
{
    if (u->rx_head && u->rx_head + u->rx_len + n > u->rx_cap) {
        memmove(u->rx, u->rx + u->rx_head, (size_t)u->rx_len);
        u->rx_head = 0;
    }
    if (u->rx_len + n > u->rx_cap) {
        int64_t cap = u->rx_cap ? u->rx_cap : 256;
        while (cap < u->rx_len + n)
            cap *= 2;
        uint8_t *nb = realloc(u->rx, (size_t)cap);
        if (!nb)
            return -1;
        u->rx = nb;
        u->rx_cap = cap;
    }
    memcpy(u->rx + u->rx_head + u->rx_len, data, (size_t)n);
    u->rx_len += n;
    return 0;
}

/* The next host byte, or -1 when there is none here. */
int64_t tmv_uart_pop(tmv_uart *u)
{
    if (!u->rx_len)
        return -1;
    int64_t b = u->rx[u->rx_head];
    u->rx_len--;
    u->rx_head = u->rx_len ? u->rx_head + 1 : 0;
    return b;
}

static inline int enabled(const tmv_uart *u, int bit)
{
    return (u->cr1 >> u->ue_bit & 1) && (u->cr1 >> bit & 1);
}

/* Machine.irq_changed: the block hook checks at the next block */
static inline void irq_changed(tmv_uart *u)
{
    tmv_uart_event(u->engine);
}

/* Uart.irq_level */
static inline int line(const tmv_uart *u)
{
    return (u->cr1 >> u->ue_bit & 1) && ((u->rdr >= 0 && (u->cr1 & 0x20)) || (u->cr1 & 0xC0));
}

/* Whether CycleEngine.event could take an exception now, when the UART's line is all that
 * changed: 0 when Machine._deliverable is certainly None, 1 when Python must look. */
int tmv_uart_deliverable(tmv_uart *u)
{
    if (!u->no_pending_exc || !u->no_pending_irqs)
        return 1;
    if (!(u->irq_enabled && line(u)))
        return 0;
    uint32_t primask = 0;
    if (u->reg_read(u->uc, (int)u->primask_reg, &primask))
        return 1;
    return !(primask & 1);
}

/* Uart._status without a byte in flight; -1: Python serves the read. */
static int64_t status_read(tmv_uart *u)
{
    if (u->tx_free_at)
        return -1;
    int rx = u->rdr < 0 && enabled(u, 2);
    if (rx && u->polls + 1 >= TMV_POLLS_BEFORE_BLOCK && !u->rx_len)
        return -1;                      /* the read waits for a host byte */
    if (tmv_sync_mmio(u->engine))
        return -1;
    if (rx) {
        u->polls++;
        if (u->polls >= TMV_POLLS_BEFORE_BLOCK) {
            u->rdr = tmv_uart_pop(u);
            irq_changed(u);
        }
    }
    int64_t v = 0xC0;                   /* TXE | TC */
    if (u->rdr >= 0)
        v |= 0x20;                      /* RXNE */
    if (u->v2)
        v |= (u->cr1 >> 3 & 1) << 21 | (u->cr1 >> 2 & 1) << 22;   /* TEACK, REACK */
    return v;
}

/* Uart.read of the data register; -1: Python serves the read. */
static int64_t data_read(tmv_uart *u)
{
    if (tmv_sync_mmio(u->engine))
        return -1;
    u->polls = 0;
    int64_t b = u->rdr;
    if (b < 0)
        return 0;
    u->rdr = -1;
    irq_changed(u);
    return b;
}

uint64_t tmv_mmio_read(void *uc, uint64_t offset, unsigned size, void *user_data)
{
    (void)uc;
    const tmv_mmio *r = user_data;
    tmv_uart *u = r->uart;
    uint64_t addr = (uint64_t)r->base + offset;
    int64_t off = (int64_t)addr - u->base;
    if (size == 4 && off >= 0 && off < 0x400) {
        int64_t v = -1;
        if (off == u->o_status)
            v = status_read(u);
        else if (off == u->o_rdr)
            v = data_read(u);
        if (v >= 0) {
            u->fast_accesses++;
            return (uint64_t)v;
        }
    }
    return u->py_read(addr, size);
}

void tmv_mmio_write(void *uc, uint64_t offset, unsigned size, uint64_t value, void *user_data)
{
    (void)uc;
    const tmv_mmio *r = user_data;
    tmv_uart *u = r->uart;
    uint64_t addr = (uint64_t)r->base + offset;
    if (addr >= TMV_ICPR_LO && addr < TMV_ICPR_HI && u->no_pending_irqs
            && !tmv_sync_mmio(u->engine)) {
        u->fast_accesses++;             /* SystemControl.write: clears nothing */
        return;
    }
    u->py_write(addr, size, value);
}

/* CycleEngine.wfi when the core wakes at once: the wake-up cycle (c), or -1 when Python decides
 * (an event is due, something else may be pending, the UART cannot wake the core, or no host
 * byte is here). */
int64_t tmv_uart_wfi(tmv_uart *u, int64_t c)
{
    if (tmv_next_event(u->engine) == 0 || !u->no_pending_exc || !u->no_pending_irqs)
        return -1;
    if (!(u->irq_enabled && line(u))) {                 /* Machine._pending_any is false */
        if (!(enabled(u, 2) && (u->cr1 & 0x20)))        /* Uart.wants_rx_interrupt */
            return -1;
        if (u->rdr < 0) {                               /* Uart.deliver(True) */
            if (!u->rx_len)
                return -1;
            u->rdr = tmv_uart_pop(u);
            irq_changed(u);
        }
    }
    u->fast_wfis++;
    return c;
}
