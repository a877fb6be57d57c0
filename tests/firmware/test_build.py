"""The benchmark firmware builds for all 4 boards x 4 variants; each size report is printed.

Builds run in parallel (three makes at a time, each with -j2) into the session's cache
(``calibration.firmware.image_cache_dir(<cfg>)``); the size reports are also written to
build/size-reports.txt.  Skipped without arm-none-eabi-gcc.  With the virtual board
(calibration.vboard) present, one image per board is also driven end to end over its serial URL.
"""

from __future__ import annotations

import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from calibration.firmware import VARIANTS, build_image, toolchain_available
from tests.conftest import REPO
from tinymodel.boards import load_board

pytestmark = pytest.mark.skipif(not toolchain_available(), reason="arm-none-eabi-gcc not installed")

BOARDS = ("L4", "F4", "F7", "U5")
CONFIGS = [(b, v) for b in BOARDS for v in VARIANTS]
#: -mcpu and -mfpu of each board (oracle: the boards' data sheets, not the board files)
CPU_FPU = {"L4": ("cortex-m4", "fpv4-sp-d16"), "F4": ("cortex-m4", "fpv4-sp-d16"),
           "F7": ("cortex-m7", "fpv5-d16"), "U5": ("cortex-m33", "fpv5-sp-d16")}
#: Boards the virtual board cannot run (none).
NO_VBOARD: dict[str, str] = {}
#: Boards without shipped latency tables (none).
NO_TABLES: dict[str, str] = {}


@pytest.fixture(scope="module")
def images():
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {cfg: pool.submit(build_image, cfg[0], cfg[1], "-O2", jobs=2) for cfg in CONFIGS}
        built = {cfg: f.result() for cfg, f in futures.items()}
    report = "\n\n".join(f"== {b} {v} -O2\n{built[(b, v)].size.text()}" for b, v in CONFIGS)
    (REPO / "build").mkdir(exist_ok=True)
    (REPO / "build" / "size-reports.txt").write_text(report + "\n")
    print("\n" + report)
    return built


def _words(elf: Path, symbol_section: str = ".isr_vector", count: int = 2) -> tuple[int, ...]:
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as fh:
        sec = ELFFile(fh).get_section_by_name(symbol_section)
        return struct.unpack_from(f"<{count}I", sec.data())


@pytest.mark.parametrize("board,variant", CONFIGS)
def test_image_builds_with_map_and_size_report(images, board, variant, record_property):
    img = images[(board, variant)]
    b = load_board(board)
    assert img.elf.exists() and img.map.exists() and img.bin.exists()
    assert (img.build_dir / "size.txt").read_text().startswith(f"board {board}")
    size = img.size
    record_property("size_report", f"{board} {variant} -O2\n{size.text()}")
    assert size.flash_bytes == b.flash_bytes
    assert 0 < size.flash_used_bytes < size.flash_bytes
    assert size.weight_region_bytes == 256 * 1024
    assert size.arena_bytes > 100 * 1024
    # vector table: initial SP at the top of RAM, reset handler in flash, Thumb bit set
    sp, reset = _words(img.elf)
    assert sp == 0x2000_0000 + size.ram_bytes
    assert reset & 1 and 0x0800_0000 <= reset < 0x0800_0000 + b.flash_bytes


def test_memory_maps_follow_the_board_files(images):
    # F7: DTCM + SRAM1 + SRAM2 contiguous from 0x2000_0000 (512 KiB); F4: SRAM1-3 (320 KiB);
    # L4: SRAM1 (256 KiB); U5: SRAM1-3 contiguous from 0x2000_0000 (768 KiB)
    assert images[("F7", "s8-opt")].size.ram_bytes == 512 * 1024
    assert images[("F4", "s8-opt")].size.ram_bytes == 320 * 1024
    assert images[("L4", "s8-opt")].size.ram_bytes == 256 * 1024
    assert images[("U5", "s8-opt")].size.ram_bytes == 768 * 1024
    ld = (images[("F7", "f32")].build_dir / "gen" / "tm_memory.ld").read_text()
    assert "ORIGIN = 0x08000000, LENGTH = 2097152" in ld and "ITCM_RAM" in ld
    ld = (images[("U5", "f32")].build_dir / "gen" / "tm_memory.ld").read_text()
    assert "FLASH (rx) : ORIGIN = 0x08000000, LENGTH = 2097152" in ld
    assert "RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 786432" in ld
    assert "SRAM4 (rw) : ORIGIN = 0x28000000, LENGTH = 16384" in ld


