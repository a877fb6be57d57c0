"""Full-network measurements: deploy, run, verify, record (paper components D–F).

For one :class:`~validation.suite.Job` (a model file, a board, a kernel variant) :func:`measure`

1. reads the model and its static costs (:mod:`tinymodel.costs`);
2. deploys it as a firmware image (:func:`validation.deployment.deploy_cached`); an image the
   linker rejects is recorded as ``oversized`` (paper Table 2), a network the firmware cannot run
   as ``unsupported`` — refused by code generation (``unsupported_layer`` / ``unsupported_op``
   name the layer) or by the device at run time (status ``UNSUPPORTED``);
3. connects to the board — a virtual board (``vboard://BOARD?image=ELF``) by default, or the
   serial device of :class:`RunSettings` ``port``, which must run this image (HELLO's board,
   model, variant and build id are checked; ``flash=True`` writes it with pyOCD first);
4. writes a seeded random input (the first verification input) and runs RUN_MODEL on it,
   which returns per-layer DWT cycles, and captures the energy of the marker-pin
   windows (one window per layer) from the virtual board's power model — an external monitor
   on a real board is not read, so there the energy is ``null``;
5. runs INFER on ``verify_inputs`` seeded random inputs and compares the outputs with the TFLite
   interpreter's reference kernels: int8 must be bit-exact (within one step of TFLite's optimized
   kernels for a file the reference kernels cannot load), float32 within a relative tolerance
   (paper component F, on-target verification);
6. returns one record (schema in ``docs/validation.md``), never raising for a problem of the
   model, the build or the device — those are recorded with ``status = "error"``.

:func:`run_jobs` runs many jobs on an :class:`~tinymodel.execution.Engine` — this process, a
local Dask cluster of worker processes that end with it however it ends, or the workers of a
Dask scheduler — and appends each record to a JSONL file the moment it arrives in this process;
jobs whose record is already there are skipped (resume), and an interrupted run keeps every
finished run.  A worker of a scheduler may be another machine: it gets the model file's bytes
with the job and measures its own copy (:func:`measure_remote`).  A real board (``--port``)
runs its jobs in this process only.
"""

from __future__ import annotations

import hashlib
import logging
import platform
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tinymodel.errors import TinymodelError
from tinymodel.execution import Engine
from tinymodel.text import counted, fmt_ms

from validation.suite import Job

log = logging.getLogger(__name__)

#: Version of the record layout in ``results.jsonl`` (docs/validation.md).  2: ``timing_input``
#: and the verification's ``kernels``; the timed inferences run on a seeded input written before
#: each one, so a resumed run measures again the runs an older version recorded.
SCHEMA_VERSION = 2
#: Record statuses that end a job.  ``error`` records are retried on resume, and so are
#: ``unsupported`` ones: a newer tinymodel may support the layer (and refusing again is cheap).
FINAL_STATUSES = ("ok", "oversized")
#: Relative and absolute (times the largest reference magnitude) tolerance of float outputs.
FLOAT_RTOL = 1e-3
FLOAT_ATOL = 1e-5


@dataclass(frozen=True)
class RunSettings:
    """Where and how jobs run.

    ``port``: ``None`` for a virtual board (one per job, started from the image), else a serial
    device or pyserial URL of a board that runs the job's image (``flash=True`` writes it through
    pyOCD first, with ``probe`` as the probe's unique id).  ``timeout_s`` bounds RUN_MODEL and each
    INFER, in seconds of the board's time: wall-clock on a real board, emulated on a virtual one
    (:class:`calibration.protocol.Deadline`), where ``wall_cap_s`` of wall-clock time per
    request catches an emulator that stopped (a whole ResNet-20 RUN_MODEL in f32-soft takes
    about 7 minutes of emulation); ``make_jobs`` is passed to ``make -j``.
    """

    cache_dir: Path
    port: str | None = None
    baud: int = 115200
    flash: bool = False
    probe: str | None = None
    timeout_s: float = 3600.0
    wall_cap_s: float = 3600.0
    make_jobs: int | None = None

    @property
    def target(self) -> str:
        """``virtual`` or ``device``: part of a record's key, so both can share a results file."""
        return "virtual" if self.port is None else "device"


