"""Read Keras 3 models (``.keras``, ``.h5`` or in memory) into a
:class:`~tinymodel.graph.ModelGraph`.

The graph is the one the TFLite converter would produce from the same model, so the costs of a
Keras reading and of the ``.tflite`` reading agree layer by layer:

* **Layouts are TFLite's.**  Conv weights OHWI (Keras HWIO, transposed), depthwise weights
  ``1·H·W·(C·M)`` (Keras ``H·W·C·M``, reshaped; channel ``c·M + m`` as in both frameworks), dense
  weights ``(out, in)`` (Keras ``(in, out)``, transposed).  Activation shapes are NHWC with the
  batch set to 1; any other unknown dimension is an error.
* **Biases are TFLite's.**  A Conv2D or DepthwiseConv2D without bias gets a zero bias, as the
  converter writes one; a Dense or Conv2DTranspose without bias keeps none.  (The converter also
  drops a Dense bias whose values are all zero, which a reader of shapes cannot mirror: such
  models differ by the bias in ``weight_bytes``; ``params`` count a bias either way, see
  :class:`tinymodel.costs.LayerCost`.)
* **BatchNormalization is folded** into the conv / depthwise / dense layer before it when that
  layer has no activation yet and its output feeds only the BN:
  ``s = γ / sqrt(σ² + ε)``, ``W' = W · s`` per output channel, ``b' = (b - μ) · s + β`` (a bias
  is created when the layer had none).  Any other BN becomes an ``UNSUPPORTED`` layer with
  ``source_op="BatchNormalization"`` — never dropped.
* **ReLU and ReLU6 are fused** into the conv, depthwise, dense, add, sub or mul layer before them
  under the same single-consumer condition (a standalone ``ReLU`` / ``Activation`` layer, or the
  ``activation=`` argument of Conv2D / DepthwiseConv2D / SeparableConv2D / Dense /
  Conv2DTranspose).  Other activations (:data:`ACTIVATION_OPS`: softmax, log-softmax, sigmoid,
  tanh, hard-swish, elu, exponential, leaky-relu) become their own layer, as in TFLite; swish /
  silu becomes ``LOGISTIC`` then ``MUL`` (``x · sigmoid(x)``), as the converter writes it; an
  activation without an :class:`~tinymodel.ops.OpType` becomes an ``UNSUPPORTED`` layer whose
  ``source_op`` is ``"Activation(<name>)"``.
* **Layers TFLite Micro runs as one operator** map onto it even where the converter writes
  something else: ``UpSampling2D`` → ``RESIZE_NEAREST_NEIGHBOR`` / ``RESIZE_BILINEAR`` (the
  converter writes nearest-neighbour upsampling as reshapes and tiles), ``Embedding`` →
  ``GATHER`` (without the converter's cast and index fix-up), ``LSTM`` →
  ``UNIDIRECTIONAL_SEQUENCE_LSTM`` plus a ``STRIDED_SLICE`` of the last step (the converter writes
  a Keras 3 LSTM as a WHILE loop).  Conv2DTranspose → ``TRANSPOSE_CONV``, LeakyReLU, PReLU, ELU,
  Maximum, Minimum, Average (ADDs then a MUL by ``1/n``), Permute → ``TRANSPOSE``, Cropping2D →
  ``STRIDED_SLICE``, GlobalMaxPooling → ``REDUCE_MAX`` and GlobalAveragePooling1D → ``MEAN`` are
  what the converter writes.
* **Keras operations** (``keras.ops.add(x, 3.0)``, ``ops.multiply``, ``ops.exp``,
  ``ops.sigmoid``, ...; keys ``"ops.<class>"`` in :data:`KERAS_OPS`) map onto the elementwise
  operators; a Python constant operand becomes a constant input.
* **Identity-at-inference layers** (:data:`IDENTITY_LAYERS`: InputLayer, Dropout, noise and
  random-augmentation layers, ``Activation("linear")``, ...) produce no layer.  Their tensors are
  aliased to their input, and their names are recorded in ``options["folded"]`` of the layer that
  *computes* the tensor they pass on — the same place where a folded BN or fused ReLU is recorded,
  so every report row lists all the Keras layers it stands for.  When the tensor is a model input
  (e.g. ``Input → RandomFlip``) they are recorded on the layers that read it.  A model input keeps
  the name of its InputLayer.
* Nested models (a Sequential or functional model used as a layer) are expanded in place; their
  layers are named ``<outer call>/<inner layer>``.  A layer called more than once is named
  ``<name>_call<k>`` from its second call on.
* Every other layer class — including subclasses of Keras layers and Keras ``Operation`` nodes
  without a mapping — becomes an ``UNSUPPORTED`` layer (``source_op`` = class name, ``ops.<class>``
  for operations) with its inputs, outputs and variables (as constant inputs) kept.

``options`` keys (see :class:`~tinymodel.graph.Layer`): ``folded`` (tuple of Keras layer
names), ``axis`` (concatenation, gather), ``axes``/``keep_dims`` (mean, reduce-max),
``new_shape`` (reshape), ``paddings`` (pad), ``beta`` (softmax), ``alpha`` (leaky-relu),
``keep_num_dims`` (dense on inputs of rank > 2), ``output_shape`` (transposed conv), ``size``
(resize), ``perm`` (transpose), ``begin``/``end``/``strides`` (strided slice), the LSTM's
``time_major``/``n_cell``/``n_output``.  RESHAPE, PAD, MEAN, REDUCE_MAX, TRANSPOSE,
STRIDED_SLICE, RESIZE and TRANSPOSE_CONV carry their int32 shape operands as constant inputs, as
in ``.tflite`` files.

The mapping table is :data:`KERAS_OPS` (Keras class name → the OpTypes it becomes).  Keras
layers are recognised by exact class name and only when defined by Keras itself.  The traversal
uses Keras 3's layer-graph records (``KerasTensor._keras_history`` and the operations' inbound
nodes), which is how Keras itself walks functional models.
"""

from __future__ import annotations

import dataclasses
import heapq
import os
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from tinymodel._optional import import_keras
from tinymodel.errors import ModelReadError
from tinymodel.graph import Layer, ModelGraph, TensorSpec
from tinymodel.ops import Activation, OpType, Padding

if TYPE_CHECKING:  # pragma: no cover
    import keras

#: File suffixes :func:`read_keras` accepts, with the signature their first bytes must have.
KERAS_SUFFIXES: Mapping[str, bytes] = MappingProxyType({
    ".keras": b"PK\x03\x04",          # a zip archive
    ".h5": b"\x89HDF\r\n\x1a\n",      # legacy HDF5
    ".hdf5": b"\x89HDF\r\n\x1a\n",
})

#: Keras layer classes that compute the identity at inference; they produce no layer.
IDENTITY_LAYERS: frozenset[str] = frozenset({
    "InputLayer", "Identity", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
    "SpatialDropout3D", "AlphaDropout", "GaussianDropout", "GaussianNoise",
    "ActivityRegularization", "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
    "RandomContrast", "RandomBrightness",
})

