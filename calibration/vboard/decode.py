"""Instruction decoding for the timing models: capstone -> :class:`Insn` records.

Each instruction gets a timing *class* (the rows of the Cortex-M4 TRM table, refined where the
Cortex-M7 pairing rules need it), the core/FP registers it reads and writes, and its memory
operand.  Decoding happens once per translated block, so clarity beats speed here.
"""

from __future__ import annotations

from dataclasses import dataclass

from capstone import CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB, Cs, CsError
from capstone import arm_const as A

# --- timing classes -------------------------------------------------------------------------------
ALU = "alu"              # data processing, immediate/register operand
ALU_SHIFT = "alu_shift"  # data processing with a shifted register operand (M7: shifter)
BITFIELD = "bitfield"    # BFI, UBFX, SXTB, REV, CLZ, ... (M7: older slot only)
SIMD = "simd"            # SADD16, QADD8, SEL, USAD8, SSAT, PKHBT, ... (M7: like bitfield)
MUL = "mul"              # MUL, SMULL, SMULBB, SMUAD, SMMUL, ...
MAC = "mac"              # MLA, MLS, SMLAL, SMLAD, SMLABB, SMMLA, ... (accumulating)
DIV = "div"
LOAD = "load"            # single load (LDR/LDRB/LDRH/LDRSB/LDRSH/LDREX/LDRT)
STORE = "store"          # single store
LDRD = "ldrd"
STRD = "strd"
LDM = "ldm"              # LDM, POP
STM = "stm"              # STM, PUSH
BRANCH = "branch"        # B, BL, BX, BLX
CBZ = "cbz"
TB = "tb"                # TBB, TBH
IT = "it"
FP_ALU = "fp_alu"        # VADD, VSUB, VMUL, VNMUL, VABS, VNEG, VCMP, VCVT, VMOV s<-s/imm
FP_MAC = "fp_mac"        # VMLA, VMLS, VNMLA, VNMLS, VFMA, VFMS, VFNMA, VFNMS
FP_DIV = "fp_div"        # VDIV, VSQRT
VLDR = "vldr"
VSTR = "vstr"
VLDM = "vldm"            # VLDM, VPOP
VSTM = "vstm"            # VSTM, VPUSH
VMOV_CORE = "vmov_core"  # VMOV between core and FP registers
VMRS = "vmrs"            # VMRS, VMSR
BARRIER = "barrier"      # DMB, DSB
ISB = "isb"
MSR = "msr"
MRS = "mrs"
CPS = "cps"
NOP = "nop"              # NOP, YIELD, SEV, WFE
WFI = "wfi"
BKPT = "bkpt"
SVC = "svc"
UDF = "udf"
UNKNOWN = "unknown"      # bytes capstone cannot decode (data in the code stream, UDF)

SINGLE_LOADS = (LOAD, VLDR)
MEMORY_CLASSES = frozenset({LOAD, STORE, LDRD, STRD, LDM, STM, VLDR, VSTR, VLDM, VSTM, TB})

_BY_NAME: dict[str, str] = {}


def _add(cls: str, names: str) -> None:
    for n in names.split():
        _BY_NAME[n] = cls


_add(LOAD, "LDR LDRB LDRH LDRSB LDRSH LDRT LDRBT LDRHT LDRSBT LDRSHT LDREX LDREXB LDREXH")
_add(STORE, "STR STRB STRH STRT STRBT STRHT STREX STREXB STREXH")
_add(LDRD, "LDRD")
_add(STRD, "STRD")
_add(LDM, "LDM LDMDB LDMIA LDMDA LDMIB POP")
_add(STM, "STM STMDB STMIA STMDA STMIB PUSH")
_add(BRANCH, "B BL BX BLX")
_add(CBZ, "CBZ CBNZ")
_add(TB, "TBB TBH")
_add(IT, "IT")
_add(MUL, "MUL SMULL UMULL SMULBB SMULBT SMULTB SMULTT SMULWB SMULWT SMUAD SMUADX SMUSD "
          "SMUSDX SMMUL SMMULR")
_add(MAC, "MLA MLS SMLAL UMLAL UMAAL SMLABB SMLABT SMLATB SMLATT SMLAWB SMLAWT SMLAD SMLADX "
          "SMLSD SMLSDX SMLALD SMLALDX SMLSLD SMLSLDX SMMLA SMMLAR SMMLS SMMLSR SMLALBB SMLALBT "
          "SMLALTB SMLALTT USADA8")