def record_key(job: Job, target: str) -> str:
    """The key of a job's record: :attr:`Job.key` and the target kind."""
    return f"{job.key}|{target}"


def image_dir(cache_dir: Path, job: Job) -> Path:
    """Where the image of ``job`` is generated and built: one directory per firmware source tree
    (:data:`calibration.firmware.SOURCE_TREE_ID`, so checkouts sharing a cache do not build into
    one directory), model file, board, variant and optimisation level."""
    from calibration.firmware import SOURCE_TREE_ID

    return (Path(cache_dir) / "images" / SOURCE_TREE_ID
            / f"{job.model}-{job.model_sha256[:12]}-{job.board}-{job.variant}{job.opt}")


# -- one job -----------------------------------------------------------------------------------------

def _base_record(job: Job, settings: RunSettings) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION, "key": record_key(job, settings.target), "suite": job.suite,
        "model": job.model, "model_file": str(job.model_file), "model_sha256": job.model_sha256,
        "seed": job.seed, "board": job.board, "variant": job.variant, "opt": job.opt,
        "target": settings.target, "port": settings.port,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": platform.node(),
        "status": "error", "error": None, "oversized": None, "overflow_bytes": None,
        "unsupported_layer": None, "unsupported_op": None,
        "warmups": job.warmups, "reps": job.reps, "timing_input": None,
        "static": None, "image": None, "firmware": None,
        "cycles": None, "min_cycles": None, "max_cycles": None, "latency_ms": None,
        "energy_uj": None, "energy_source": None, "layers": [],
        "verification": {"status": "not-run", "inputs": 0},
        "wall_s": {},
    }


def _static_costs(graph) -> dict[str, Any]:
    from tinymodel.costs import analyze

    cost = analyze(graph)
    t = cost.totals
    out = {k: int(t[k]) for k in ("macs", "paper_macs", "flops", "params", "weight_bytes")
           if k in t}
    out["layers"] = len(graph)
    out["unsupported_layers"] = [f"{u.name} ({u.source_op or u.op.label})"
                                 for u in graph.unsupported]
    return out


def _enum_value(v: Any) -> Any:
    return getattr(v, "value", v)


def layer_records(graph, variant: str, layer_cycles: Sequence[float], clock_hz: int,
                  layer_energy_uj: Sequence[float] | None) -> list[dict[str, Any]]:
    """Per-layer records: measured cycles joined with the layer's static facts (MACs, kernel
    path, alignment class, spec) so predictions can be joined on ``(model, index)`` or ``spec``."""
    from tinymodel.costs import layer_cost
    from tinymodel.dispatch import kernel_path
    from tinymodel.layerspec import SPEC_OPS, spec_of

    rows = []
    for i, (layer, cycles) in enumerate(zip(graph, layer_cycles, strict=True)):
        cost = layer_cost(layer)
        rows.append({
            "index": i, "name": layer.name, "op": layer.op.label,
            "kernel_path": kernel_path(layer, variant).value,
            "cycles": float(cycles), "latency_ms": float(cycles) / clock_hz * 1e3,
            "energy_uj": None if layer_energy_uj is None else float(layer_energy_uj[i]),
            "macs": int(cost.macs), "paper_macs": int(cost.paper_macs), "flops": int(cost.flops),
            "params": int(cost.params), "reduction_length": cost.reduction_length,
            "alignment": _enum_value(cost.alignment),
            "input_shape": list(layer.input.shape) if layer.inputs else None,
            "output_shape": list(layer.output.shape),
            "spec": spec_of(layer) if layer.op in SPEC_OPS else None,
        })
    return rows