#: Activation function name → fused activation (TFLite fuses only these into the layer before).
FUSED_ACTIVATIONS: Mapping[str, Activation] = MappingProxyType({
    "relu": Activation.RELU, "relu6": Activation.RELU6,
})

#: Activation function name → the OpType of a standalone activation layer.
ACTIVATION_OPS: Mapping[str, OpType] = MappingProxyType({
    "relu": OpType.RELU, "relu6": OpType.RELU6, "sigmoid": OpType.LOGISTIC, "tanh": OpType.TANH,
    "hard_silu": OpType.HARD_SWISH, "hard_swish": OpType.HARD_SWISH, "softmax": OpType.SOFTMAX,
    "log_softmax": OpType.LOG_SOFTMAX, "elu": OpType.ELU, "exponential": OpType.EXP,
    "leaky_relu": OpType.LEAKY_RELU,
})

#: Activation functions computed as ``x · sigmoid(x)``: a LOGISTIC and a MUL layer, as the
#: converter writes them.
SIGMOID_GATED: frozenset[str] = frozenset({"silu", "swish"})

#: Options of the layers :data:`ACTIVATION_OPS` creates (Keras's defaults of the functions).
_ACTIVATION_OPTIONS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "softmax": {"beta": 1.0}, "leaky_relu": {"alpha": 0.2},
})

#: Layers that a following ReLU / ReLU6 is fused into.
_FUSE_INTO = frozenset({OpType.CONV_2D, OpType.DEPTHWISE_CONV_2D, OpType.FULLY_CONNECTED,
                        OpType.ADD, OpType.SUB, OpType.MUL})

#: Layers that a following BatchNormalization is folded into.
_FOLD_BN_INTO = frozenset({OpType.CONV_2D, OpType.DEPTHWISE_CONV_2D, OpType.FULLY_CONNECTED})

_BINARY_OPS: Mapping[str, OpType] = MappingProxyType({
    "Add": OpType.ADD, "Subtract": OpType.SUB, "Multiply": OpType.MUL,
    "Maximum": OpType.MAXIMUM, "Minimum": OpType.MINIMUM, "Average": OpType.ADD,
})


# -- loading --------------------------------------------------------------------------------------

def _first_line(exc: BaseException) -> str:
    for line in str(exc).splitlines():
        text = line.strip()
        if text:
            return text if len(text) <= 200 else text[:197] + "..."
    return type(exc).__name__


def _load(keras: Any, path: Path) -> keras.Model:
    """Load a model file, turning every failure into a one-line :class:`ModelReadError`."""
    if not path.exists():
        raise ModelReadError(f"{path}: no such file")
    if path.is_dir():
        raise ModelReadError(f"{path}: is a directory, not a .keras or .h5 file "
                             f"(SavedModel folders are not read; convert them to .tflite)")
    signature = KERAS_SUFFIXES.get(path.suffix.lower())
    if signature is None:
        raise ModelReadError(f"{path}: not a Keras file (expected a name ending in "
                             f"{', '.join(KERAS_SUFFIXES)})")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(signature))
    except OSError as exc:
        raise ModelReadError(f"{path}: cannot read: {exc.strerror}") from None
    if not head:
        raise ModelReadError(f"{path}: empty file")
    if head != signature:
        kind = "a zip archive" if path.suffix.lower() == ".keras" else "an HDF5 file"
        raise ModelReadError(f"{path}: not a Keras file (not {kind})")
    if path.suffix.lower() == ".keras":
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError):
            raise ModelReadError(f"{path}: corrupt or truncated .keras archive") from None
        if "config.json" not in names:
            raise ModelReadError(f"{path}: not a Keras model archive (no config.json)")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many unrelated types for corrupt files
        raise ModelReadError(f"{path}: cannot load Keras model: {_first_line(exc)}") from None
    if not isinstance(model, keras.Model):
        raise ModelReadError(f"{path}: holds a {type(model).__name__}, not a Keras model")
    return model


def read_keras(source: str | os.PathLike[str] | keras.Model, name: str | None = None) -> ModelGraph:
    """Read a Keras 3 model into a :class:`~tinymodel.graph.ModelGraph`.

    ``source`` is a ``.keras`` or ``.h5`` file or an in-memory ``keras.Model`` (functional or
    Sequential, built with a fixed input shape).  ``name`` defaults to the file stem or the
    model's name.  See the module docstring for how layers are mapped.  Raises
    :class:`~tinymodel.errors.ModelReadError` (one line, naming the file) for files that are
    missing, not Keras files or corrupt, for models without a layer graph, and when Keras is not
    installed.
    """
    keras = import_keras(ModelReadError)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        model = _load(keras, path)
        label, default_name = str(path), path.stem
    elif isinstance(source, keras.Model):
        model = source
        label, default_name = f"Keras model {model.name!r}", model.name
    else:
        raise ModelReadError(f"read_keras needs a file path or a keras.Model, "
                             f"not {type(source).__name__}")
    return _GraphReader(keras, label).read(model, name or default_name)


# -- the graph reader -----------------------------------------------------------------------------

@dataclasses.dataclass
class _Draft:
    """A layer under construction (mutable until BN folding and activation fusion are done)."""

    name: str
    op: OpType
    inputs: list[TensorSpec | None]
    outputs: list[TensorSpec]
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    folded: list[str] = dataclasses.field(default_factory=list)
    source_op: str = ""

    def freeze(self) -> Layer:
        options = dict(self.options)
        if self.folded:
            options["folded"] = tuple(self.folded)
        return Layer(self.name, self.op, tuple(self.inputs), tuple(self.outputs),
                     options=MappingProxyType(options), source_op=self.source_op, **self.attrs)


@dataclasses.dataclass
class _Call:
    """One call of a Keras operation inside the model being read."""

    op: Any                    # the keras Layer / Operation
    name: str                  # unique layer name in the graph
    in_tensors: list[Any]      # KerasTensors read, flattened in call order
    out_tensors: list[Any]     # KerasTensors written
    args: tuple[Any, ...] = ()  # the call's positional arguments (tensors and Python constants)

    @property
    def cls(self) -> str:
        return type(self.op).__name__


Handler = Callable[["_GraphReader", _Call], None]

#: Keras class name → handler.
HANDLERS: dict[str, Handler] = {}

_MAPPED: dict[str, tuple[OpType, ...]] = {}

#: Keras class name → the OpTypes it becomes (empty for folded / identity layers).
KERAS_OPS: Mapping[str, tuple[OpType, ...]] = MappingProxyType(_MAPPED)


def _handles(*classes: str, emits: tuple[OpType, ...] | Mapping[str, tuple[OpType, ...]]
             ) -> Callable[[Handler], Handler]:
    """Register a handler for ``classes``; ``emits`` is what every class becomes, or a mapping
    class → what it becomes when the classes differ."""
    def decorate(fn: Handler) -> Handler:
        for cls in classes:
            HANDLERS[cls] = fn
            _MAPPED[cls] = emits[cls] if isinstance(emits, Mapping) else emits
        return fn
    return decorate