_add(DIV, "SDIV UDIV")
_add(BITFIELD, "BFI BFC UBFX SBFX SXTB SXTH UXTB UXTH SXTAB SXTAH UXTAB UXTAH SXTB16 UXTB16 "
               "SXTAB16 UXTAB16 REV REV16 REVSH RBIT CLZ")
_add(SIMD, "SADD16 SADD8 SSUB16 SSUB8 UADD16 UADD8 USUB16 USUB8 QADD16 QADD8 QSUB16 QSUB8 "
           "UQADD16 UQADD8 UQSUB16 UQSUB8 SHADD16 SHADD8 SHSUB16 SHSUB8 UHADD16 UHADD8 UHSUB16 "
           "UHSUB8 SASX SSAX UASX USAX QASX QSAX SHASX SHSAX UHASX UHSAX UQASX UQSAX SEL USAD8 "
           "QADD QSUB QDADD QDSUB SSAT USAT SSAT16 USAT16 PKHBT PKHTB")
_add(FP_ALU, "VADD VSUB VMUL VNMUL VABS VNEG VCMP VCMPE VCVT VCVTR VCVTB VCVTT VCVTA VCVTN "
             "VCVTP VCVTM VRINTA VRINTN VRINTP VRINTM VRINTX VRINTZ VRINTR VSEL VMAXNM VMINNM")
_add(FP_MAC, "VMLA VMLS VNMLA VNMLS VFMA VFMS VFNMA VFNMS")
_add(FP_DIV, "VDIV VSQRT")
_add(VLDR, "VLDR")
_add(VSTR, "VSTR")
_add(VLDM, "VLDMIA VLDMDB VPOP VLDM")
_add(VSTM, "VSTMIA VSTMDB VPUSH VSTM")
_add(VMRS, "VMRS VMSR")
_add(BARRIER, "DMB DSB")
_add(ISB, "ISB")
_add(MSR, "MSR")
_add(MRS, "MRS")
_add(CPS, "CPS CPSID CPSIE")
_add(NOP, "NOP YIELD SEV WFE HINT")
_add(WFI, "WFI")
_add(BKPT, "BKPT")
_add(SVC, "SVC")
_add(UDF, "UDF")

_ID_CLASS: dict[int, str] = {}
_ID_NAME: dict[int, str] = {}
for _n in dir(A):
    if _n.startswith("ARM_INS_"):
        _ID_NAME[getattr(A, _n)] = _n[8:]
        if _n[8:] in _BY_NAME:
            _ID_CLASS[getattr(A, _n)] = _BY_NAME[_n[8:]]

# --- registers ------------------------------------------------------------------------------------
PC = 15
SP = 13
LR = 14
FLAGS = 64               # pseudo register: the APSR flags
_CORE = {f"r{i}": i for i in range(13)}
_CORE.update({"sb": 9, "sl": 10, "fp": 11, "ip": 12, "sp": 13, "lr": 14, "pc": 15})


def _reg_numbers(name: str) -> tuple[int, ...]:
    """Core registers 0..15; S registers 16+n; D registers as their two S halves (D16+ -> 80+)."""
    if name in _CORE:
        return (_CORE[name],)
    if name.startswith("s") and name[1:].isdigit():
        return (16 + int(name[1:]),)
    if name.startswith("d") and name[1:].isdigit():
        n = int(name[1:])
        return (16 + 2 * n, 17 + 2 * n) if n < 16 else (80 + n,)
    if name in ("apsr", "apsr_nzcv", "cpsr"):
        return (FLAGS,)
    return ()


@dataclass(frozen=True, slots=True)
class Mem:
    """A memory operand: ``[base, index LSL shift, #disp]`` with writeback/post-indexing.

    ``post`` is the post-index increment (immediate) or None; ``size`` the access width in bytes
    of one transfer and ``count`` the number of transfers (LDM/STM/LDRD).  ``down`` marks
    decrement-before multiple transfers (STMDB/PUSH/VPUSH).
    """

    base: int
    index: int | None
    shift: int
    disp: int
    post: int | None
    writeback: bool
    size: int
    count: int
    down: bool
    subtract_index: bool = False