def _marker_energy(machine, before: int, warmups: int, reps: int, n_layers: int
                   ) -> tuple[float | None, list[float] | None, str | None]:
    """Energy per inference and per layer from the marker windows RUN_MODEL added.

    The firmware drives the marker pin active around each layer, so a run adds
    ``(warmups + reps) · n_layers`` windows; the last ``reps · n_layers`` are the timed ones.
    """
    windows = machine.gpio_windows()[before:]
    want = (warmups + reps) * n_layers
    if len(windows) != want:
        return None, None, (f"expected {want} marker windows, the board recorded {len(windows)}; "
                            f"energy not reported")
    timed = windows[warmups * n_layers:]
    per_layer = [sum(timed[r * n_layers + i].energy_uj for r in range(reps)) / reps
                 for i in range(n_layers)]
    return sum(per_layer), per_layer, None


#: The TFLite kernels a verification compares with: the reference kernels (``BUILTIN_REF``, the
#: arithmetic the firmware implements: int8 must be identical), or, for a file those cannot load,
#: the optimized builtin kernels without delegates, whose int8 results may differ from the
#: reference ones by one step (they are not bit-exact with each other; the zoo's int8 U-Net
#: verifies within one step of them).
REFERENCE_KERNELS = "reference"
OPTIMIZED_KERNELS = "optimized"
INT8_TOLERANCE = {REFERENCE_KERNELS: 0, OPTIMIZED_KERNELS: 1}


def _tf_interpreter(model_file: Path):
    """``(interpreter, kernels)``: TFLite's reference kernels, or the optimized ones (without
    delegates) when the reference resolver cannot load the file -- TF 2.21 has no reference
    kernel for the int8 TILE (version 3) its own converter writes for a Keras UpSampling2D."""
    from tinymodel.tfruntime import import_tensorflow, quiet

    tf = import_tensorflow()
    resolvers = tf.lite.experimental.OpResolverType
    first = None
    for kernels, resolver in ((REFERENCE_KERNELS, resolvers.BUILTIN_REF),
                              (OPTIMIZED_KERNELS, resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES)):
        try:
            with quiet():
                it = tf.lite.Interpreter(model_path=str(model_file),
                                         experimental_op_resolver_type=resolver)
                it.allocate_tensors()
            return it, kernels
        except (ValueError, RuntimeError) as e:
            if first is None:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    # the device ran; there is only nothing to compare with
    raise TinymodelError(f"TFLite's interpreter cannot run {model_file.name}: {first}")