def _history(kt: Any) -> tuple[Any, int, int]:
    history = getattr(kt, "_keras_history", None)
    if history is None:
        raise ModelReadError(f"tensor {getattr(kt, 'name', kt)!r} has no Keras layer history")
    return history.operation, history.node_index, history.tensor_index


def _has_graph(model: Any) -> bool:
    """True for models whose inputs and outputs are symbolic tensors (functional, Sequential)."""
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        return False
    return bool(inputs) and bool(outputs) and all(
        getattr(t, "_keras_history", None) is not None for t in list(inputs) + list(outputs))


def _const(name: str, array: np.ndarray) -> TensorSpec:
    data = np.array(array, copy=True)
    data.setflags(write=False)
    return TensorSpec(name, tuple(int(d) for d in data.shape), str(data.dtype), constant=True,
                      data=data)


def _numpy(variable: Any) -> np.ndarray:
    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)


def _activation_name(fn: Any) -> str:
    return str(getattr(fn, "__name__", type(fn).__name__))


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    a, b = value
    return (int(a), int(b))


class _GraphReader:
    """Walks one Keras model (and the models nested in it) and collects drafts.

    State: ``_spec`` maps ``id(KerasTensor)`` to its TensorSpec (identity layers and folding map
    several Keras tensors onto one spec); ``_uses`` counts the readers of each spec name (model
    outputs count as readers), which is what the BN-folding and ReLU-fusion conditions test.
    """

    def __init__(self, keras: Any, label: str) -> None:
        self.keras = keras
        self.label = label
        self._spec: dict[int, TensorSpec] = {}
        self._kt_uses: dict[int, int] = {}
        self._uses: dict[str, int] = {}
        self._producer: dict[str, _Draft] = {}
        self._drafts: list[_Draft] = []
        self._names: set[str] = set()
        self._pending: dict[str, list[str]] = {}   # model-input spec → identity layers on it
        self._keep: list[Any] = []                 # keeps the KerasTensors behind ids alive

    # -- entry -----------------------------------------------------------------------------
    def read(self, model: Any, name: str) -> ModelGraph:
        if not _has_graph(model):
            if not getattr(model, "built", True):
                raise ModelReadError(f"{self.label}: the model is not built; give it an Input "
                                     f"or call it on data first")
            raise ModelReadError(f"{self.label}: a subclassed {type(model).__name__} has no "
                                 f"layer graph; build it as a functional or Sequential model")
        calls = self._calls(model, prefix="")
        for kt in model.inputs:
            self._kt_uses[id(kt)] = 0
        self._count(calls, model.outputs)
        inputs = []
        for kt in model.inputs:
            op, _, _ = _history(kt)
            spec = TensorSpec(self._unique(op.name), self._shape(kt, op.name), self._dtype(kt))
            self._bind(kt, spec)
            inputs.append(spec)
        for call in calls:
            self._dispatch(call)
        outputs = [self._spec[id(kt)] for kt in model.outputs]
        layers = [d.freeze() for d in self._drafts]
        return ModelGraph(name, layers, inputs, outputs, source=self.label)

    # -- traversal -------------------------------------------------------------------------
    def _calls(self, model: Any, prefix: str) -> list[_Call]:
        """The model's operation calls in topological order.

        The calls reachable from the outputs are collected by depth-first search; they are then
        ordered by Kahn's algorithm, taking among the ready calls the one whose operation comes
        first in ``model.operations`` (Keras's own order).  For a residual block this puts the
        main branch before the projection shortcut, as the TFLite converter does.
        """
        input_ids = {id(t) for t in model.inputs}
        nodes: dict[tuple[int, int], tuple[Any, Any]] = {}     # key → (op, node)
        deps: dict[tuple[int, int], set[tuple[int, int]]] = {}
        stack = list(model.outputs)
        while stack:
            kt = stack.pop()
            if id(kt) in input_ids:
                continue
            op, node_index, _ = _history(kt)
            key = (id(op), node_index)
            if key in nodes:
                continue
            if type(op).__name__ == "InputLayer":
                raise ModelReadError(f"{self.label}: input {op.name!r} is not among the "
                                     f"model's inputs")
            node = op._inbound_nodes[node_index]
            nodes[key] = (op, node)
            deps[key] = set()
            for t in node.input_tensors:
                if id(t) not in input_ids:
                    t_op, t_index, _ = _history(t)
                    deps[key].add((id(t_op), t_index))
                stack.append(t)
        known = getattr(model, "operations", None)      # Sequential has only ``layers``
        rank = {id(op): i for i, op in enumerate(known if known is not None else model.layers)}
        users: dict[tuple[int, int], list[tuple[int, int]]] = {key: [] for key in nodes}
        waiting = {key: len(d) for key, d in deps.items()}
        for key, d in deps.items():
            for dep in d:
                users[dep].append(key)

        def priority(key: tuple[int, int]) -> tuple[int, int]:
            return (rank.get(key[0], len(rank)), key[1])

        ready = [(priority(key), key) for key, n in waiting.items() if n == 0]
        heapq.heapify(ready)
        calls: list[_Call] = []
        per_op: dict[int, int] = {}
        while ready:
            _, key = heapq.heappop(ready)
            op, node = nodes[key]
            k = per_op.get(id(op), 0)
            per_op[id(op)] = k + 1
            base = op.name if k == 0 else f"{op.name}_call{k + 1}"
            arguments = getattr(node, "arguments", None)
            calls.append(_Call(op, self._unique(prefix + base), list(node.input_tensors),
                               list(node.output_tensors),
                               tuple(getattr(arguments, "args", ()) or ())))
            for user in users[key]:
                waiting[user] -= 1
                if waiting[user] == 0:
                    heapq.heappush(ready, (priority(user), user))
        return calls

    def _count(self, calls: Sequence[_Call], outputs: Sequence[Any]) -> None:
        """Count the readers of every Keras tensor the calls touch (model outputs included)."""
        for call in calls:
            for t in call.out_tensors:
                self._kt_uses[id(t)] = 0
            for t in call.in_tensors:
                self._kt_uses.setdefault(id(t), 0)
        for t in outputs:
            self._kt_uses.setdefault(id(t), 0)
        for call in calls:
            for t in call.in_tensors:
                self._kt_uses[id(t)] += 1
        for t in outputs:
            self._kt_uses[id(t)] += 1

    def _dispatch(self, call: _Call) -> None:
        op = call.op
        for t in call.in_tensors:
            if id(t) not in self._spec:  # pragma: no cover - topological order guarantees this
                raise ModelReadError(f"{self.label}: layer {call.name!r} reads a tensor before "
                                     f"it is written")
        if isinstance(op, self.keras.Model):
            if _has_graph(op):
                self._nested(call)
            else:
                self._unsupported(call)
            return
        is_layer = isinstance(op, self.keras.layers.Layer)
        handler = None
        if type(op).__module__.startswith("keras."):
            handler = HANDLERS.get(call.cls if is_layer else f"ops.{call.cls}")
        if handler is not None:
            handler(self, call)
        else:   # custom layers keep their class name; bare Keras operations are "ops.<class>"
            self._unsupported(call, call.cls if is_layer else f"ops.{call.cls}")

    def _nested(self, call: _Call) -> None:
        """Expand a functional / Sequential model used as a layer in place."""
        inner = call.op
        if len(inner.inputs) != len(call.in_tensors) or len(inner.outputs) != len(call.out_tensors):
            self._unsupported(call)
            return
        calls = self._calls(inner, prefix=call.name + "/")
        for kt in inner.inputs:
            self._kt_uses[id(kt)] = 0
        self._count(calls, inner.outputs)
        # the outer call's one read of each input is replaced by the inner layers' reads
        for inner_kt, outer_kt in zip(inner.inputs, call.in_tensors, strict=True):
            self._alias(inner_kt, self._spec[id(outer_kt)], consumed=1)
        for inner_call in calls:
            self._dispatch(inner_call)
        # an inner output's one read (as output) is replaced by the outer tensor's reads
        for inner_kt, outer_kt in zip(inner.outputs, call.out_tensors, strict=True):
            self._alias(outer_kt, self._spec[id(inner_kt)], consumed=1)

    # -- tensors ---------------------------------------------------------------------------
    def _unique(self, name: str) -> str:
        candidate, k = name, 1
        while candidate in self._names:
            k += 1
            candidate = f"{name}_{k}"
        self._names.add(candidate)
        return candidate

    def _shape(self, kt: Any, where: str) -> tuple[int, ...]:
        dims = list(kt.shape)
        if dims and dims[0] is None:
            dims[0] = 1
        if any(d is None for d in dims):
            raise ModelReadError(f"{self.label}: tensor of {where!r} has unknown dimensions "
                                 f"{tuple(kt.shape)}; give the model a fixed input shape")
        return tuple(int(d) for d in dims)

    @staticmethod
    def _dtype(kt: Any) -> str:
        return str(getattr(kt, "dtype", "float32") or "float32")

    def _bind(self, kt: Any, spec: TensorSpec) -> None:
        self._keep.append(kt)
        self._spec[id(kt)] = spec
        self._uses[spec.name] = self._kt_uses.get(id(kt), 0)

    def _alias(self, kt: Any, spec: TensorSpec, consumed: int = 1) -> None:
        """Make ``kt`` another name for ``spec``; ``consumed`` reads of ``spec`` are replaced."""
        self._keep.append(kt)
        self._spec[id(kt)] = spec
        extra = self._kt_uses.get(id(kt), 0)
        self._uses[spec.name] = self._uses.get(spec.name, 0) - consumed + extra

    def _out(self, name: str, kt: Any) -> TensorSpec:
        """A new spec named ``name`` for the Keras tensor ``kt``, bound to it."""
        spec = TensorSpec(name, self._shape(kt, name), self._dtype(kt))
        self._bind(kt, spec)
        return spec

    def _in(self, call: _Call, i: int = 0) -> TensorSpec:
        return self._spec[id(call.in_tensors[i])]

    def _emit(self, draft: _Draft) -> _Draft:
        for t in draft.inputs:
            if t is not None and t.name in self._pending:
                draft.folded.extend(self._pending.pop(t.name))
        self._drafts.append(draft)
        for t in draft.outputs:
            self._producer[t.name] = draft
        return draft

    def _sole_producer(self, spec: TensorSpec, ops: frozenset[OpType]) -> _Draft | None:
        """The draft writing ``spec`` if it is one of ``ops``, has no activation and ``spec``
        is its only output and has exactly one reader."""
        draft = self._producer.get(spec.name)
        if (draft is None or draft.op not in ops or self._uses.get(spec.name) != 1
                or draft.attrs.get("activation", Activation.NONE) is not Activation.NONE
                or draft.outputs != [spec]):
            return None
        return draft

    # -- generic layers --------------------------------------------------------------------
    def _unsupported(self, call: _Call, source_op: str | None = None) -> None:
        consts = []
        if isinstance(call.op, self.keras.layers.Layer):
            seen: set[str] = set()
            for v in call.op.weights:
                vname = str(getattr(v, "name", "var")).split("/")[-1]
                while vname in seen:
                    vname += "_"
                seen.add(vname)
                consts.append(_const(f"{call.name}/{vname}", _numpy(v)))
        outs = [self._out(call.name if len(call.out_tensors) == 1 else f"{call.name}:{i}", kt)
                for i, kt in enumerate(call.out_tensors)]
        self._emit(_Draft(call.name, OpType.UNSUPPORTED,
                          [self._spec[id(t)] for t in call.in_tensors] + consts, outs,
                          source_op=source_op or call.cls))

    def identity(self, call: _Call) -> None:
        """Alias an identity layer's output to its input and record the layer's name."""
        if len(call.in_tensors) != 1 or len(call.out_tensors) != 1:
            self._unsupported(call)
            return
        spec = self._in(call)
        producer = self._producer.get(spec.name)
        if producer is not None:
            producer.folded.append(call.op.name)
        else:
            self._pending.setdefault(spec.name, []).append(call.op.name)
        self._alias(call.out_tensors[0], spec)

    def simple(self, call: _Call, op: OpType, inputs: Sequence[TensorSpec | None] | None = None,
               **attrs: Any) -> _Draft:
        """Emit one layer reading ``inputs`` (default: the call's inputs) and writing the
        call's single output."""
        options = attrs.pop("options", {})
        ins = list(inputs) if inputs is not None else [self._spec[id(t)] for t in call.in_tensors]
        out = self._out(call.name, call.out_tensors[0])
        return self._emit(_Draft(call.name, op, ins, [out], attrs, options, source_op=call.cls))

    def activation(self, call: _Call, fn_name: str, draft: _Draft | None) -> None:
        """Apply activation ``fn_name`` to the call's output.

        ``draft`` is the layer that computed the pre-activation value when it came from the same
        Keras layer (``activation=`` argument), else ``None`` (a standalone activation layer).
        """
        kt = call.out_tensors[0]
        if draft is None:
            src = self._in(call)
            if fn_name == "linear":
                self.identity(call)
                return
            target = self._sole_producer(src, _FUSE_INTO)
            if fn_name in FUSED_ACTIVATIONS and target is not None:
                target.attrs["activation"] = FUSED_ACTIVATIONS[fn_name]
                target.folded.append(call.op.name)
                self._alias(kt, src)
                return
            if fn_name not in ACTIVATION_OPS and fn_name not in SIGMOID_GATED:
                self._unsupported(call, f"Activation({fn_name})")
                return
            self._activation_layers(call, fn_name, src, call.name)
            return
        # fused into a conv / dense layer: ``draft`` wrote ``kt`` already
        if fn_name == "linear":
            return
        if fn_name in FUSED_ACTIVATIONS:
            draft.attrs["activation"] = FUSED_ACTIVATIONS[fn_name]
            return
        pre = draft.outputs[0]
        self._uses[pre.name] = 1
        self._activation_layers(call, fn_name, pre, self._unique(f"{draft.name}/{fn_name}"))

    def _activation_layers(self, call: _Call, fn_name: str, src: TensorSpec, name: str) -> None:
        """Emit the layer(s) computing ``fn_name(src)`` as ``name``, bound to the call's output:
        one layer of :data:`ACTIVATION_OPS`, ``LOGISTIC`` then ``MUL`` for
        :data:`SIGMOID_GATED` (as the converter writes ``x · sigmoid(x)``), or an
        ``UNSUPPORTED`` layer ``Activation(<name>)``."""
        if fn_name in SIGMOID_GATED:
            gate = TensorSpec(self._unique(f"{name}/sigmoid"), src.shape, src.dtype)
            self._uses[gate.name] = 1
            self._uses[src.name] = self._uses.get(src.name, 0) + 1     # read by both layers
            self._emit(_Draft(gate.name, OpType.LOGISTIC, [src], [gate], source_op=call.cls))
            out = TensorSpec(name, src.shape, src.dtype)
            self._emit(_Draft(name, OpType.MUL, [src, gate], [out], source_op=call.cls))
        else:
            op = ACTIVATION_OPS.get(fn_name, OpType.UNSUPPORTED)
            options = dict(_ACTIVATION_OPTIONS.get(fn_name, {}))
            out = TensorSpec(name, src.shape, src.dtype)
            self._emit(_Draft(name, op, [src], [out], options=options,
                              source_op=call.cls if op is not OpType.UNSUPPORTED
                              else f"Activation({fn_name})"))
        self._bind(call.out_tensors[0], out)

    def reshape(self, call: _Call) -> None:
        shape = self._shape(call.out_tensors[0], call.name)
        operand = _const(f"{call.name}/shape", np.array(shape, dtype=np.int32))
        self.simple(call, OpType.RESHAPE, [self._in(call), operand],
                    options={"new_shape": shape})