@dataclass(frozen=True, slots=True)
class Insn:
    """One decoded instruction with what the timing models need."""

    address: int
    size: int
    name: str                 # capstone instruction name, upper case (LDR, SMLAD, ...)
    cls: str
    reads: frozenset[int]
    writes: frozenset[int]
    addr_reads: frozenset[int]  # registers needed early, for address generation or the shifter
    mem: Mem | None
    conditional: bool         # has a condition (inside an IT block or B<cc>)
    sets_flags: bool
    writes_pc: bool
    nregs: int                # registers transferred by LDM/STM/VLDM/VSTM (S registers)
    double: bool              # double-precision FP data processing, or VLDR.64/VSTR.64
    text: str
    add_imm: tuple[int, int] | None = None   # ADD/SUB Rd, Rd, #imm: (Rd, +-imm), for tracking
    target: int | None = None                # direct branch target (B, BL, B<cc>, CBZ/CBNZ)


_MD: Cs | None = None


def _disassembler() -> Cs:
    global _MD
    if _MD is None:
        md = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS)
        md.detail = True
        _MD = md
    return _MD


_LOAD_SIZES = {"LDRB": 1, "LDRSB": 1, "LDRBT": 1, "LDRSBT": 1, "LDREXB": 1, "STRB": 1,
               "STRBT": 1, "STREXB": 1, "LDRH": 2, "LDRSH": 2, "LDRHT": 2, "LDRSHT": 2,
               "LDREXH": 2, "STRH": 2, "STRHT": 2, "STREXH": 2}


def decode_block(code: bytes, address: int) -> list[Insn]:
    """Decode ``code`` (Thumb-2, at ``address``) into :class:`Insn` records.

    Undecodable halfwords become ``UNKNOWN`` 2-byte records so the block still adds up.
    """
    md = _disassembler()
    out: list[Insn] = []
    off = 0
    while off < len(code):
        # decode runs of instructions together so capstone keeps the IT-block context
        try:
            for ins in md.disasm(code[off:], address + off):
                out.append(_record(ins))
                off += ins.size
        except CsError:
            pass
        if off < len(code):
            out.append(Insn(address + off, 2, "UNKNOWN", UNKNOWN, frozenset(), frozenset(),
                            frozenset(), None, False, False, False, 0, False, ".short"))
            off += 2
    return out


_HINTS = {"wfi": WFI, "wfe": NOP, "sev": NOP, "yield": NOP, "nop": NOP}