def seeded_inputs(tensors: Sequence[tuple[Any, Sequence[int]]], seed: int, n: int) -> list[list[Any]]:
    """``n`` sets of random inputs for tensors given as ``(dtype, shape)``, seeded: int8 uniform
    over the full int8 range, float uniform in [0, 1).  The set ``k`` is the same whoever asks,
    so the timed run (RUN_MODEL) and the first verified inference see the same data."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(n):
        xs = []
        for dtype, shape in tensors:
            shape = tuple(int(s) for s in shape)
            if np.dtype(dtype) == np.int8:
                xs.append(rng.integers(-128, 128, size=shape, dtype=np.int64).astype(np.int8))
            else:
                xs.append(rng.uniform(0.0, 1.0, size=shape).astype(np.dtype(dtype)))
        sets.append(xs)
    return sets


def _timed_runs(client, inputs: Sequence[bytes], warmups: int, reps: int, timeout_s: float):
    """``warmups`` untimed and ``reps`` timed inferences, each a RUN_MODEL of one inference on
    ``inputs`` written just before it (INPUT_WRITE); the timed ones combined into one
    :class:`~calibration.protocol.ModelTiming` (sums per layer, the extremes of the totals).
    The marker windows are those of ``warmups + reps`` inferences, in order, as with one
    RUN_MODEL."""
    from calibration.protocol import ModelTiming

    samples = []
    for i in range(warmups + reps):
        client.write_inputs(inputs)
        t = client.run_model(warmups=0, reps=1, timeout_s=timeout_s)
        if i >= warmups:
            samples.append(t)
    return ModelTiming(len(samples), sum(t.total_cycles for t in samples),
                       min(t.min_cycles for t in samples), max(t.max_cycles for t in samples),
                       tuple(sum(c) for c in zip(*(t.layer_cycles for t in samples))))


def _dequantized_steps(it, int8_tol: int) -> dict[int, float]:
    """Per float output that a DEQUANTIZE makes from int8 (a post-training quantized file's
    float output), ``int8_tol`` steps of that int8 tensor in real units: the tolerance one int8
    step of the optimized kernels becomes after the DEQUANTIZE."""
    if not int8_tol:
        return {}
    details = {t["index"]: t for t in it.get_tensor_details()}
    steps = {}
    for op in it._get_ops_details():
        if op["op_name"] == "DEQUANTIZE" and len(op["inputs"]) == 1:
            scale = float(details[int(op["inputs"][0])]["quantization"][0])
            for out in op["outputs"]:
                steps[int(out)] = int8_tol * scale
    return steps


def verify_outputs(client, model_file: Path, n_inputs: int, seed: int, timeout_s: float
                   ) -> dict[str, Any]:
    """INFER ``n_inputs`` seeded random inputs (:func:`seeded_inputs`) on the device and compare
    with TFLite.

    int8 outputs must equal the interpreter's exactly (reference kernels; within
    :data:`INT8_TOLERANCE` of the optimized ones when the reference kernels cannot load the file,
    the record's ``kernels``); float32 outputs must
    satisfy ``|device - ref| ≤ FLOAT_RTOL·|ref| + FLOAT_ATOL·max(1, max|ref|)``.  Returns the
    verification record.
    """
    import numpy as np

    try:
        it, kernels = _tf_interpreter(model_file)
    except TinymodelError as e:
        return {"status": "skipped", "inputs": 0, "reason": str(e)}
    int8_tol = INT8_TOLERANCE[kernels]
    step_tol = _dequantized_steps(it, int8_tol)
    in_details = it.get_input_details()
    out_details = it.get_output_details()
    sets = seeded_inputs([(d["dtype"], d["shape"]) for d in in_details], seed, n_inputs)
    max_diff = 0.0
    mismatched = 0
    compared = 0
    infer_cycles = []
    for xs in sets:
        for d, x in zip(in_details, xs, strict=True):
            it.set_tensor(d["index"], x)
        outs, cycles = client.infer([x.tobytes() for x in xs], timeout_s)
        infer_cycles.append(int(cycles))
        it.invoke()
        for d, raw in zip(out_details, outs, strict=True):
            ref = np.array(it.get_tensor(d["index"])).ravel()
            got = np.frombuffer(raw, dtype=ref.dtype)
            if got.shape != ref.shape:
                return {"status": "failed", "inputs": len(infer_cycles),
                        "reason": f"output has {got.size} values, TFLite {ref.size}"}
            diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
            if ref.dtype == np.int8:
                bad = diff > int8_tol
            else:
                tol = FLOAT_RTOL * np.abs(ref) + FLOAT_ATOL * max(1.0, float(np.abs(ref).max()))
                bad = ~(diff <= np.maximum(tol, step_tol.get(d["index"], 0.0)))
            mismatched += int(bad.sum())
            compared += int(ref.size)
            max_diff = max(max_diff, float(diff.max()) if diff.size else 0.0)
    return {"status": "passed" if mismatched == 0 else "failed", "inputs": n_inputs,
            "kernels": kernels,
            "exact": (bool(out_details) and np.dtype(out_details[0]["dtype"]) == np.int8
                      and int8_tol == 0),
            "values_compared": compared, "values_mismatched": mismatched,
            "max_abs_diff": max_diff, "infer_cycles": infer_cycles}


def _connect(url: str, baud: int, wall_cap_s: float = 3600.0):
    from calibration.protocol import Client
    from calibration.transport import SerialTransport

    if url.startswith("vboard://"):
        import calibration.vboard  # noqa: F401  (registers the vboard:// URL handler)
    return Client(SerialTransport(url, baud), timeout_s=10.0, wall_cap_s=wall_cap_s)


def _hello(client, attempts: int = 3):
    from calibration.protocol import DeviceTimeout

    for i in range(attempts):
        try:
            return client.hello()
        except DeviceTimeout:
            if i == attempts - 1:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


def _check_image(hello, job: Job, graph, dep, where: str) -> None:
    """Raise when the device does not run this job's image (board, variant, model, build)."""
    from calibration.protocol import ProtocolError

    what = f"'tinymodel deploy {job.model_file} --board {job.board} --variant {job.variant} --flash'"
    if hello.board_id != job.board:
        raise ProtocolError(f"{where} is a {hello.board_id or '?'} board, not {job.board}")
    if job.variant not in hello.variants or hello.model_name != graph.name:
        raise ProtocolError(
            f"{where} runs model {hello.model_name or '(none)'} with variants "
            f"{', '.join(hello.variants) or '(none)'}, not {graph.name} {job.variant}: flash "
            f"{dep.elf} ({what}) or pass --flash")
    if dep.build_id and hello.build_id != dep.build_id:
        raise ProtocolError(f"{where} runs build {hello.build_id}, not {dep.build_id} of {dep.elf}: "
                            f"flash it ({what}) or pass --flash")