# -- handlers -------------------------------------------------------------------------------------

def _channels_last(reader: _GraphReader, call: _Call) -> bool:
    if getattr(call.op, "data_format", "channels_last") != "channels_last":
        reader._unsupported(call, f"{call.cls}(channels_first)")
        return False
    return True


def _bias(name: str, layer: Any, channels: int | None = None) -> TensorSpec | None:
    """The layer's bias; when it has none, ``None`` or, given ``channels``, a zero bias (the
    TFLite converter gives every CONV_2D and DEPTHWISE_CONV_2D a bias; FULLY_CONNECTED may
    have none)."""
    var = getattr(layer, "bias", None)
    if var is not None:
        return _const(f"{name}/bias", _numpy(var))
    if channels is None:
        return None
    return _const(f"{name}/bias", np.zeros(channels, dtype=np.float32))


def _conv_attrs(layer: Any) -> dict[str, Any]:
    return dict(kernel=_pair(layer.kernel_size), strides=_pair(layer.strides),
                padding=Padding(str(layer.padding).lower()), dilation=_pair(layer.dilation_rate))


@_handles("Conv2D", emits=(OpType.CONV_2D,))
def _conv2d(reader: _GraphReader, call: _Call) -> None:
    layer = call.op
    if not _channels_last(reader, call):
        return
    weights = _const(f"{call.name}/kernel", _numpy(layer.kernel).transpose(3, 0, 1, 2))
    draft = reader.simple(call, OpType.CONV_2D,
                          [reader._in(call), weights, _bias(call.name, layer, weights.shape[0])],
                          groups=int(layer.groups), **_conv_attrs(layer))
    reader.activation(call, _activation_name(layer.activation), draft)


