"""ARM semihosting (``BKPT 0xAB``) for bare-metal images linked with newlib's rdimon or similar:
console output, exit, clock, and inert answers for file operations.  Only what a program
needs to print and stop is implemented; everything else returns -1."""

from __future__ import annotations

SYS_OPEN, SYS_CLOSE, SYS_WRITEC, SYS_WRITE0, SYS_WRITE, SYS_READ = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
SYS_ISTTY, SYS_FLEN, SYS_CLOCK, SYS_TIME, SYS_ERRNO, SYS_GET_CMDLINE = 0x09, 0x0C, 0x10, 0x11, 0x13, 0x15
SYS_HEAPINFO, SYS_EXIT, SYS_EXIT_EXTENDED = 0x16, 0x18, 0x20
ADP_STOPPED_APPLICATION_EXIT = 0x20026


class Semihosting:
    """Executes semihosting calls against a :class:`calibration.vboard.emulator.Machine`.

    ``output`` collects what the program wrote to handles 1 and 2.  :meth:`call` returns
    ``(r0, exit_code)``; ``exit_code`` is not None when the program asked to exit.
    """

    def __init__(self) -> None:
        self.output = bytearray()

    def call(self, op: int, arg: int, read_mem, write_mem, seconds: float) -> tuple[int, int | None]:
        def word(i: int) -> int:
            return int.from_bytes(read_mem(arg + 4 * i, 4), "little")

        if op == SYS_WRITEC:
            self.output += read_mem(arg, 1)
            return 0, None
        if op == SYS_WRITE0:
            s = bytearray()
            a = arg
            while len(s) < 65536:
                ch = read_mem(a, 1)
                if ch == b"\0":
                    break
                s += ch
                a += 1
            self.output += s
            return 0, None
        if op == SYS_WRITE:
            handle, ptr, n = word(0), word(1), word(2)
            if handle in (1, 2):
                self.output += read_mem(ptr, n)
                return 0, None
            return n, None
        if op == SYS_OPEN:
            name_ptr, mode, length = word(0), word(1), word(2)
            name = read_mem(name_ptr, min(length, 64)).split(b"\0")[0]
            if name == b":tt":
                return (0 if mode < 4 else 1 if mode < 8 else 2), None
            return 0xFFFFFFFF, None
        if op in (SYS_CLOSE, SYS_ERRNO, SYS_FLEN, SYS_TIME):
            return 0, None
        if op == SYS_ISTTY:
            return 1, None
        if op == SYS_READ:
            return word(2), None                       # nothing read: all bytes remain
        if op == SYS_CLOCK:
            return int(seconds * 100) & 0xFFFFFFFF, None
        if op == SYS_HEAPINFO:
            write_mem(word(0), bytes(16))
            return 0, None
        if op == SYS_GET_CMDLINE:
            write_mem(word(0), b"\0")
            return 0, None
        if op == SYS_EXIT:
            return 0, 0 if arg == ADP_STOPPED_APPLICATION_EXIT else 1
        if op == SYS_EXIT_EXTENDED:
            reason, code = word(0), word(1)
            return 0, (code if reason == ADP_STOPPED_APPLICATION_EXIT else 1)
        return 0xFFFFFFFF, None