def test_build_records_compiler_and_flags(images):
    for (board, variant), img in images.items():
        info = (img.build_dir / "gen" / "tm_build_info.h").read_text()
        data = img.elf.read_bytes()
        assert b"arm-none-eabi-gcc" in data
        cpu, fpu = CPU_FPU[board]
        assert f"-mcpu={cpu} ".encode() in data
        assert f'TM_BUILD_VARIANT_NAME "{variant}"' in info
        if variant == "f32-soft":
            assert b"-mfloat-abi=soft" in data and b"-mfpu=" not in data
        else:
            assert b"-mfloat-abi=hard" in data and f"-mfpu={fpu} ".encode() in data


def test_f32_soft_has_no_fpu_instructions(images):
    for board in BOARDS:
        dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(images[(board, "f32-soft")].elf)],
                             capture_output=True, text=True, check=True).stdout
        assert "\tvmul" not in dis and "\tvfma" not in dis and "\tvadd" not in dis
        dis_fpu = subprocess.run(["arm-none-eabi-objdump", "-d", str(images[(board, "f32")].elf)],
                                 capture_output=True, text=True, check=True).stdout
        assert "\tvfma" in dis_fpu or "\tvmla" in dis_fpu or "\tvmul" in dis_fpu


def test_s8_opt_links_every_simd_kernel(images):
    from elftools.elf.elffile import ELFFile

    want = ["tm_conv2d_s8_opt", "tm_depthwise_conv2d_s8_opt", "tm_fully_connected_s8_opt",
            "tm_avg_pool2d_s8_opt", "tm_max_pool2d_s8_opt", "tm_add_s8_opt"]
    for board in BOARDS:
        with open(images[(board, "s8-opt")].elf, "rb") as fh:
            symtab = ELFFile(fh).get_section_by_name(".symtab")
            defined = {s.name for s in symtab.iter_symbols() if s["st_shndx"] != "SHN_UNDEF"}
        assert set(want) <= defined, set(want) - defined
        # the SIMD paths are compiled in (__ARM_FEATURE_DSP), also on the M33
        dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(images[(board, "s8-opt")].elf)],
                             capture_output=True, text=True, check=True).stdout
        assert "\tsmlad" in dis and "\tsxtb16" in dis, board


def test_weight_region_holds_the_fill_pattern(images):
    from elftools.elf.elffile import ELFFile

    with open(images[("L4", "f32")].elf, "rb") as fh:
        data = ELFFile(fh).get_section_by_name(".tm_weights").data()
    assert len(data) == 256 * 1024
    assert set(struct.unpack(f"<{len(data) // 4}f", data)) == {struct.unpack("<f", struct.pack("<I", 0x3C23D70A))[0]}


@pytest.mark.parametrize("board", [pytest.param(b, marks=pytest.mark.skip(reason=NO_VBOARD[b]))
                                   if b in NO_VBOARD else b for b in BOARDS])
def test_hello_ping_run_layer_on_the_virtual_board(images, board):
    import calibration.vboard  # noqa: F401  (registers the vboard:// URL scheme)
    from calibration.protocol import Client, LayerRequest, Op
    from tinymodel.firmware_interface import CONV_GEOM, S8_QUANT
    from calibration.transport import SerialTransport

    img = images[(board, "s8-ref")]
    transport = SerialTransport(f"vboard://{board}?image={img.elf}")
    with Client(transport, timeout_s=20) as c:
        hello = c.hello()
        assert hello.board_id == board and hello.core_clock_hz == load_board(board).clock_hz
        assert hello.variants == ("s8-ref",) and hello.clock_status == 0
        assert c.ping(b"\x00tinymodel\x00") == b"\x00tinymodel\x00"
        t = c.run_layer(LayerRequest(Op.CONV_2D, "s8-ref", (1, 8, 8, 4), (1, 8, 8, 8), (8, 3, 3, 4),
                                     CONV_GEOM.words(pad_h=1, pad_w=1),
                                     S8_QUANT.words(act_min=-128, act_max=127, multiplier=1 << 30,
                                                    shift=-3),
                                     reps=2))
        assert t.reps == 2 and t.min_cycles > 0


def test_generated_board_files_name_no_absolute_path():
    """The build id hashes the generated files: an absolute path in them would make the id
    depend on where the repository was cloned (and shipped tables would never match)."""
    from calibration.firmware import REPO, board_header, board_make_vars, memory_script
    from tinymodel.boards import load_board

    for board_id in BOARDS:
        board = load_board(board_id)
        for text in (board_header(board), memory_script(board), board_make_vars(board)):
            assert str(REPO) not in text
            assert f"tinymodel/boards/data/{board_id}.toml" in text.splitlines()[0]