@_handles("DepthwiseConv2D", emits=(OpType.DEPTHWISE_CONV_2D,))
def _depthwise(reader: _GraphReader, call: _Call) -> None:
    layer = call.op
    if not _channels_last(reader, call):
        return
    k = _numpy(layer.kernel)                      # (kh, kw, C, M)
    weights = _const(f"{call.name}/kernel", k.reshape(1, k.shape[0], k.shape[1], -1))
    draft = reader.simple(call, OpType.DEPTHWISE_CONV_2D,
                          [reader._in(call), weights, _bias(call.name, layer, weights.shape[-1])],
                          depth_multiplier=int(layer.depth_multiplier), **_conv_attrs(layer))
    reader.activation(call, _activation_name(layer.activation), draft)


@_handles("SeparableConv2D", emits=(OpType.DEPTHWISE_CONV_2D, OpType.CONV_2D))
def _separable(reader: _GraphReader, call: _Call) -> None:
    """Depthwise then 1×1 pointwise conv, as TFLite lowers it; the depthwise layer gets a zero
    bias, the pointwise layer the Keras bias."""
    layer = call.op
    if not _channels_last(reader, call):
        return
    src = reader._in(call)
    dk = _numpy(layer.depthwise_kernel)          # (kh, kw, C, M)
    out_shape = reader._shape(call.out_tensors[0], call.name)
    attrs = _conv_attrs(layer)
    dw_name = reader._unique(f"{call.name}/depthwise")
    # the depthwise output has the final spatial size (the pointwise conv is 1×1, stride 1)
    mid = TensorSpec(dw_name, out_shape[:-1] + (dk.shape[2] * dk.shape[3],), reader._dtype(
        call.out_tensors[0]))
    reader._uses[mid.name] = 1
    dw_weights = _const(f"{dw_name}/kernel", dk.reshape(1, dk.shape[0], dk.shape[1], -1))
    reader._emit(_Draft(dw_name, OpType.DEPTHWISE_CONV_2D,
                        [src, dw_weights, _bias(dw_name, None, mid.shape[-1])], [mid],
                        dict(depth_multiplier=int(layer.depth_multiplier), **attrs),
                        source_op=call.cls))
    pk = _numpy(layer.pointwise_kernel)          # (1, 1, C·M, out)
    pw_name = reader._unique(f"{call.name}/pointwise")
    out = reader._out(pw_name, call.out_tensors[0])
    draft = reader._emit(_Draft(pw_name, OpType.CONV_2D,
                                [mid, _const(f"{pw_name}/kernel", pk.transpose(3, 0, 1, 2)),
                                 _bias(pw_name, layer, pk.shape[-1])], [out],
                                dict(kernel=(1, 1)), source_op=call.cls))
    reader.activation(call, _activation_name(layer.activation), draft)