def _device_unsupported(e, status_enum, kernel_enum) -> bool:
    """A device reply that means "this image does not implement the operator": ``UNSUPPORTED``,
    or ``KERNEL`` carrying the kernel's ``ERR_UNSUPPORTED``."""
    import struct

    if e.status == status_enum.UNSUPPORTED:
        return True
    return (e.status == status_enum.KERNEL and len(e.details) >= 4
            and struct.unpack_from("<i", e.details)[0] == kernel_enum.ERR_UNSUPPORTED)


def measure(job: Job, settings: RunSettings) -> dict[str, Any]:
    """Deploy, run and verify one job; the record (see the module docstring).  Never raises
    for a problem of the model, build or device: the record says ``status = "error"``."""
    from calibration.codegen import CodegenError, graph_layer_cycles, graph_layer_names
    from calibration.protocol import DeviceError
    from calibration.vboard import machine_of
    from tinymodel.descriptors import op_name
    from tinymodel.firmware_interface import KernelStatus, Status
    from tinymodel.readers import load_model

    from validation.deployment import deploy_cached

    t_start = time.perf_counter()
    rec = _base_record(job, settings)
    wall = rec["wall_s"]
    try:
        graph = load_model(job.model_file)
        rec["static"] = _static_costs(graph)
        t0 = time.perf_counter()
        try:
            dep = deploy_cached(graph, job.board, job.variant, image_dir(settings.cache_dir, job),
                                job.opt, settings.make_jobs)
        except CodegenError as e:
            layer = next((L for L in graph if L.name == e.layer), None)
            rec.update(status="unsupported", error=str(e), unsupported_layer=e.layer,
                       unsupported_op=op_name(layer) if layer is not None else e.op)
            return rec
        wall["build"] = time.perf_counter() - t0
        rec["image"] = {"elf": str(dep.elf) if dep.elf else None, "build_id": dep.build_id,
                        "model_weight_bytes": dep.weight_bytes, "model_arena_bytes": dep.arena_bytes,
                        "size": dep.size or None}
        if dep.oversized:
            rec.update(status="oversized", oversized=dep.oversized,
                       overflow_bytes=dep.overflow_bytes)
            return rec
        if settings.port is not None and settings.flash:
            from calibration.flashing import flash_image

            t0 = time.perf_counter()
            flash_image(dep.elf, job.board, settings.probe)
            wall["flash"] = time.perf_counter() - t0
        url = settings.port or f"vboard://{job.board}?image={dep.elf}"
        where = settings.port or f"the virtual {job.board}"
        t0 = time.perf_counter()
        with _connect(url, settings.baud, settings.wall_cap_s) as client:
            hello = _hello(client)
            _check_image(hello, job, graph, dep, where)
            info = client.model_info()
            # a graph layer may run as several firmware layers (CONCATENATION, SPLIT, ...): the
            # image's table names each one's graph layer, and results are summed per graph layer
            if (info.n_layers != len(dep.layer_names)
                    or graph_layer_names(dep.layer_names) != tuple(L.name for L in graph)):
                raise TinymodelError(f"{where}: the image has {counted(info.n_layers, 'layer')}, "
                                     f"the model "
                                     f"{len(graph)} running as {len(dep.layer_names)}")
            clock = hello.core_clock_hz
            rec["firmware"] = {"build_id": hello.build_id, "compiler": hello.compiler,
                               "cflags": hello.cflags, "clock_hz": clock,
                               "clock_status": hello.clock_status, "mcu": hello.mcu,
                               "fpu_enabled": hello.fpu_enabled}
            # every inference of the timing runs on the first verification input (seeded random
            # data), written again before each one: LOGISTIC / TANH skip their arithmetic for
            # saturated inputs, so the input buffer's power-on zeros would time a degenerate
            # network, and an arena that reuses the input buffer leaves the next inference
            # another layer's data
            seed = int(job.model_sha256[:8] or "0", 16)
            (first,) = seeded_inputs([(t.dtype, t.shape) for t in info.inputs], seed, 1)
            rec["timing_input"] = ("seeded random (the first verification input), written "
                                   "before every inference")
            machine = machine_of(client.transport)
            before = len(machine.gpio_windows()) if machine is not None else 0
            t1 = time.perf_counter()
            timing = _timed_runs(client, [x.tobytes() for x in first], job.warmups, job.reps,
                                 settings.timeout_s)
            wall["run_model"] = time.perf_counter() - t1
            energy, layer_energy, note = (None, None, None)
            if machine is not None:
                energy, layer_energy, note = _marker_energy(machine, before, job.warmups,
                                                            timing.reps, len(dep.layer_names))
                if note:
                    log.warning("%s: %s", rec["key"], note)
                if layer_energy is not None:
                    layer_energy = graph_layer_cycles(dep.layer_names, layer_energy)
            rec.update(cycles=timing.cycles, min_cycles=timing.min_cycles,
                       max_cycles=timing.max_cycles, latency_ms=timing.cycles / clock * 1e3,
                       reps=timing.reps, energy_uj=energy,
                       energy_source=("virtual board power model (marker windows)"
                                      if energy is not None else None),
                       layers=layer_records(graph, job.variant,
                                            graph_layer_cycles(dep.layer_names,
                                                               timing.layer_mean_cycles),
                                            clock, layer_energy))
            if job.verify_inputs > 0:
                t1 = time.perf_counter()
                rec["verification"] = verify_outputs(
                    client, job.model_file, job.verify_inputs, seed=seed,
                    timeout_s=settings.timeout_s)
                wall["verify"] = time.perf_counter() - t1
            else:
                rec["verification"] = {"status": "skipped", "inputs": 0,
                                       "reason": "verify_inputs = 0"}
        wall["board"] = time.perf_counter() - t0
        rec["status"] = "ok"
    except DeviceError as e:
        if _device_unsupported(e, Status, KernelStatus):
            # the image refused an operator the host thought it had: the same status as a
            # network codegen refuses (the device does not say which layer)
            rec.update(status="unsupported", error=f"{type(e).__name__}: {e}")
        else:
            rec.update(status="error", error=f"{type(e).__name__}: {e}")
    except TinymodelError as e:
        rec.update(status="error", error=f"{type(e).__name__}: {e}")
    except Exception as e:  # noqa: BLE001 - a bug or an unexpected device state: recorded
        log.debug("job %s failed", rec["key"], exc_info=True)
        rec.update(status="error", error=f"{type(e).__name__}: {e}")
    finally:
        wall["total"] = time.perf_counter() - t_start
    return rec