def _record(ins) -> Insn:
    name = _ID_NAME.get(ins.id, ins.mnemonic.upper())
    cls = _ID_CLASS.get(ins.id, ALU)
    if name in ("HINT", "NOP", "WFI", "WFE", "SEV", "YIELD"):
        base_mn = ins.mnemonic.split(".")[0].lower()
        cls = _HINTS.get(base_mn, NOP)
        name = base_mn.upper()
    try:
        r_ids, w_ids = ins.regs_access()
    except CsError:
        r_ids, w_ids = (), ()
    reads: set[int] = set()
    writes: set[int] = set()
    for r in r_ids:
        reads.update(_reg_numbers(ins.reg_name(r)))
    for r in w_ids:
        writes.update(_reg_numbers(ins.reg_name(r)))
    ops = list(ins.operands)
    addr_reads: set[int] = set()
    mem = None
    nregs = 0
    double = False
    mn = ins.mnemonic.lower()
    if ".f64" in mn or ".f64" in ins.op_str or any(
            o.type == A.ARM_OP_REG and ins.reg_name(o.reg).startswith("d") for o in ops):
        double = cls in (FP_ALU, FP_MAC, FP_DIV, VLDR, VSTR, VMOV_CORE) or (
            cls == ALU and name == "VMOV")
    if name == "VMOV":
        kinds = {ins.reg_name(o.reg)[0] for o in ops if o.type == A.ARM_OP_REG}
        cls = VMOV_CORE if "r" in kinds or kinds & {"s", "d"} and any(
            ins.reg_name(o.reg) in _CORE for o in ops if o.type == A.ARM_OP_REG) else FP_ALU
    # data processing with a shifted register operand uses the shifter
    if cls == ALU and any(o.type == A.ARM_OP_REG and o.shift.type != 0 for o in ops):
        cls = ALU_SHIFT
        for o in ops:
            if o.type == A.ARM_OP_REG and o.shift.type != 0:
                addr_reads.update(_reg_numbers(ins.reg_name(o.reg)))
    if cls in (LDM, STM, VLDM, VSTM):
        regs = [o for o in ops if o.type == A.ARM_OP_REG]
        if name in ("POP", "PUSH", "VPOP", "VPUSH"):
            base = SP
            lst = regs
        else:
            base = _CORE.get(ins.reg_name(regs[0].reg), SP)
            lst = regs[1:]
        nregs = sum(len(_reg_numbers(ins.reg_name(o.reg))) for o in lst)
        down = name in ("PUSH", "VPUSH", "STMDB", "LDMDB", "VSTMDB", "VLDMDB", "STMDA", "LDMDA")
        wb = bool(ins.writeback) or name in ("POP", "PUSH", "VPOP", "VPUSH")
        mem = Mem(base, None, 0, 0, None, wb, 4, nregs, down)
        addr_reads.add(base)
        if name in ("PUSH", "VPUSH", "POP", "VPOP"):
            reads.add(SP)
            writes.add(SP)
    else:
        memops = [o for o in ops if o.type == A.ARM_OP_MEM]
        if memops and cls in (LOAD, STORE, LDRD, STRD, VLDR, VSTR, TB):
            m = memops[0]
            base = _CORE.get(ins.reg_name(m.mem.base), PC) if m.mem.base else PC
            index = _CORE.get(ins.reg_name(m.mem.index)) if m.mem.index else None
            shift = m.shift.value if (index is not None and m.shift.type) else 0
            post = None
            if getattr(ins, "post_index", False):
                imms = [o for o in ops if o.type == A.ARM_OP_IMM]
                if imms:
                    post = -imms[-1].imm if imms[-1].subtracted else imms[-1].imm
                else:
                    post = 0  # register post-index: unknown increment, treated as untracked
            size = 4
            count = 1
            if cls in (LOAD, STORE):
                size = _LOAD_SIZES.get(name, 4)
            elif cls in (LDRD, STRD):
                count = 2
            elif cls in (VLDR, VSTR):
                size = 8 if double else 4
            elif cls == TB:
                size = 1 if name == "TBB" else 2
            disp = m.mem.disp
            if m.subtracted and disp > 0:
                disp = -disp
            mem = Mem(base, index, shift, disp, post, bool(ins.writeback), size, count, False,
                      bool(m.subtracted and index is not None))
            addr_reads.add(base)
            if index is not None:
                addr_reads.add(index)
    writes_pc = PC in writes or cls in (BRANCH, CBZ, TB)
    if cls == LDM and PC in writes:
        writes_pc = True
    conditional = ins.cc not in (A.ARM_CC_AL, A.ARM_CC_INVALID) if hasattr(A, "ARM_CC_INVALID") \
        else ins.cc != A.ARM_CC_AL
    if cls == IT:
        conditional = False
    sets_flags = bool(ins.update_flags) or name in ("CMP", "CMN", "TST", "TEQ") or (
        cls == MSR and "apsr" in ins.op_str)
    if sets_flags:
        writes.add(FLAGS)
    if conditional or name in ("ADC", "SBC", "RRX") or cls == CBZ:
        if cls != CBZ:
            reads.add(FLAGS)
    reads.discard(PC)
    target = None
    if cls in (BRANCH, CBZ) and name in ("B", "BL", "CBZ", "CBNZ"):
        imms = [o for o in ops if o.type == A.ARM_OP_IMM]
        if imms:
            target = imms[-1].imm & 0xFFFFFFFF
    add_imm = None
    if name in ("ADD", "SUB", "ADDW", "SUBW") and not conditional:
        regs = [o for o in ops if o.type == A.ARM_OP_REG]
        imms = [o for o in ops if o.type == A.ARM_OP_IMM]
        if imms and regs and (len(regs) == 1 or (len(regs) == 2 and regs[0].reg == regs[1].reg)):
            rd = _CORE.get(ins.reg_name(regs[0].reg))
            if rd is not None and rd < 15:
                add_imm = (rd, imms[0].imm if name.startswith("ADD") else -imms[0].imm)
    return Insn(ins.address, ins.size, name, cls, frozenset(reads), frozenset(writes),
                frozenset(addr_reads), mem, conditional, sets_flags, writes_pc, nregs, double,
                f"{ins.mnemonic} {ins.op_str}".strip(), add_imm, target)