@_handles("Dense", emits=(OpType.FULLY_CONNECTED,))
def _dense(reader: _GraphReader, call: _Call) -> None:
    layer = call.op
    src = reader._in(call)
    weights = _const(f"{call.name}/kernel", _numpy(layer.kernel).T)
    options = {"keep_num_dims": len(src.shape) > 2}
    draft = reader.simple(call, OpType.FULLY_CONNECTED, [src, weights, _bias(call.name, layer)],
                          options=options)
    reader.activation(call, _activation_name(layer.activation), draft)


@_handles("AveragePooling2D", "MaxPooling2D",
          emits={"AveragePooling2D": (OpType.AVERAGE_POOL_2D,), "MaxPooling2D": (OpType.MAX_POOL_2D,)})
def _pool(reader: _GraphReader, call: _Call) -> None:
    layer = call.op
    if not _channels_last(reader, call):
        return
    op = OpType.AVERAGE_POOL_2D if call.cls == "AveragePooling2D" else OpType.MAX_POOL_2D
    reader.simple(call, op, [reader._in(call)], kernel=_pair(layer.pool_size),
                  strides=_pair(layer.strides if layer.strides is not None else layer.pool_size),
                  padding=Padding(str(layer.padding).lower()))


@_handles("GlobalAveragePooling2D", emits=(OpType.MEAN,))
def _global_average(reader: _GraphReader, call: _Call) -> None:
    if not _channels_last(reader, call):
        return
    axes = _const(f"{call.name}/axes", np.array([1, 2], dtype=np.int32))
    reader.simple(call, OpType.MEAN, [reader._in(call), axes],
                  options={"axes": (1, 2), "keep_dims": bool(call.op.keepdims)})


@_handles("Add", "Subtract", "Multiply", "Maximum", "Minimum", "Average",
          emits={**{cls: (op,) for cls, op in _BINARY_OPS.items()},
                 "Average": (OpType.ADD, OpType.MUL)})
def _binary(reader: _GraphReader, call: _Call) -> None:
    """Binary elementwise layers; more than two inputs become a chain of binary layers.
    ``Average`` is the chain of ADDs then a MUL by the constant ``1/n``, as the converter
    writes it."""
    op = _BINARY_OPS[call.cls]
    ins = [reader._spec[id(t)] for t in call.in_tensors]
    if len(ins) < 2:
        reader._unsupported(call)
        return
    acc = ins[0]
    last = ins[1:] if call.cls == "Average" else ins[1:-1]
    for i, other in enumerate(last, start=1):
        name = reader._unique(f"{call.name}/{i}")
        shape = tuple(int(d) for d in np.broadcast_shapes(acc.shape, other.shape))
        mid = TensorSpec(name, shape, acc.dtype)
        reader._uses[name] = 1
        reader._emit(_Draft(name, op, [acc, other], [mid], source_op=call.cls))
        acc = mid
    if call.cls == "Average":
        scale = _const(f"{call.name}/scale", np.array(1.0 / len(ins), dtype=np.float32))
        reader.simple(call, OpType.MUL, [acc, scale])
    else:
        reader.simple(call, op, [acc, ins[-1]])


@_handles("Concatenate", emits=(OpType.CONCATENATION,))
def _concatenate(reader: _GraphReader, call: _Call) -> None:
    rank = len(call.out_tensors[0].shape)
    axis = int(call.op.axis)
    reader.simple(call, OpType.CONCATENATION, options={"axis": axis % rank})


@_handles("Flatten", "Reshape", emits=(OpType.RESHAPE,))
def _reshape(reader: _GraphReader, call: _Call) -> None:
    if call.cls == "Flatten" and not _channels_last(reader, call):
        return
    reader.reshape(call)


@_handles("ZeroPadding2D", emits=(OpType.PAD,))
def _zero_padding(reader: _GraphReader, call: _Call) -> None:
    if not _channels_last(reader, call):
        return
    (top, bottom), (left, right) = (_pair(p) for p in call.op.padding)
    paddings = ((0, 0), (top, bottom), (left, right), (0, 0))
    operand = _const(f"{call.name}/paddings", np.array(paddings, dtype=np.int32))
    reader.simple(call, OpType.PAD, [reader._in(call), operand], options={"paddings": paddings})


@_handles("Softmax", emits=(OpType.SOFTMAX,))
def _softmax(reader: _GraphReader, call: _Call) -> None:
    rank = len(call.out_tensors[0].shape)
    axis = call.op.axis
    if not isinstance(axis, int) or axis % rank != rank - 1:
        reader._unsupported(call, f"Softmax(axis={axis})")
        return
    reader.simple(call, OpType.SOFTMAX, options={"beta": 1.0})


@_handles("ReLU", emits=(OpType.RELU, OpType.RELU6))
def _relu(reader: _GraphReader, call: _Call) -> None:
    layer = call.op
    slope, threshold = float(layer.negative_slope or 0.0), float(layer.threshold or 0.0)
    max_value = None if layer.max_value is None else float(layer.max_value)
    if slope != 0.0 or threshold != 0.0 or max_value not in (None, 6.0):
        reader._unsupported(call, f"ReLU(max_value={max_value}, negative_slope={slope}, "
                                  f"threshold={threshold})")
        return
    reader.activation(call, "relu" if max_value is None else "relu6", None)


@_handles("Activation", emits=tuple(dict.fromkeys((*ACTIVATION_OPS.values(), OpType.MUL))))
def _activation(reader: _GraphReader, call: _Call) -> None:
    reader.activation(call, _activation_name(call.op.activation), None)


@_handles("LeakyReLU", emits=(OpType.LEAKY_RELU,))
def _leaky_relu(reader: _GraphReader, call: _Call) -> None:
    """``LEAKY_RELU`` with ``options["alpha"]`` = the layer's ``negative_slope``."""
    reader.simple(call, OpType.LEAKY_RELU, [reader._in(call)],
                  options={"alpha": float(call.op.negative_slope)})


@_handles("PReLU", emits=(OpType.PRELU,))
def _prelu(reader: _GraphReader, call: _Call) -> None:
    """``PRELU`` with the alpha as constant input 1, in Keras's shape (the input's shape without
    the batch, 1 along shared axes), as the converter writes it."""
    alpha = _const(f"{call.name}/alpha", _numpy(call.op.alpha))
    reader.simple(call, OpType.PRELU, [reader._in(call), alpha])


@_handles("ELU", emits=(OpType.ELU,))
def _elu(reader: _GraphReader, call: _Call) -> None:
    """``ELU`` (TFLite's has ``alpha = 1``; another alpha stays unsupported)."""
    alpha = float(call.op.alpha)
    if alpha != 1.0:
        reader._unsupported(call, f"ELU(alpha={alpha})")
        return
    reader.simple(call, OpType.ELU, [reader._in(call)])