# -- the results file --------------------------------------------------------------------------------

#: The :func:`tinymodel.records.scan_records` arguments of a results file.
RESULT_RECORDS = {"what": "result record", "require": "key"}


def read_results(path: Path) -> dict[str, dict[str, Any]]:
    """The records of a results file by key (a later record of a key replaces an earlier one;
    :func:`tinymodel.records.scan_records`).  A cut-off last line — a run killed while writing —
    is left out with a warning; damage before the last line is an error naming the line."""
    from tinymodel.records import scan_records

    scan = scan_records(path, missing_ok=True, **RESULT_RECORDS)
    if scan.torn:
        log.warning("%s: cut-off last line (not a result record, left by an interrupted run); "
                    "skipped", path)
    return {rec["key"]: rec for rec in scan.records}


def reusable(record: Mapping[str, Any] | None) -> bool:
    """Whether a saved record ends its job, so that a rerun keeps it instead of running the job
    again: a :data:`FINAL_STATUSES` status, written with the current :data:`SCHEMA_VERSION`."""
    return (record is not None and record.get("status") in FINAL_STATUSES
            and record.get("schema", 0) >= SCHEMA_VERSION)


def saved_runs(results_path: Path, jobs: Sequence[Job], target: str) -> int:
    """How many of ``jobs`` (on ``target``) have a :func:`reusable` record in ``results_path``:
    the runs a rerun of the same command does not repeat (0 when the file cannot be read)."""
    try:
        saved = read_results(results_path)
    except (TinymodelError, OSError):
        return 0
    return sum(1 for j in jobs if reusable(saved.get(record_key(j, target))))