def test_accelerator_bits_go_to_the_register_that_holds_them():
    """The ART's bits are FLASH_ACR's (L4/F4/F7 headers: no TM_ACCEL_ macros, so those images
    and their build ids do not change); the U5's ICACHE enable is ICACHE_CR's, its prefetch
    FLASH_ACR's PRFTEN (oracle: REF 2.4, ICACHE_CR 0x4003_0400 EN b0, FLASH_ACR PRFTEN b8)."""
    from calibration.firmware import accelerator_bits, board_header

    for board_id in ("L4", "F4", "F7"):
        assert "TM_ACCEL_" not in board_header(load_board(board_id))
    # L4: I- and D-cache on, prefetch off; F4: all three on (ICEN 9, DCEN 10, PRFTEN 8)
    assert accelerator_bits(load_board("L4").accelerator) == ((1 << 9) | (1 << 10),
                                                              (1 << 11) | (1 << 12), 0)
    assert accelerator_bits(load_board("F4").accelerator)[0] == 0x700
    u5 = board_header(load_board("U5"))
    assert accelerator_bits(load_board("U5").accelerator) == (1 << 8, 0, 1 << 0)
    for line in ("#define TM_FLASH_ACR_ENABLE_BITS 0x00000100u",
                 "#define TM_ACCEL_CTRL 0x40030400u", "#define TM_ACCEL_ENABLE_BITS 0x00000001u",
                 "#define TM_ACCEL_ICACHE_WAYS 2u", "#define TM_FAMILY_U5 1",
                 "#define TM_CORE_CORTEX_M33 1"):
        assert line in u5.splitlines(), line


@pytest.mark.parametrize("cfg", [pytest.param(c, marks=pytest.mark.skip(reason=NO_TABLES[c[0]]))
                                 if c[0] in NO_TABLES else c for c in CONFIGS],
                         ids=[f"{b}-{v}" for b, v in CONFIGS])
def test_the_build_id_is_the_shipped_tables_wherever_the_image_is_built(images, cfg):
    """The id hashes sources and generated files in an order that does not depend on where the
    checkout or the build directory is (the session's cache here, firmware/build when the tables
    were measured): the shipped table of each board and variant names the image built today."""
    from tinymodel.tables import default_table_path, load_table

    table = load_table(default_table_path(*cfg))
    assert images[cfg].build_id == table.firmware["build_id"]


def test_the_build_id_does_not_depend_on_the_build_directory(tmp_path, monkeypatch):
    """The same files with the generated one named by an absolute path (sorting before the
    sources) and by a relative one (sorting after them): one id."""
    from calibration.firmware import FIRMWARE_DIR, build_id

    sources = sorted((FIRMWARE_DIR / "src").glob("*.c"))[:3]
    gen = tmp_path / "gen"
    gen.mkdir()
    (gen / "tm_board_config.h").write_text("#define X 1\n")
    monkeypatch.chdir(tmp_path)
    assert (build_id([*sources, gen / "tm_board_config.h"], "L4")
            == build_id([*sources, Path("gen") / "tm_board_config.h"], "L4"))


@pytest.mark.parametrize("variant", ["f32-soft", "s8-opt"])
def test_build_image_writes_the_build_info_make_itself_would(tmp_path, variant):
    """``build_image`` (HOST_PREPARED) writes ``tm_build_info.h`` from what ``make build-inputs``
    prints; a plain ``make`` writes it with its own ``build-info`` step (a Python process): the
    same header, build id included, and the caller's copy is not rewritten by make."""
    import sys

    from calibration.firmware import FIRMWARE_DIR, write_board_config, write_build_info

    args = ["make", "-C", str(FIRMWARE_DIR), "BOARD=F4", f"VARIANT={variant}", "OPT=-O2",
            "WEIGHT_REGION_BYTES=0", "STACK_BYTES=8192", f"PYTHON={sys.executable}"]
    plain = tmp_path / "plain"
    subprocess.run([*args, f"BUILD_DIR={plain}", "-n"], check=True, capture_output=True)
    host = tmp_path / "host"
    write_board_config("F4", host / "gen", 0, 8192)
    write_build_info([*args, f"BUILD_DIR={host}", "HOST_PREPARED=1"], host / "gen", variant)
    want = (plain / "gen" / "tm_build_info.h").read_text()
    assert "TM_BUILD_ID" in want
    assert (host / "gen" / "tm_build_info.h").read_text() == want