@_handles("Conv2DTranspose", emits=(OpType.TRANSPOSE_CONV,))
def _conv2d_transpose(reader: _GraphReader, call: _Call) -> None:
    """``TRANSPOSE_CONV`` with TFLite's inputs: output shape (int32 constant), weights OHWI (Keras
    ``(kh, kw, out, in)``, transposed), the input, and the bias when the layer has one."""
    layer = call.op
    if not _channels_last(reader, call):
        return
    if _pair(layer.dilation_rate) != (1, 1):
        reader._unsupported(call, f"{call.cls}(dilation_rate={layer.dilation_rate})")
        return
    out_shape = reader._shape(call.out_tensors[0], call.name)
    shape = _const(f"{call.name}/output_shape", np.array(out_shape, dtype=np.int32))
    weights = _const(f"{call.name}/kernel", _numpy(layer.kernel).transpose(2, 0, 1, 3))
    draft = reader.simple(call, OpType.TRANSPOSE_CONV,
                          [shape, weights, reader._in(call), _bias(call.name, layer)],
                          kernel=_pair(layer.kernel_size), strides=_pair(layer.strides),
                          padding=Padding(str(layer.padding).lower()),
                          options={"output_shape": out_shape})
    reader.activation(call, _activation_name(layer.activation), draft)


@_handles("UpSampling2D", emits=(OpType.RESIZE_NEAREST_NEIGHBOR, OpType.RESIZE_BILINEAR))
def _upsampling(reader: _GraphReader, call: _Call) -> None:
    """``RESIZE_NEAREST_NEIGHBOR`` or ``RESIZE_BILINEAR`` to the output size (an int32 constant
    input).  The converter writes nearest-neighbour upsampling as reshapes and tiles; the
    resize is the operator TFLite Micro runs for it."""
    if not _channels_last(reader, call):
        return
    interpolation = str(call.op.interpolation)
    ops = {"nearest": OpType.RESIZE_NEAREST_NEIGHBOR, "bilinear": OpType.RESIZE_BILINEAR}
    if interpolation not in ops:
        reader._unsupported(call, f"{call.cls}(interpolation={interpolation})")
        return
    size = reader._shape(call.out_tensors[0], call.name)[1:3]
    operand = _const(f"{call.name}/size", np.array(size, dtype=np.int32))
    reader.simple(call, ops[interpolation], [reader._in(call), operand],
                  options={"size": size})


@_handles("GlobalMaxPooling2D", "GlobalMaxPooling1D", "GlobalAveragePooling1D",
          emits={"GlobalMaxPooling2D": (OpType.REDUCE_MAX,),
                 "GlobalMaxPooling1D": (OpType.REDUCE_MAX,),
                 "GlobalAveragePooling1D": (OpType.MEAN,)})
def _global_pool(reader: _GraphReader, call: _Call) -> None:
    """``REDUCE_MAX`` / ``MEAN`` over the spatial axes (``(1, 2)`` or ``(1,)``)."""
    if not _channels_last(reader, call):
        return
    axes = (1, 2) if call.cls.endswith("2D") else (1,)
    op = OpType.REDUCE_MAX if call.cls.startswith("GlobalMax") else OpType.MEAN
    operand = _const(f"{call.name}/axes", np.array(axes, dtype=np.int32))
    reader.simple(call, op, [reader._in(call), operand],
                  options={"axes": axes, "keep_dims": bool(call.op.keepdims)})


@_handles("Permute", emits=(OpType.TRANSPOSE,))
def _permute(reader: _GraphReader, call: _Call) -> None:
    """``TRANSPOSE`` with ``perm = (0, *dims)`` as an int32 constant input."""
    perm = (0, *(int(d) for d in call.op.dims))
    operand = _const(f"{call.name}/perm", np.array(perm, dtype=np.int32))
    reader.simple(call, OpType.TRANSPOSE, [reader._in(call), operand], options={"perm": perm})


@_handles("Cropping2D", emits=(OpType.STRIDED_SLICE,))
def _cropping(reader: _GraphReader, call: _Call) -> None:
    """``STRIDED_SLICE`` with constant ``begin``, ``end`` and ``strides``, as the converter writes
    it."""
    if not _channels_last(reader, call):
        return
    (top, bottom), (left, right) = (_pair(c) for c in call.op.cropping)
    n, h, w, c = reader._in(call).shape
    begin, end, strides = (0, top, left, 0), (n, h - bottom, w - right, c), (1, 1, 1, 1)
    operands = [_const(f"{call.name}/{k}", np.array(v, dtype=np.int32))
                for k, v in (("begin", begin), ("end", end), ("strides", strides))]
    reader.simple(call, OpType.STRIDED_SLICE, [reader._in(call), *operands],
                  options={"begin": begin, "end": end, "strides": strides})


@_handles("Embedding", emits=(OpType.GATHER,))
def _embedding(reader: _GraphReader, call: _Call) -> None:
    """``GATHER`` of rows of the embedding table (constant input 0) at the indices (input 1).
    The converter adds a cast and a negative-index fix-up before it, which are not kept."""
    table = _const(f"{call.name}/embeddings", _numpy(call.op.embeddings))
    reader.simple(call, OpType.GATHER, [table, reader._in(call)],
                  options={"axis": 0, "batch_dims": 0})


@_handles("LSTM", emits=(OpType.UNIDIRECTIONAL_SEQUENCE_LSTM, OpType.STRIDED_SLICE))
def _lstm(reader: _GraphReader, call: _Call) -> None:
    """``UNIDIRECTIONAL_SEQUENCE_LSTM`` (TFLite Micro's fused LSTM kernel) with TFLite's 24
    inputs: the input, the input-to-gate and recurrent-to-gate weights ``(units, n)`` of the
    gates i, f, c, o (Keras's ``kernel`` and ``recurrent_kernel`` split by gate and
    transposed), no peepholes, the four gate biases (zeros when the layer has none), no
    projection, the output and cell state variables ``(1, units)`` and no layer norm.  Its
    output is the whole sequence; without ``return_sequences`` a ``STRIDED_SLICE`` takes the
    last step.  Only the plain configuration is mapped (tanh / sigmoid activations, forward,
    stateless, no returned state); others stay unsupported.  The stock converter writes a
    Keras 3 LSTM as a WHILE loop, or with ``unroll=True`` as per-step dense layers."""
    layer = call.op
    cell = getattr(layer, "cell", layer)
    plain = (_activation_name(cell.activation) == "tanh"
             and _activation_name(cell.recurrent_activation) == "sigmoid"
             and not layer.go_backwards and not layer.return_state and not layer.stateful
             and len(call.in_tensors) == 1)
    src = reader._in(call)
    if not plain or len(src.shape) != 3:
        reader._unsupported(call)
        return
    units = int(cell.units)
    kernel, recurrent = _numpy(cell.kernel), _numpy(cell.recurrent_kernel)
    bias = _numpy(cell.bias) if cell.bias is not None else np.zeros(4 * units, kernel.dtype)
    gates = ("input", "forget", "cell", "output")

    def part(matrix: np.ndarray, g: int) -> np.ndarray:
        return matrix[..., g * units:(g + 1) * units]

    inputs: list[TensorSpec | None] = [src]
    inputs += [_const(f"{call.name}/{g}_input_weights", part(kernel, i).T)
               for i, g in enumerate(gates)]
    inputs += [_const(f"{call.name}/{g}_recurrent_weights", part(recurrent, i).T)
               for i, g in enumerate(gates)]
    inputs += [None, None, None]                                       # no peepholes
    inputs += [_const(f"{call.name}/{g}_gate_bias", part(bias, i)) for i, g in enumerate(gates)]
    inputs += [None, None]                                             # no projection
    dtype = reader._dtype(call.out_tensors[0])
    inputs += [TensorSpec(reader._unique(f"{call.name}/{state}_state"), (src.shape[0], units),
                          dtype) for state in ("output", "cell")]
    inputs += [None] * 4                                               # no layer norm
    options = {"time_major": False, "cell_clip": 0.0, "proj_clip": 0.0, "n_cell": units,
               "n_output": units}
    if layer.return_sequences:
        reader.simple(call, OpType.UNIDIRECTIONAL_SEQUENCE_LSTM, inputs, options=options)
        return
    batch, steps, _ = src.shape
    seq_name = reader._unique(f"{call.name}/sequence")
    seq = TensorSpec(seq_name, (batch, steps, units), dtype)
    reader._uses[seq_name] = 1
    reader._emit(_Draft(seq_name, OpType.UNIDIRECTIONAL_SEQUENCE_LSTM, inputs, [seq],
                        options=options, source_op=call.cls))
    begin, end, strides = (0, steps - 1, 0), (batch, steps, units), (1, 1, 1)
    operands = [_const(f"{call.name}/{k}", np.array(v, dtype=np.int32))
                for k, v in (("begin", begin), ("end", end), ("strides", strides))]
    reader.simple(call, OpType.STRIDED_SLICE, [seq, *operands],
                  options={"begin": begin, "end": end, "strides": strides,
                           "shrink_axis_mask": 2})