@dataclass(frozen=True)
class RemoteJob:
    """A job as a worker of a Dask scheduler gets it: the :class:`Job` and its model file's
    bytes, since the worker may be another machine, where the client's path does not exist (a
    model file is kilobytes to a few megabytes)."""

    job: Job
    model_bytes: bytes

    @property
    def key(self) -> str:
        """The job's key (names the job in cluster errors)."""
        return self.job.key


def worker_model_copy(model_bytes: bytes, name: str) -> Path:
    """The copy of a model file sent to this worker: ``models/<sha256 of the bytes>/<name>`` in
    the worker's validation cache (:func:`tinymodel.cachedir.cache_dir`), written once,
    atomically (workers of one machine share it).  The file keeps its name, so messages that
    name it read as on the client."""
    from tinymodel.cachedir import received_copy

    return received_copy(model_bytes, "validation", "models",
                         hashlib.sha256(model_bytes).hexdigest(), name)


def measure_remote(task: RemoteJob, settings: RunSettings) -> dict[str, Any]:
    """:func:`measure` on a worker of a Dask scheduler: the model file is the worker's copy of
    the bytes sent (:func:`worker_model_copy`) and images are built in the worker's own
    validation cache (``settings.cache_dir`` is the client's path); the record names the
    client's model file, as a local run's does (``host`` and ``image.elf`` are the worker's:
    where it ran and where the image is)."""
    from tinymodel.cachedir import cache_dir, usable_dir

    job = task.job
    copy = worker_model_copy(task.model_bytes, job.model_file.name)
    rec = measure(replace(job, model_file=copy),
                  replace(settings, cache_dir=usable_dir(cache_dir("validation"),
                                                         "validation cache")))
    rec["model_file"] = str(job.model_file)
    if rec.get("error"):
        rec["error"] = rec["error"].replace(str(copy), str(job.model_file))
    return rec


def run_jobs(jobs: Sequence[Job], settings: RunSettings, results_path: Path,
             engine: Engine = Engine(), progress: bool = True,
             on_record: Callable[[dict[str, Any]], None] | None = None) -> dict[str, dict[str, Any]]:
    """Run the jobs whose final record is not yet in ``results_path`` on ``engine`` (default:
    this process; a real board always here, :meth:`Engine.for_port`); append each new record as it
    arrives in this process.  Returns the records of all ``jobs`` (old and new) by key.

    The results file is opened with :func:`tinymodel.records.open_for_append` (locked against a
    second run; a line cut off by a killed run moved aside first).  Every job is one
    :meth:`tinymodel.execution.Pool.map` job: :func:`measure` (this process, a local cluster)
    or :func:`measure_remote` (a scheduler's workers); a worker that dies loses only the job it
    was running, which runs again elsewhere.  Local worker processes end with this process
    however it ends.  On an interrupt (``KeyboardInterrupt``) or any other error the records of
    runs that finished are appended, the other runs are cancelled, and the exception
    propagates."""
    from tinymodel.records import append_line, open_for_append

    engine = engine.for_port(settings.port)
    results_path = Path(results_path)
    fh, scan = open_for_append(results_path, busy="another validate run is writing this file",
                               **RESULT_RECORDS)
    existing = {rec["key"]: rec for rec in scan.records}
    keys = [record_key(j, settings.target) for j in jobs]
    older = {k for k in keys if k in existing and existing[k].get("schema", 0) < SCHEMA_VERSION}
    if older:
        log.warning("%s: %s recorded by an older validate (record schema < %d, timed on other "
                    "input data); %s run again", results_path,
                    "1 run was" if len(older) == 1 else f"{len(older)} runs were", SCHEMA_VERSION,
                    "it is" if len(older) == 1 else "they are")
    todo = [j for j, k in zip(jobs, keys) if not reusable(existing.get(k))]
    if len(todo) < len(jobs):
        log.info("%d of %s already in %s; %d to go", len(jobs) - len(todo),
                 counted(len(jobs), "run"), results_path, len(todo))
    if not engine.remote and engine.jobs > len(todo):
        engine = Engine(max(1, len(todo)))
    from tqdm import tqdm

    bar = tqdm(total=len(todo), unit="run", file=sys.stderr, disable=not progress or not todo,
               dynamic_ncols=True)

    def show_running(i: int) -> None:
        # in this process the jobs run in order: say which one runs now
        if not engine.parallel and i < len(todo):
            job = todo[i]
            bar.set_postfix_str(f"{job.model} {job.board} {job.variant}: running", refresh=True)

    def done(i: int, rec: dict[str, Any]) -> None:
        append_line(fh, rec, results_path)
        existing[rec["key"]] = rec
        bar.update(1)
        ms = (f"{fmt_ms(rec['latency_ms'])} ms" if rec.get("latency_ms") is not None
              else rec["status"])
        if engine.remote:
            bar.set_description_str(pool.describe(), refresh=False)
        bar.set_postfix_str(f"{rec['model']} {rec['board']} {rec['variant']}: {ms}", refresh=True)
        if on_record:
            on_record(rec)
        show_running(i + 1)

    try:
        if todo:
            with engine.open() as pool:
                log.info("%s on %s", counted(len(todo), "run"), pool.describe())
                if engine.parallel:
                    bar.set_description_str(pool.describe(), refresh=True)
                if engine.remote:
                    files = {p: Path(p).read_bytes() for p in {j.model_file for j in todo}}
                    pool.map(measure_remote, [RemoteJob(j, files[j.model_file]) for j in todo],
                             done, key="validate", settings=settings)
                else:
                    show_running(0)
                    pool.map(measure, todo, done, key="validate", settings=settings)
    finally:
        bar.close()
        fh.close()
    return {k: existing[k] for k in keys if k in existing}


def summarize(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts and per-network measured numbers of a set of records (the ``--json`` summary)."""
    recs = list(records)
    counts: dict[str, int] = {}
    for r in recs:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    verify: dict[str, int] = {}
    for r in recs:
        if r["status"] == "ok":
            s = (r.get("verification") or {}).get("status", "not-run")
            verify[s] = verify.get(s, 0) + 1
    runs = [{
        "model": r["model"], "board": r["board"], "variant": r["variant"], "status": r["status"],
        "latency_ms": r.get("latency_ms"), "cycles": r.get("cycles"),
        "energy_uj": r.get("energy_uj"), "layers": len(r.get("layers") or []),
        "macs": (r.get("static") or {}).get("macs"),
        "verification": (r.get("verification") or {}).get("status"),
        "oversized": r.get("oversized"), "error": r.get("error"),
        "wall_s": round((r.get("wall_s") or {}).get("total", 0.0), 2),
    } for r in recs]
    return {"runs": len(recs), "status_counts": counts, "verification_counts": verify,
            "networks": runs}


__all__ = ["FINAL_STATUSES", "RemoteJob", "RunSettings", "SCHEMA_VERSION", "image_dir", "layer_records", "measure", "measure_remote", "read_results",
           "record_key", "reusable", "run_jobs", "saved_runs", "summarize", "worker_model_copy",
           "verify_outputs", "seeded_inputs", "INT8_TOLERANCE"]