_OPS_BINARY: Mapping[str, OpType] = MappingProxyType({
    "ops.Add": OpType.ADD, "ops.Subtract": OpType.SUB, "ops.Multiply": OpType.MUL,
    "ops.Divide": OpType.DIV, "ops.TrueDivide": OpType.DIV, "ops.Maximum": OpType.MAXIMUM,
    "ops.Minimum": OpType.MINIMUM,
})

_OPS_UNARY: Mapping[str, OpType] = MappingProxyType({
    "ops.Exp": OpType.EXP, "ops.Log": OpType.LOG, "ops.Sqrt": OpType.SQRT,
    "ops.Rsqrt": OpType.RSQRT, "ops.Abs": OpType.ABS, "ops.Absolute": OpType.ABS,
    "ops.Negative": OpType.NEG, "ops.Square": OpType.SQUARE, "ops.Sin": OpType.SIN,
    "ops.Cos": OpType.COS, "ops.Floor": OpType.FLOOR, "ops.Ceil": OpType.CEIL,
    "ops.Round": OpType.ROUND, "ops.Sigmoid": OpType.LOGISTIC, "ops.Tanh": OpType.TANH,
    "ops.Relu": OpType.RELU, "ops.Relu6": OpType.RELU6, "ops.HardSilu": OpType.HARD_SWISH,
})


@_handles(*_OPS_BINARY, emits={cls: (op,) for cls, op in _OPS_BINARY.items()})
def _ops_binary(reader: _GraphReader, call: _Call) -> None:
    """Keras ``ops.add``/``subtract``/``multiply``/``divide``/``maximum``/``minimum`` of two
    tensors, or of a tensor and a Python constant (which becomes a constant input, as the
    converter writes it)."""
    if len(call.args) != 2 or len(call.out_tensors) != 1:
        reader._unsupported(call, f"ops.{call.cls}")
        return
    keras_tensor = reader.keras.KerasTensor
    operands: list[TensorSpec | None] = []
    for i, arg in enumerate(call.args):
        if isinstance(arg, keras_tensor):
            operands.append(reader._spec[id(arg)])
        else:
            try:
                value = np.asarray(arg, dtype=np.float32)
            except (TypeError, ValueError):
                reader._unsupported(call, f"ops.{call.cls}")
                return
            operands.append(_const(f"{call.name}/operand{i}", value))
    if all(t is not None and t.is_constant for t in operands):
        reader._unsupported(call, f"ops.{call.cls}")
        return
    reader.simple(call, _OPS_BINARY[f"ops.{call.cls}"], operands)


@_handles(*_OPS_UNARY, emits={cls: (op,) for cls, op in _OPS_UNARY.items()})
def _ops_unary(reader: _GraphReader, call: _Call) -> None:
    """Keras elementwise functions of one tensor (``ops.exp``, ``ops.sqrt``, ``ops.sigmoid``,
    ``ops.relu``, ...)."""
    if len(call.in_tensors) != 1 or len(call.out_tensors) != 1:
        reader._unsupported(call, f"ops.{call.cls}")
        return
    reader.simple(call, _OPS_UNARY[f"ops.{call.cls}"], [reader._in(call)])


@_handles("BatchNormalization", emits=())
def _batch_norm(reader: _GraphReader, call: _Call) -> None:
    """Fold into the layer before (see the module docstring), else keep as UNSUPPORTED."""
    layer = call.op
    src = reader._in(call)
    rank = len(src.shape)
    axis = layer.axis if isinstance(layer.axis, int) else None
    target = reader._sole_producer(src, _FOLD_BN_INTO)
    if target is None or axis is None or axis % rank != rank - 1:
        reader._unsupported(call)
        return
    weights, bias = target.inputs[1], target.inputs[2]
    if weights is None or weights.data is None:  # pragma: no cover - drafts always carry data
        reader._unsupported(call)
        return
    channels = weights.shape[-1] if target.op is OpType.DEPTHWISE_CONV_2D else weights.shape[0]
    gamma = _numpy(layer.gamma) if layer.gamma is not None else np.ones(channels)
    beta = _numpy(layer.beta) if layer.beta is not None else np.zeros(channels)
    mean, var = _numpy(layer.moving_mean), _numpy(layer.moving_variance)
    scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + float(layer.epsilon))
    w = weights.data.astype(np.float64)
    if target.op is OpType.DEPTHWISE_CONV_2D:
        w = w * scale                                   # last axis is the output channel
    else:
        w = w * scale.reshape((-1,) + (1,) * (w.ndim - 1))  # first axis is the output channel
    b = bias.data.astype(np.float64) if bias is not None and bias.data is not None else 0.0
    b = (b - mean) * scale + beta
    dtype = weights.data.dtype
    target.inputs[1] = _const(weights.name, w.astype(dtype))
    target.inputs[2] = _const(bias.name if bias is not None else f"{target.name}/bias",
                              np.asarray(b, dtype=dtype))
    target.folded.append(layer.name)
    reader._alias(call.out_tensors[0], src)


for _cls in IDENTITY_LAYERS:
    HANDLERS[_cls] = _GraphReader.identity
    _MAPPED[_cls] = ()
del _cls
