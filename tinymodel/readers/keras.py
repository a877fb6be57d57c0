"""Read Keras 3 models (``.keras``, ``.h5`` or in memory) into a
:class:`~tinymodel.graph.ModelGraph`.

The graph is the one the TFLite converter would produce from the same model: after
normalisation (:func:`tinymodel.readers.load_model`), the Keras reading and the reading of the
``.tflite`` file the stock converter (TensorFlow 2.21, ``TFLiteConverter.from_keras_model``)
writes are the same layer sequence — operators, kernels, strides, padding, dilation, fused
activations, run-time shapes — so their MACs, parameters and memory agree.  The architecture
suite (``tests/readers/test_architectures.py``) checks this for MobileNetV2/V3, DS-CNN, Conv1D,
SqueezeNet, U-Net, EfficientNet, LSTM, GRU, MLP and dilated networks in the three usual
conversions.  Where the converter rewrites a Keras layer, the reader writes what it writes:

* **Layouts are TFLite's.**  Conv weights OHWI (Keras HWIO, transposed), depthwise weights
  ``1·H·W·(C·M)`` (Keras ``H·W·C·M``, reshaped; channel ``c·M + m`` as in both frameworks), dense
  weights ``(out, in)`` (Keras ``(in, out)``, transposed).  Activation shapes are NHWC with the
  batch set to 1; any other unknown dimension is an error.
* **Biases are TFLite's.**  A Conv2D or DepthwiseConv2D without bias gets a zero bias, as the
  converter writes one; a Dense or Conv2DTranspose without bias keeps none.  (The converter also
  drops a Dense bias whose values are all zero, e.g. an untrained model's; the reader keeps it:
  such models differ by the bias in ``weight_bytes``; ``params`` count a bias either way, see
  :class:`tinymodel.costs.LayerCost`.)
* **Padding is fused.**  A ZeroPadding2D read only by a ``valid`` Conv2D / DepthwiseConv2D
  (dilation 1), whose amounts are exactly what ``same`` padding adds for that kernel and
  stride (MobileNet's ``correct_pad`` before every stride-2 depthwise conv), is no layer: the
  convolution reads the unpadded tensor with ``same`` padding.
* **Constants are folded** into the conv / depthwise / dense layer before them when that layer
  has no activation yet and its output feeds only them: a BatchNormalization
  (``s = γ / sqrt(σ² + ε)``, ``W' = W · s`` per output channel, ``b' = (b - μ) · s + β``; a bias
  is created when the layer had none), ``x + c``, ``x - c``, ``x · c``, ``x / c`` (Keras
  operations with a scalar or per-channel constant ``c``), and the ``+ 3`` of a
  ``hard_sigmoid``.  Scalar arithmetic *before* a conv / dense layer (a ``Rescaling``) is folded
  into it as well: a multiplication into the weights, an addition into the bias (``valid``
  padding only).  A BatchNormalization that cannot be folded is a ``MUL`` by ``s`` and an
  ``ADD`` of ``β - μ · s`` (``(C,)`` constants; the converter leaves out a MUL by ones and an
  ADD of zeros); over another axis than the last it stays ``UNSUPPORTED``.
* **ReLU and ReLU6 are fused** into the conv, depthwise, dense, add, sub or mul layer before them
  under the same single-consumer condition (a standalone ``ReLU`` / ``Activation`` layer, or the
  ``activation=`` argument of Conv2D / DepthwiseConv2D / SeparableConv2D / Dense /
  Conv2DTranspose / Conv1D).  Other activations (:data:`ACTIVATION_OPS`: softmax, log-softmax,
  sigmoid, tanh, hard-swish, elu, exponential, leaky-relu) become their own layer, as in TFLite;
  swish / silu becomes ``LOGISTIC`` then ``MUL`` (``x · sigmoid(x)``), hard-sigmoid an ``ADD``
  of 3 with ReLU6 (or the conv's bias and fused ReLU6) then a ``MUL`` by ``1/6``, as the
  converter writes them; an activation without an :class:`~tinymodel.ops.OpType` becomes an
  ``UNSUPPORTED`` layer whose ``source_op`` is ``"Activation(<name>)"``.
* **Dilated convolutions** are written as the converter writes them around its
  SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND (which the normalisation reads as one dilated
  convolution): the convolution with a zero bias, then an ``ADD`` of the bias (when not all
  zero) with ReLU / ReLU6 fused into it, or else the activation as its own layer; nothing is
  folded or fused into the convolution itself.
* **Dense on an input of rank > 2** (a sequence, an (H, W, C) tensor) is a RESHAPE to
  ``(rows, features)``, a ``FULLY_CONNECTED`` without bias, a RESHAPE back and an ``ADD`` of the
  bias with ReLU / ReLU6 fused into it (another activation its own layer), as the converter
  writes it; a reshape only it reads (a Conv1D's reshape back) is merged into its first one.
  ``TimeDistributed(Dense)`` is a TRANSPOSE to time-major, a STRIDED_SLICE and a dense layer per
  step, a PACK and a TRANSPOSE back (the normalisation reads the transposes of the batch of 1 as
  reshapes); another wrapped layer is ``UNSUPPORTED``.
* **1-D layers are 2-D layers between reshapes.**  Conv1D is a RESHAPE to ``(1, 1, W, C)``,
  a ``CONV_2D`` with kernel ``(1, k)`` and a RESHAPE back (``causal`` padding: a ``PAD`` first);
  one-operator activations sit before the reshape back, and a BatchNormalization, constant or
  ReLU after the Conv1D is folded or fused into its convolution.  MaxPooling1D and
  AveragePooling1D are likewise 2-D poolings between reshapes.  GlobalAveragePooling /
  GlobalMaxPooling are ``MEAN`` / ``REDUCE_MAX`` over the spatial axes (none at all with
  ``keepdims`` over a 1×1 input, which the converter removes).
* **LSTM and GRU** are their gate arithmetic, step by step, in the converter's form: with
  ``unroll=True`` a TRANSPOSE and UNPACK of the sequence, a FILL of the zero state and, per
  step, the dense products, SPLIT / STRIDED_SLICE into gates, LOGISTIC / TANH, MUL / ADD / SUB;
  with ``unroll=False`` what the normalisation makes of the converter's WHILE loop (a GATHER per
  step, the initial state as constants, each step's output reshaped for the output list and a
  final STRIDED_SLICE); with ``unroll=True`` and a fixed batch size of 1 the first step folded
  with the zero state, as the converter folds it.  See :class:`_RecurrentSteps`.
  Configurations outside these forms (returned sequences or states, other activations, going
  backwards) are TFLite Micro's fused ``UNIDIRECTIONAL_SEQUENCE_LSTM`` (LSTM) or
  ``UNSUPPORTED`` (GRU).
* **Layers TFLite Micro runs as one operator** map onto it even where the converter writes
  something else: ``UpSampling2D`` → ``RESIZE_NEAREST_NEIGHBOR`` / ``RESIZE_BILINEAR`` (the
  converter writes nearest-neighbour upsampling as reshapes and tiles, which the normalisation
  turns into the same ``RESIZE_NEAREST_NEIGHBOR``), ``Embedding`` → ``GATHER`` (without the
  converter's cast and index fix-up).  Conv2DTranspose → ``TRANSPOSE_CONV``, LeakyReLU, PReLU,
  ELU, Maximum, Minimum, Average (ADDs then a MUL by ``1/n``), Permute → ``TRANSPOSE``,
  Cropping2D → ``STRIDED_SLICE`` and Flatten → ``RESHAPE`` are what the converter writes.
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
``keep_num_dims`` (dense: false, as the converter writes it), ``output_shape`` (transposed conv), ``size``
(resize), ``perm`` (transpose), ``begin``/``end``/``strides`` and their masks (strided slice),
``num``/``axis`` (unpack), ``num_splits``/``axis`` (split), ``dims`` (fill), the fused LSTM's
``time_major``/``n_cell``/``n_output``.  RESHAPE, PAD, MEAN, REDUCE_MAX, TRANSPOSE,
STRIDED_SLICE, SPLIT, GATHER, FILL, RESIZE and TRANSPOSE_CONV carry their int32 shape, axis and
index operands as constant inputs, as in ``.tflite`` files.

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

from tinymodel.errors import ModelReadError
from tinymodel.graph import Layer, ModelGraph, TensorSpec
from tinymodel.ops import Activation, OpType, Padding
from tinymodel.readers.files import read_head
from tinymodel.tfruntime import import_keras, quiet

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


def check_keras_file(path: Path) -> None:
    """Refuse, without importing TensorFlow, a path that cannot be a Keras model file: missing,
    not a regular file or too large (:func:`tinymodel.readers.files.open_model_file`), a name
    not ending in ``.keras``/``.h5``/``.hdf5``, content without the format's signature (a zip
    archive for ``.keras``, HDF5 for ``.h5``), or a ``.keras`` archive without ``config.json``."""
    if path.is_dir():
        raise ModelReadError(f"{path}: is a directory, not a .keras or .h5 file "
                             f"(SavedModel folders are not read; convert them to .tflite)")
    signature = KERAS_SUFFIXES.get(path.suffix.lower())
    if signature is None:
        raise ModelReadError(f"{path}: not a Keras file (expected a name ending in "
                             f"{', '.join(KERAS_SUFFIXES)})")
    head = read_head(path, len(signature))
    if head != signature:
        kind = "a zip archive" if path.suffix.lower() == ".keras" else "an HDF5 file"
        raise ModelReadError(f"{path}: not a Keras file (not {kind})")
    if path.suffix.lower() == ".keras":
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raise ModelReadError(f"{path}: corrupt or truncated .keras archive") from None
        if "config.json" not in names:
            raise ModelReadError(f"{path}: not a Keras model archive (no config.json)")


def _load(keras: Any, path: Path) -> keras.Model:
    """Load a model file that passed :func:`check_keras_file`, turning every failure into a
    one-line :class:`ModelReadError`."""
    try:
        with quiet():
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
    if isinstance(source, (str, os.PathLike)):
        check_keras_file(Path(source))     # before TensorFlow is imported
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
    #: False for a layer the converter writes apart from what follows it (a dilated
    #: convolution sits between SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND in the file): no
    #: BatchNormalization, constant or activation is fused into it.
    fusable: bool = True
    #: For the reshape back after a Conv1D's 2-D convolution: that convolution, into which
    #: what follows is folded or fused as if the reshape were not there (the converter does).
    through: _Draft | None = None
    #: The Keras layer the draft comes from (its name; ``name`` when not given), which is what
    #: ``folded`` records when the draft is folded into another.
    origin: str = ""

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
        if draft is not None and draft.through is not None and self._uses.get(spec.name) == 1:
            inner = draft.through
            if self._uses.get(inner.outputs[0].name) != 1:
                return None
            draft, spec = inner, inner.outputs[0]
        if (draft is None or draft.op not in ops or self._uses.get(spec.name) != 1
                or draft.attrs.get("activation", Activation.NONE) is not Activation.NONE
                or draft.outputs != [spec] or not draft.fusable):
            return None
        return draft

    def fuse_pad(self, src: TensorSpec, attrs: dict[str, Any]
                 ) -> tuple[TensorSpec, dict[str, Any], list[str]]:
        """The input, conv attributes and folded layer names of a convolution reading ``src``
        with ``attrs``, after the converter's fusion of a zero padding into it: when ``src`` is
        written only for this convolution by a ``PAD`` of the spatial axes whose amounts are
        exactly what ``SAME`` padding adds for the convolution's kernel and strides (dilation
        1), the PAD goes and the convolution reads its input with ``SAME`` padding (how the
        converter writes a ZeroPadding2D before a ``valid`` stride-2 conv, e.g. MobileNet's).
        Otherwise everything is returned unchanged."""
        pad = self._producer.get(src.name)
        if (attrs["padding"] is not Padding.VALID or attrs["dilation"] != (1, 1) or pad is None
                or pad.op is not OpType.PAD or self._uses.get(src.name) != 1
                or pad.outputs != [src] or not pad.fusable or pad.inputs[0] is None):
            return src, attrs, []
        x = pad.inputs[0]
        paddings = tuple(tuple(p) for p in pad.options.get("paddings", ()))
        if len(x.shape) != 4 or len(paddings) != 4 or paddings[0] != (0, 0) \
                or paddings[3] != (0, 0):
            return src, attrs, []
        for axis in (0, 1):
            size, k, s = x.shape[1 + axis], attrs["kernel"][axis], attrs["strides"][axis]
            total = max((-(-size // s) - 1) * s + k - size, 0)
            if paddings[1 + axis] != (total // 2, total - total // 2):
                return src, attrs, []
        self._drafts.remove(pad)
        del self._producer[src.name]
        return x, {**attrs, "padding": Padding.SAME}, [pad.name, *pad.folded]

    def fold_affine(self, src: TensorSpec, scale: np.ndarray, offset: np.ndarray,
                    name: str) -> _Draft | None:
        """Fold ``y = src · scale + offset`` (per output channel, or scalars) into the layer
        writing ``src`` when it may (:meth:`_sole_producer` of :data:`_FOLD_BN_INTO`), as the
        converter folds a BatchNormalization or a constant ADD/SUB/MUL/DIV into a conv or dense
        layer without activation: ``W' = W · scale`` per output channel, ``b' = b · scale +
        offset`` (a bias is created when the layer had none, unless the offset is zero).
        Records ``name`` as folded and returns the layer folded into, or ``None`` (nothing
        changed) when it may not."""
        target = self._sole_producer(src, _FOLD_BN_INTO)
        if target is None:
            return None
        weights, bias = target.inputs[1], target.inputs[2]
        if weights is None or weights.data is None:  # pragma: no cover - drafts carry data
            return None
        channels = weights.shape[-1] if target.op is OpType.DEPTHWISE_CONV_2D else weights.shape[0]
        scale = np.asarray(scale, np.float64)
        offset = np.asarray(offset, np.float64)
        if scale.size not in (1, channels) or offset.size not in (1, channels):
            return None
        scale = np.broadcast_to(scale.reshape(-1), (channels,))
        offset = np.broadcast_to(offset.reshape(-1), (channels,))
        w = weights.data.astype(np.float64)
        if target.op is OpType.DEPTHWISE_CONV_2D:
            w = w * scale                                   # last axis is the output channel
        else:
            w = w * scale.reshape((-1,) + (1,) * (w.ndim - 1))  # first axis: output channel
        dtype = weights.data.dtype
        target.inputs[1] = _const(weights.name, w.astype(dtype))
        if bias is not None and bias.data is not None:
            target.inputs[2] = _const(bias.name, (bias.data.astype(np.float64) * scale
                                                  + offset).astype(dtype))
        elif np.any(offset != 0):
            target.inputs[2] = _const(f"{target.name}/bias", offset.astype(dtype))
        target.folded.append(name)
        return target

    def fuse_input_scalars(self, src: TensorSpec, op: OpType, weights: TensorSpec,
                           bias: TensorSpec | None, padding: Padding
                           ) -> tuple[TensorSpec, TensorSpec, TensorSpec | None, list[str]]:
        """Fold a scalar ``MUL``/``DIV`` (into the weights) and, for ``valid`` padding, a
        scalar ``ADD``/``SUB`` (into the bias: ``b + c · ΣW`` per output channel) that compute
        ``src`` only for this conv / depthwise / dense layer, as the converter folds the
        arithmetic before such a layer (a ``Rescaling`` in front of the first convolution).
        Returns the input, weights, bias and folded layer names to use."""
        folded: list[str] = []
        while True:
            p = self._producer.get(src.name)
            if (p is None or p.op not in (OpType.ADD, OpType.SUB, OpType.MUL, OpType.DIV)
                    or self._uses.get(src.name) != 1 or p.outputs != [src] or not p.fusable
                    or p.attrs.get("activation", Activation.NONE) is not Activation.NONE
                    or len(p.inputs) != 2 or p.inputs[0] is None or p.inputs[1] is None
                    or p.inputs[0].is_constant or p.inputs[1].data is None
                    or p.inputs[1].size != 1 or weights.data is None):
                break
            c = float(np.asarray(p.inputs[1].data, np.float64).ravel()[0])
            w = weights.data.astype(np.float64)
            if p.op in (OpType.ADD, OpType.SUB):
                if padding is not Padding.VALID:
                    break
                axes = tuple(range(w.ndim - 1)) if op is OpType.DEPTHWISE_CONV_2D \
                    else tuple(range(1, w.ndim))
                shift = (c if p.op is OpType.ADD else -c) * w.sum(axis=axes)
                old = bias.data.astype(np.float64) if bias is not None and bias.data is not None \
                    else 0.0
                bias = _const(bias.name if bias is not None else f"{weights.name}_bias",
                              (old + shift).astype(weights.data.dtype))
            else:
                if c == 0:
                    break
                factor = c if p.op is OpType.MUL else 1.0 / c
                weights = _const(weights.name, (w * factor).astype(weights.data.dtype))
            self._drafts.remove(p)
            del self._producer[src.name]
            folded += [p.origin or p.name, *p.folded]
            src = p.inputs[0]
        return src, weights, bias, list(dict.fromkeys(folded))

    def layer(self, name: str, op: OpType, inputs: Sequence[TensorSpec | None],
              shapes: Sequence[tuple[int, ...]], dtype: str, source_op: str,
              **attrs: Any) -> _Draft:
        """Emit one of the layers that a Keras call becomes when it becomes several; its
        outputs (``shapes``) are named ``name`` (``name:<i>`` for more than one) and count one
        reader each until :meth:`_bind` ties one to a Keras tensor.  ``name`` is made unique
        unless it is the call's own name (``own=True``), which the last of them takes."""
        options = attrs.pop("options", {})
        fusable = attrs.pop("fusable", True)
        origin = attrs.pop("origin", "")
        name = name if attrs.pop("own", False) else self._unique(name)
        outs = [TensorSpec(name if len(shapes) == 1 else self._unique(f"{name}:{i}"),
                           tuple(shape), dtype) for i, shape in enumerate(shapes)]
        for t in outs:
            self._uses[t.name] = 1
        return self._emit(_Draft(name, op, list(inputs), outs, attrs, dict(options),
                                 source_op=source_op, fusable=fusable, origin=origin))

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
        fusable = attrs.pop("fusable", True)
        folded = list(attrs.pop("folded", ()))
        ins = list(inputs) if inputs is not None else [self._spec[id(t)] for t in call.in_tensors]
        out = self._out(call.name, call.out_tensors[0])
        return self._emit(_Draft(call.name, op, ins, [out], attrs, options, folded=folded,
                                 source_op=call.cls, fusable=fusable))

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
            if fn_name not in ACTIVATION_OPS and fn_name not in SIGMOID_GATED \
                    and fn_name != "hard_sigmoid":
                self._unsupported(call, f"Activation({fn_name})")
                return
            self._activation_layers(call, fn_name, src, call.name)
            return
        # fused into a conv / dense layer: ``draft`` wrote ``kt`` already
        if fn_name == "linear":
            return
        if fn_name in FUSED_ACTIVATIONS and draft.fusable:
            draft.attrs["activation"] = FUSED_ACTIVATIONS[fn_name]
            return
        pre = draft.outputs[0]
        self._uses[pre.name] = 1
        self._activation_layers(call, fn_name, pre, self._unique(f"{draft.name}/{fn_name}"))

    def _activation_layers(self, call: _Call, fn_name: str, src: TensorSpec, name: str) -> None:
        """Emit the layer(s) computing ``fn_name(src)`` as ``name``, bound to the call's output:
        one layer of :data:`ACTIVATION_OPS`, ``LOGISTIC`` then ``MUL`` for
        :data:`SIGMOID_GATED` (as the converter writes ``x · sigmoid(x)``), or an
        ``UNSUPPORTED`` layer ``Activation(<name>)``.  ``hard_sigmoid`` (Keras 3's
        ``relu6(x + 3) / 6``) is an ``ADD`` of 3 with ReLU6 fused — the 3 folded into the bias
        and the ReLU6 fused into a conv / dense layer writing ``src`` when it may
        (:meth:`fold_affine`) — then a ``MUL`` by ``1/6``, as the converter writes it."""
        if fn_name == "hard_sigmoid":
            target = self.fold_affine(src, 1.0, 3.0, call.op.name)
            if target is not None:
                target.attrs["activation"] = Activation.RELU6
                shifted = src
            else:
                three = _const(f"{name}/three", np.float32(3.0))
                shifted = self.layer(f"{name}/add", OpType.ADD, [src, three], [src.shape],
                                     src.dtype, call.cls, activation=Activation.RELU6).outputs[0]
            sixth = _const(f"{name}/sixth", np.float32(1.0 / 6.0))
            out = TensorSpec(name, src.shape, src.dtype)
            self._emit(_Draft(name, OpType.MUL, [shifted, sixth], [out], source_op=call.cls))
        elif fn_name in SIGMOID_GATED:
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

    def affine_layers(self, call: _Call, src: TensorSpec, scale: np.ndarray,
                      offset: np.ndarray) -> None:
        """Emit ``src · scale + offset`` as a ``MUL`` and an ``ADD`` with constant operands,
        bound to the call's output; a scale of ones or an offset of zeros gives no layer (both:
        the call is an identity)."""
        x, last = src, None
        steps = [(OpType.MUL, "scale", scale)] if np.any(scale != 1) else []
        if np.any(offset != 0):
            steps.append((OpType.ADD, "offset", offset))
        for i, (op, what, value) in enumerate(steps):
            name = call.name if i == len(steps) - 1 else f"{call.name}/{what}"
            operand = _const(f"{call.name}/{what}_value", value)
            last = self.layer(name, op, [x, operand], [x.shape], x.dtype, call.cls,
                              own=name == call.name, origin=call.op.name)
            x = last.outputs[0]
        if last is None:
            self.identity(call)
            return
        self._bind(call.out_tensors[0], x)

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


@_handles("Conv2D", emits=(OpType.CONV_2D, OpType.ADD, OpType.RELU, OpType.RELU6))
def _conv2d(reader: _GraphReader, call: _Call) -> None:
    layer = call.op
    if not _channels_last(reader, call):
        return
    weights = _const(f"{call.name}/kernel", _numpy(layer.kernel).transpose(3, 0, 1, 2))
    _convolution(reader, call, OpType.CONV_2D, weights, weights.shape[0],
                 groups=int(layer.groups))


@_handles("DepthwiseConv2D", emits=(OpType.DEPTHWISE_CONV_2D, OpType.ADD, OpType.RELU,
                                    OpType.RELU6))
def _depthwise(reader: _GraphReader, call: _Call) -> None:
    layer = call.op
    if not _channels_last(reader, call):
        return
    k = _numpy(layer.kernel)                      # (kh, kw, C, M)
    weights = _const(f"{call.name}/kernel", k.reshape(1, k.shape[0], k.shape[1], -1))
    _convolution(reader, call, OpType.DEPTHWISE_CONV_2D, weights, weights.shape[-1],
                 depth_multiplier=int(layer.depth_multiplier))


def _convolution(reader: _GraphReader, call: _Call, op: OpType, weights: TensorSpec,
                 channels: int, **extra: Any) -> None:
    """A Conv2D / DepthwiseConv2D as the converter writes it.

    * A ZeroPadding2D written only for it, whose amounts are what ``same`` padding adds, is
      fused into it (:meth:`_GraphReader.fuse_pad`).
    * Dilated, it is a convolution with a zero bias (the converter puts it between
      SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND, which the normalisation turns back into one
      dilated convolution), then an ``ADD`` of the bias when the bias is not all zero, with
      ReLU / ReLU6 fused into that ADD, or else as their own layer: nothing is fused into the
      convolution itself.
    * Otherwise the bias (zero when the layer has none) and ReLU / ReLU6 are fused.
    """
    layer = call.op
    src, attrs, folded = reader.fuse_pad(reader._in(call), _conv_attrs(layer))
    fn = _activation_name(layer.activation)
    if attrs["dilation"] == (1, 1):
        src, weights, bias, scalars = reader.fuse_input_scalars(
            src, op, weights, _bias(call.name, layer, channels), attrs["padding"])
        draft = reader.simple(call, op, [src, weights, bias], folded=scalars + folded,
                              **attrs, **extra)
        reader.activation(call, fn, draft)
        return
    zero = _const(f"{call.name}/bias", np.zeros(channels, dtype=weights.data.dtype))
    draft = reader.simple(call, op, [src, weights, zero], fusable=False, **attrs, **extra)
    bias = _bias(call.name, layer)
    if bias is not None and bias.data is not None and np.any(bias.data != 0):
        pre = draft.outputs[0]
        draft = reader.layer(f"{call.name}/bias_add", OpType.ADD,
                             [pre, _const(f"{call.name}/bias_value", bias.data)], [pre.shape],
                             pre.dtype, call.cls)
        reader._bind(call.out_tensors[0], draft.outputs[0])
    reader.activation(call, fn, draft)


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


@_handles("Dense", emits=(OpType.FULLY_CONNECTED, OpType.RESHAPE, OpType.ADD))
def _dense(reader: _GraphReader, call: _Call) -> None:
    """A ``FULLY_CONNECTED`` (bias and ReLU / ReLU6 fused).  On an input of rank > 2, what the
    converter writes (:func:`_dense_nd`)."""
    layer = call.op
    src = reader._in(call)
    weights = _const(f"{call.name}/kernel", _numpy(layer.kernel).T)
    if len(src.shape) > 2:
        _dense_nd(reader, call, src, weights)
        return
    options = {"keep_num_dims": False}
    src, weights, bias, folded = reader.fuse_input_scalars(
        src, OpType.FULLY_CONNECTED, weights, _bias(call.name, layer), Padding.VALID)
    draft = reader.simple(call, OpType.FULLY_CONNECTED, [src, weights, bias], options=options,
                          folded=folded)
    reader.activation(call, _activation_name(layer.activation), draft)


def _dense_nd(reader: _GraphReader, call: _Call, src: TensorSpec, weights: TensorSpec) -> None:
    """A ``Dense`` on an input of rank > 2 as the converter writes it: a ``RESHAPE`` to
    ``(rows, features)``, a ``FULLY_CONNECTED`` without bias, a ``RESHAPE`` back and an ``ADD``
    of the bias (when the layer has one) with ReLU / ReLU6 fused into it, or else the activation
    as its own layer; nothing is folded or fused into the dense layer itself.  A reshape that
    only this layer reads (a Conv1D's reshape back to ``(1, W, F)``) is merged into the first
    reshape, as the converter merges reshapes of reshapes."""
    layer = call.op
    out = reader._shape(call.out_tensors[0], call.name)
    units, n_in = weights.shape
    rows = src.size // n_in
    merged: list[str] = []
    p = reader._producer.get(src.name)
    if p is not None and p.op is OpType.RESHAPE and p.outputs == [src] \
            and reader._uses.get(src.name) == 1 and p.inputs and p.inputs[0] is not None:
        reader._drafts.remove(p)
        del reader._producer[src.name]
        merged = [p.origin or p.name, *p.folded]
        src = p.inputs[0]
    flat = _reshape_layer(reader, call, f"{call.name}/flatten", src, (rows, n_in))
    reader._producer[flat.name].folded.extend(merged)
    dense = reader.layer(f"{call.name}/matmul", OpType.FULLY_CONNECTED, [flat, weights, None],
                         [(rows, units)], src.dtype, call.cls, fusable=False,
                         options={"keep_num_dims": False})
    bias = _bias(call.name, layer)
    last = _reshape_layer(reader, call, call.name if bias is None else f"{call.name}/unflatten",
                          dense.outputs[0], out)
    draft = reader._producer[last.name]
    draft.fusable = False
    if bias is not None:
        draft = reader.layer(f"{call.name}/bias_add", OpType.ADD,
                             [last, _const(f"{call.name}/bias_value", bias.data)], [out],
                             src.dtype, call.cls)
    reader._bind(call.out_tensors[0], draft.outputs[0])
    reader.activation(call, _activation_name(layer.activation), draft)


@_handles("TimeDistributed", emits=(OpType.TRANSPOSE, OpType.STRIDED_SLICE,
                                    OpType.FULLY_CONNECTED, OpType.PACK))
def _time_distributed(reader: _GraphReader, call: _Call) -> None:
    """``TimeDistributed(Dense)`` over a ``(1, steps, features)`` input as the converter writes
    it: a ``TRANSPOSE`` to time-major, per step a ``STRIDED_SLICE`` and a ``FULLY_CONNECTED``
    (bias and ReLU / ReLU6 fused; another activation is its own layer after it), a ``PACK``
    and a ``TRANSPOSE`` back (the normalisation reads the transposes, which only move the batch
    of 1, as reshapes).  Any other wrapped layer is ``UNSUPPORTED``."""
    inner = getattr(call.op, "layer", None)
    src = reader._in(call)
    fn = _activation_name(getattr(inner, "activation", None))
    if type(inner).__name__ != "Dense" or len(src.shape) != 3 or src.shape[0] != 1 \
            or (fn not in FUSED_ACTIVATIONS and fn != "linear"):
        what = type(inner).__name__
        reader._unsupported(call, f"TimeDistributed({what}"
                                  f"{f'(activation={fn})' if what == 'Dense' else ''})")
        return
    _, steps, n_in = src.shape
    weights = _const(f"{call.name}/kernel", _numpy(inner.kernel).T)
    bias = _bias(call.name, inner)
    units = weights.shape[0]
    perm = _const(f"{call.name}/perm", np.array([1, 0, 2], dtype=np.int32))
    seq = reader.layer(f"{call.name}/transpose", OpType.TRANSPOSE, [src, perm],
                       [(steps, 1, n_in)], src.dtype, call.cls,
                       options={"perm": (1, 0, 2)}).outputs[0]
    rows = []
    for t in range(steps):
        begin, end, strides = (t, 0, 0), (t + 1, 0, 0), (1, 1, 1)
        operands = [_const(f"{call.name}/{k}{t}", np.array(v, dtype=np.int32))
                    for k, v in (("begin", begin), ("end", end), ("strides", strides))]
        x = reader.layer(f"{call.name}/strided_slice", OpType.STRIDED_SLICE, [seq, *operands],
                         [(1, n_in)], src.dtype, call.cls,
                         options={"begin": begin, "end": end, "strides": strides,
                                  "begin_mask": 6, "end_mask": 6,
                                  "shrink_axis_mask": 1}).outputs[0]
        step = reader.layer(f"{call.name}/dense", OpType.FULLY_CONNECTED, [x, weights, bias],
                            [(1, units)], src.dtype, call.cls,
                            options={"keep_num_dims": False})
        if fn in FUSED_ACTIVATIONS:
            step.attrs["activation"] = FUSED_ACTIVATIONS[fn]
        rows.append(step.outputs[0])
    packed = reader.layer(f"{call.name}/pack", OpType.PACK, rows, [(steps, 1, units)],
                          src.dtype, call.cls, options={"axis": 0, "values_count": steps})
    perm = _const(f"{call.name}/perm_back", np.array([1, 0, 2], dtype=np.int32))
    back = reader.layer(call.name, OpType.TRANSPOSE, [packed.outputs[0], perm],
                        [(1, steps, units)], src.dtype, call.cls, own=True,
                        options={"perm": (1, 0, 2)})
    reader._bind(call.out_tensors[0], back.outputs[0])


@_handles("Rescaling", emits=(OpType.MUL, OpType.ADD))
def _rescaling(reader: _GraphReader, call: _Call) -> None:
    """``x · scale + offset``: a ``MUL`` and an ``ADD`` with constant operands (none for a
    scale of 1 / an offset of 0); scalars right before a conv / dense layer are folded into it
    (:meth:`_GraphReader.fuse_input_scalars`), as the converter folds them."""
    layer = call.op
    scale = np.asarray(layer.scale, np.float32)
    offset = np.asarray(layer.offset, np.float32)
    reader.affine_layers(call, reader._in(call), scale, offset)


def _first(value: Any) -> int:
    """The one length of a 1-D layer's ``kernel_size``-like argument (an int or a 1-tuple)."""
    return int(value) if isinstance(value, int) else int(value[0])


def _reshape_layer(reader: _GraphReader, call: _Call, name: str, src: TensorSpec,
                   shape: tuple[int, ...]) -> TensorSpec:
    """Emit a ``RESHAPE`` of ``src`` to ``shape`` (with its int32 shape operand) for ``call``;
    its output."""
    operand = _const(f"{name}/shape", np.array(shape, dtype=np.int32))
    draft = reader.layer(name, OpType.RESHAPE, [src, operand], [shape], src.dtype, call.cls,
                         own=name == call.name, options={"new_shape": tuple(shape)})
    return draft.outputs[0]


def _input_1d(reader: _GraphReader, call: _Call) -> Any:
    """The 3-D (batch, steps, channels) input of a channels-last 1-D layer; ``None`` (after
    noting the layer as unsupported where that is why) when the layer cannot be read."""
    if not _channels_last(reader, call):
        return None
    src = reader._in(call)
    if len(src.shape) != 3:
        reader._unsupported(call)
        return None
    return src


@_handles("Conv1D", emits=(OpType.PAD, OpType.RESHAPE, OpType.CONV_2D))
def _conv1d(reader: _GraphReader, call: _Call) -> None:
    """A ``CONV_2D`` with kernel ``(1, k)`` between reshapes, as the converter writes a Conv1D
    (EXPAND_DIMS to ``(1, 1, W, C)``, the 2-D convolution, a reshape back to ``(1, W', F)``;
    the normalisation reads the EXPAND_DIMS as a reshape).  ``causal`` padding is a ``PAD`` of
    ``dilation·(k - 1)`` steps before the sequence, then a ``valid`` convolution.  ReLU / ReLU6
    are fused into the convolution, other one-operator activations come between the convolution
    and the reshape back (where the converter moves them), swish after it; what follows the Conv1D is folded or
    fused into the convolution as if the reshape were not there.  A dilated
    Conv1D becomes a convolution with dilation ``(1, d)`` (the converter writes
    SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND around it, which the normalisation does not rewrite
    for 1-D tensors)."""
    layer = call.op
    src = _input_1d(reader, call)
    if src is None:
        return
    k, stride, dilation = (_first(getattr(layer, a))
                           for a in ("kernel_size", "strides", "dilation_rate"))
    padding = str(layer.padding).lower()
    x = src
    if padding == "causal":
        paddings = ((0, 0), (dilation * (k - 1), 0), (0, 0))
        operand = _const(f"{call.name}/paddings", np.array(paddings, dtype=np.int32))
        shape = (x.shape[0], x.shape[1] + dilation * (k - 1), x.shape[2])
        x = reader.layer(f"{call.name}/pad", OpType.PAD, [x, operand], [shape], x.dtype,
                         call.cls, options={"paddings": paddings}).outputs[0]
        padding = "valid"
    n, w, c = x.shape
    x = _reshape_layer(reader, call, f"{call.name}/expand", x, (n, 1, w, c))
    out = reader._shape(call.out_tensors[0], call.name)
    kernel = _numpy(layer.kernel)                          # (k, C/groups, F)
    weights = _const(f"{call.name}/kernel", kernel.transpose(2, 0, 1)[:, None])
    conv = reader.layer(f"{call.name}/conv2d", OpType.CONV_2D,
                        [x, weights, _bias(call.name, layer, kernel.shape[-1])],
                        [(n, 1, out[1], out[2])], x.dtype, call.cls, kernel=(1, k),
                        strides=(1, stride), padding=Padding(padding), dilation=(1, dilation),
                        groups=int(layer.groups))
    fn = _activation_name(layer.activation)
    result = conv.outputs[0]
    if fn in FUSED_ACTIVATIONS:
        conv.attrs["activation"] = FUSED_ACTIVATIONS[fn]
    elif fn != "linear" and fn not in SIGMOID_GATED:
        reader._bind(call.out_tensors[0], result)
        reader.activation(call, fn, conv)
        result = reader._spec[id(call.out_tensors[0])]
    squeezed = _reshape_layer(reader, call, call.name, result, out)
    if result is conv.outputs[0]:
        reader._producer[squeezed.name].through = conv
    reader._bind(call.out_tensors[0], squeezed)
    if fn in SIGMOID_GATED:
        reader.activation(call, fn, reader._producer[squeezed.name])


@_handles("MaxPooling1D", "AveragePooling1D",
          emits={"MaxPooling1D": (OpType.RESHAPE, OpType.MAX_POOL_2D),
                 "AveragePooling1D": (OpType.RESHAPE, OpType.AVERAGE_POOL_2D)})
def _pool1d(reader: _GraphReader, call: _Call) -> None:
    """``MAX_POOL_2D`` / ``AVERAGE_POOL_2D`` with window ``(1, p)`` between reshapes to
    ``(1, 1, W, C)`` and back, as the converter writes a 1-D pooling."""
    layer = call.op
    src = _input_1d(reader, call)
    if src is None:
        return
    pool = _first(layer.pool_size)
    stride = _first(layer.strides if layer.strides is not None else layer.pool_size)
    op = OpType.MAX_POOL_2D if call.cls.startswith("Max") else OpType.AVERAGE_POOL_2D
    n, w, c = src.shape
    out = reader._shape(call.out_tensors[0], call.name)
    x = _reshape_layer(reader, call, f"{call.name}/expand", src, (n, 1, w, c))
    pooled = reader.layer(f"{call.name}/pool2d", op, [x], [(n, 1, out[1], out[2])], x.dtype,
                          call.cls, kernel=(1, pool), strides=(1, stride),
                          padding=Padding(str(layer.padding).lower()))
    reader._bind(call.out_tensors[0],
                 _reshape_layer(reader, call, call.name, pooled.outputs[0], out))


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


def _reduces_nothing(reader: _GraphReader, call: _Call, axes: tuple[int, ...]) -> bool:
    """True (and the call made an identity) for a global pooling with ``keepdims`` over axes of
    size 1: the converter removes it."""
    src = reader._in(call)
    if bool(call.op.keepdims) and all(src.shape[a] == 1 for a in axes):
        reader.identity(call)
        return True
    return False


@_handles("GlobalAveragePooling2D", emits=(OpType.MEAN,))
def _global_average(reader: _GraphReader, call: _Call) -> None:
    """``MEAN`` over the spatial axes; none with ``keepdims`` over a 1×1 input."""
    if not _channels_last(reader, call) or _reduces_nothing(reader, call, (1, 2)):
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


@_handles("Activation", emits=tuple(dict.fromkeys((*ACTIVATION_OPS.values(), OpType.MUL,
                                                   OpType.ADD))))
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
    """``REDUCE_MAX`` / ``MEAN`` over the spatial axes (``(1, 2)`` or ``(1,)``); none with
    ``keepdims`` over axes of size 1."""
    axes = (1, 2) if call.cls.endswith("2D") else (1,)
    if not _channels_last(reader, call) or _reduces_nothing(reader, call, axes):
        return
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


_RECURRENT_OPS = (OpType.TRANSPOSE, OpType.UNPACK, OpType.FILL, OpType.RESHAPE, OpType.GATHER,
                  OpType.FULLY_CONNECTED, OpType.ADD, OpType.SUB, OpType.MUL, OpType.SPLIT,
                  OpType.STRIDED_SLICE, OpType.LOGISTIC, OpType.TANH)


@_handles("LSTM", "GRU", emits={"LSTM": (*_RECURRENT_OPS, OpType.UNIDIRECTIONAL_SEQUENCE_LSTM),
                                "GRU": _RECURRENT_OPS})
def _recurrent(reader: _GraphReader, call: _Call) -> None:
    """An LSTM or GRU as the converter writes it (:class:`_RecurrentSteps`): step by step, in
    the unrolled form (``unroll=True``) or in the form the normalisation gives the WHILE loop
    (``unroll=False``).  Configurations outside those forms — another activation, backwards,
    stateful, returning sequences or states, a GRU without ``reset_after`` — are an
    ``UNIDIRECTIONAL_SEQUENCE_LSTM`` (LSTM) or UNSUPPORTED (GRU)."""
    layer = call.op
    cell = getattr(layer, "cell", layer)
    src = reader._in(call)
    batch = call.in_tensors[0].shape[0]
    plain = (_activation_name(cell.activation) == "tanh"
             and _activation_name(cell.recurrent_activation) == "sigmoid"
             and not layer.go_backwards and not layer.return_state and not layer.stateful
             and not layer.return_sequences and len(call.in_tensors) == 1
             and len(src.shape) == 3 and (call.cls == "LSTM" or bool(cell.reset_after)))
    if plain:
        _RecurrentSteps(reader, call, cell, fixed_batch=batch is not None).emit()
    elif call.cls == "LSTM":
        _fused_lstm(reader, call)
    else:
        reader._unsupported(call)


class _RecurrentSteps:
    """Emits one Keras LSTM / GRU call the way the converter writes it.

    Forms (the stock converter of TensorFlow 2.21, read and normalised):

    * ``unroll=True``, open batch: the sequence is ``TRANSPOSE``d to time-major and
      ``UNPACK``ed into steps; the zero state is one ``FILL``; every step has its own layers.
    * ``unroll=True``, fixed batch of 1: the sequence is ``RESHAPE``d to time-major and
      ``UNPACK``ed; the converter folds the first step's arithmetic with the zero state (an
      LSTM's first step is ``FC(x_0, W, bias)``, its gates and ``c = i·g``, without the forget
      gate; a GRU's recurrent product is its recurrent bias, added and multiplied as
      constants, ``h = (1 - z)·ĥ``); the LSTM's later recurrent products are reshaped to a
      vector before the sum, as in the WHILE form.
    * ``unroll=False`` (a WHILE loop, float; the normalisation unrolls it): the sequence is
      ``RESHAPE``d to time-major, each step ``GATHER``s its input, the initial state is a
      constant; the recurrent product is reshaped to a vector before the sum (LSTM); each step
      ``RESHAPE``s its output to ``(1, 1, units)`` for the output list, and a
      ``STRIDED_SLICE`` takes the last one.

    A step of an LSTM: ``FC(h, R)`` and ``FC(x_t, W)`` (no bias), their ``ADD``, an ``ADD`` of
    the bias (left out when it is all zero), a ``SPLIT`` into the gates i, f, g, o,
    ``LOGISTIC`` (i, f, o), ``TANH`` (g), ``c = f·c + i·g``, ``h = o·tanh(c)``.  A step of a
    GRU (reset after): ``FC(h, R, recurrent bias)`` cut by three ``STRIDED_SLICE``s,
    ``FC(x_t, W, input bias)`` ``SPLIT`` in three, ``z = σ(x_z + h_z)``,
    ``r = σ(x_r + h_r)``, ``ĥ = tanh(x_h + r·h_h)``, ``h = z·h + (1 - z)·ĥ``.  The weights are
    shared by all steps (one tensor each).
    """

    def __init__(self, reader: _GraphReader, call: _Call, cell: Any,
                 fixed_batch: bool = False) -> None:
        self.reader = reader
        self.call = call
        self.lstm = call.cls == "LSTM"
        self.unrolled = bool(call.op.unroll)
        #: unrolled with a fixed batch: the first step is folded with the zero state
        self.folded_start = self.unrolled and fixed_batch
        self.units = int(cell.units)
        self.dtype = reader._dtype(call.out_tensors[0])
        self.src = reader._in(call)
        name = call.name
        kernel, recurrent = _numpy(cell.kernel), _numpy(cell.recurrent_kernel)
        self.w_input = _const(f"{name}/kernel", kernel.T)
        self.w_state = _const(f"{name}/recurrent_kernel", recurrent.T)
        bias = _numpy(cell.bias) if getattr(cell, "bias", None) is not None else None
        if self.lstm:
            self.biases = [self._nonzero(f"{name}/bias", bias)]
        else:
            rows = bias if bias is not None else (None, None)
            self.biases = [self._nonzero(f"{name}/input_bias", rows[0]),
                           self._nonzero(f"{name}/recurrent_bias", rows[1])]

    @staticmethod
    def _nonzero(name: str, value: np.ndarray | None) -> TensorSpec | None:
        """The bias as a constant, ``None`` when there is none or it is all zero (the
        converter drops it)."""
        if value is None or not np.any(value != 0):
            return None
        return _const(name, np.asarray(value))

    def op(self, op: OpType, inputs: Sequence[TensorSpec | None],
           shapes: Sequence[tuple[int, ...]], **attrs: Any) -> list[TensorSpec]:
        """Emit one layer; its outputs."""
        draft = self.reader.layer(f"{self.call.name}/{op.label.lower()}", op, inputs, shapes,
                                  self.dtype, self.call.cls, **attrs)
        return draft.outputs

    def ints(self, what: str, values: Any) -> TensorSpec:
        return _const(f"{self.call.name}/{what}", np.array(values, dtype=np.int32))

    def emit(self) -> None:
        """Emit every step and bind the last state (or the last output-list entry) to the
        call's output."""
        batch, steps, n_in = self.src.shape
        u = self.units
        if self.folded_start:
            seq = self.op(OpType.RESHAPE, [self.src, self.ints("time_major", [steps, batch, n_in])],
                          [(steps, batch, n_in)],
                          options={"new_shape": (steps, batch, n_in)})[0]
            inputs = self.op(OpType.UNPACK, [seq], [(batch, n_in)] * steps,
                             options={"num": steps, "axis": 0})
            h = c = None
        elif self.unrolled:
            seq = self.op(OpType.TRANSPOSE, [self.src, self.ints("perm", [1, 0, 2])],
                          [(steps, batch, n_in)], options={"perm": (1, 0, 2)})[0]
            inputs = self.op(OpType.UNPACK, [seq], [(batch, n_in)] * steps,
                             options={"num": steps, "axis": 0})
            zero = self.op(OpType.FILL, [self.ints("dims", [batch, u]),
                                         _const(f"{self.call.name}/zero", np.float32(0.0))],
                           [(batch, u)], options={"dims": (batch, u)})[0]
            h = c = zero
        else:
            seq = self.op(OpType.RESHAPE, [self.src, self.ints("time_major", [steps, batch, n_in])],
                          [(steps, batch, n_in)],
                          options={"new_shape": (steps, batch, n_in)})[0]
            h = _const(f"{self.call.name}/initial_h", np.zeros((batch, u), np.float32))
            c = _const(f"{self.call.name}/initial_c", np.zeros((batch, u), np.float32))
        out = None
        for t in range(steps):
            if self.unrolled:
                x = inputs[t]
            else:
                x = self.op(OpType.GATHER, [seq, self.ints(f"step{t}", t)], [(batch, n_in)],
                            options={"axis": 0, "batch_dims": 0})[0]
            if h is None:
                h, c = self.lstm_first(x) if self.lstm else (self.gru_first(x), None)
            elif self.lstm:
                h, c = self.lstm_step(x, h, c)
            else:
                h = self.gru_step(x, h)
            if not self.unrolled:
                out = self.op(OpType.RESHAPE, [h, self.ints("entry", [batch, 1, u])],
                              [(batch, 1, u)], options={"new_shape": (batch, 1, u)})[0]
        result = h
        if out is not None:
            begin, end, strides = (-1, 0, 0), (0, 1, u), (1, 1, 1)
            result = self.op(OpType.STRIDED_SLICE,
                             [out, self.ints("begin", begin), self.ints("end", end),
                              self.ints("strides", strides)], [(batch, u)],
                             options={"begin": begin, "end": end, "strides": strides,
                                      "begin_mask": 6, "end_mask": 6, "shrink_axis_mask": 1})[0]
        self.reader._bind(self.call.out_tensors[0], result)

    def dense(self, x: TensorSpec, weights: TensorSpec, bias: TensorSpec | None) -> TensorSpec:
        return self.op(OpType.FULLY_CONNECTED, [x, weights, bias],
                       [(x.shape[0], weights.shape[0])],
                       options={"keep_num_dims": False})[0]

    def lstm_step(self, x: TensorSpec, h: TensorSpec, c: TensorSpec
                  ) -> tuple[TensorSpec, TensorSpec]:
        batch, u = h.shape
        state = self.dense(h, self.w_state, None)
        if not self.unrolled or self.folded_start:
            state = self.op(OpType.RESHAPE, [state, self.ints("flat", [4 * u])], [(4 * u,)],
                            options={"new_shape": (4 * u,)})[0]
        s = self.op(OpType.ADD, [self.dense(x, self.w_input, None), state], [(batch, 4 * u)])[0]
        if self.biases[0] is not None:
            s = self.op(OpType.ADD, [s, self.biases[0]], [(batch, 4 * u)])[0]
        i, f, g, o = self.op(OpType.SPLIT, [self.ints("axis", 1), s], [(batch, u)] * 4,
                             options={"axis": 1, "num_splits": 4})
        one = [(batch, u)]
        i, f, o = (self.op(OpType.LOGISTIC, [gate], one)[0] for gate in (i, f, o))
        g = self.op(OpType.TANH, [g], one)[0]
        kept = self.op(OpType.MUL, [f, c], one)[0]
        c = self.op(OpType.ADD, [kept, self.op(OpType.MUL, [i, g], one)[0]], one)[0]
        h = self.op(OpType.MUL, [o, self.op(OpType.TANH, [c], one)[0]], one)[0]
        return h, c

    def lstm_first(self, x: TensorSpec) -> tuple[TensorSpec, TensorSpec]:
        """The first step from the zero state, as the converter folds it: ``c = i·g``."""
        batch, u = x.shape[0], self.units
        one = [(batch, u)]
        i, _, g, o = self.op(OpType.SPLIT, [self.ints("axis", 1),
                                            self.dense(x, self.w_input, self.biases[0])],
                             one * 4, options={"axis": 1, "num_splits": 4})
        i, o = (self.op(OpType.LOGISTIC, [gate], one)[0] for gate in (i, o))
        c = self.op(OpType.MUL, [i, self.op(OpType.TANH, [g], one)[0]], one)[0]
        h = self.op(OpType.MUL, [o, self.op(OpType.TANH, [c], one)[0]], one)[0]
        return h, c

    def gru_first(self, x: TensorSpec) -> TensorSpec:
        """The first step from the zero state, as the converter folds it: the recurrent product
        is the recurrent bias (constants added and multiplied, all-zero parts left out) and
        ``h = (1 - z)·ĥ``."""
        batch, u = x.shape[0], self.units
        one = [(batch, u)]
        bias = self.biases[1]
        parts: list[TensorSpec | None] = [None, None, None]
        if bias is not None and bias.data is not None:
            for k in range(3):
                value = np.asarray(bias.data[k * u:(k + 1) * u]).reshape(1, u)
                if np.any(value != 0):
                    parts[k] = _const(f"{self.call.name}/recurrent_bias{k}", value)
        x_z, x_r, x_h = self.op(OpType.SPLIT, [self.ints("axis", -1),
                                               self.dense(x, self.w_input, self.biases[0])],
                                one * 3, options={"axis": -1, "num_splits": 3})

        def plus(a: TensorSpec, b: TensorSpec | None) -> TensorSpec:
            return a if b is None else self.op(OpType.ADD, [a, b], one)[0]

        z = self.op(OpType.LOGISTIC, [plus(x_z, parts[0])], one)[0]
        rest = self.op(OpType.SUB, [_const(f"{self.call.name}/one", np.float32(1.0)), z], one)[0]
        if parts[2] is not None:
            r = self.op(OpType.LOGISTIC, [plus(x_r, parts[1])], one)[0]
            x_h = plus(x_h, self.op(OpType.MUL, [r, parts[2]], one)[0])
        candidate = self.op(OpType.TANH, [x_h], one)[0]
        return self.op(OpType.MUL, [rest, candidate], one)[0]

    def gru_step(self, x: TensorSpec, h: TensorSpec) -> TensorSpec:
        batch, u = h.shape
        one = [(batch, u)]
        state = self.dense(h, self.w_state, self.biases[1])
        cuts = []
        for k, (masks, begin, end) in enumerate((((3, 1), (0, 0), (0, u)),
                                                 ((1, 1), (0, u), (0, 2 * u)),
                                                 ((1, 3), (0, 2 * u), (0, 0)))):
            cuts.append(self.op(OpType.STRIDED_SLICE,
                                [state, self.ints(f"begin{k}", begin), self.ints(f"end{k}", end),
                                 self.ints("strides", (1, 1))], one,
                                options={"begin": begin, "end": end, "strides": (1, 1),
                                         "begin_mask": masks[0], "end_mask": masks[1],
                                         "shrink_axis_mask": 0})[0])
        h_z, h_r, h_h = cuts
        x_z, x_r, x_h = self.op(OpType.SPLIT, [self.ints("axis", -1),
                                               self.dense(x, self.w_input, self.biases[0])],
                                one * 3, options={"axis": -1, "num_splits": 3})
        z = self.op(OpType.LOGISTIC, [self.op(OpType.ADD, [x_z, h_z], one)[0]], one)[0]
        r = self.op(OpType.LOGISTIC, [self.op(OpType.ADD, [x_r, h_r], one)[0]], one)[0]
        candidate = self.op(OpType.TANH, [self.op(OpType.ADD, [
            x_h, self.op(OpType.MUL, [r, h_h], one)[0]], one)[0]], one)[0]
        keep = self.op(OpType.MUL, [z, h], one)[0]
        rest = self.op(OpType.SUB, [_const(f"{self.call.name}/one", np.float32(1.0)), z], one)[0]
        return self.op(OpType.ADD, [keep, self.op(OpType.MUL, [rest, candidate], one)[0]],
                       one)[0]


def _fused_lstm(reader: _GraphReader, call: _Call) -> None:
    """An LSTM the converter's forms do not cover (:func:`_recurrent`) as TFLite Micro's fused
    ``UNIDIRECTIONAL_SEQUENCE_LSTM`` kernel, with TFLite's 24
    inputs: the input, the input-to-gate and recurrent-to-gate weights ``(units, n)`` of the
    gates i, f, c, o (Keras's ``kernel`` and ``recurrent_kernel`` split by gate and
    transposed), no peepholes, the four gate biases (zeros when the layer has none), no
    projection, the output and cell state variables ``(1, units)`` and no layer norm.  Its
    output is the whole sequence; without ``return_sequences`` a ``STRIDED_SLICE`` takes the
    last step.  Only the plain configuration is mapped (tanh / sigmoid activations, forward,
    stateless, no returned state); others stay unsupported."""
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
    converter writes it).  ``x + c``, ``x - c``, ``x · c`` and ``x / c`` with a scalar or
    per-channel constant ``c`` right after a conv / dense layer without activation are folded
    into its bias and weights (:meth:`_GraphReader.fold_affine`), as the converter folds them
    (MobileNetV3's hard sigmoid ``ReLU6(conv(x) + 3) / 6`` keeps only the division)."""
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
    op = _OPS_BINARY[f"ops.{call.cls}"]
    a, b = operands
    if a is not None and b is not None and b.is_constant and not a.is_constant \
            and b.data is not None:
        c = b.data.astype(np.float64)
        affine = {OpType.ADD: (1.0, c), OpType.SUB: (1.0, -c), OpType.MUL: (c, 0.0),
                  OpType.DIV: (1.0 / c if np.all(c != 0) else None, 0.0)}.get(op)
        if affine is not None and affine[0] is not None \
                and reader.fold_affine(a, affine[0], affine[1], call.name):
            reader._alias(call.out_tensors[0], a)
            return
    elif a is not None and b is not None and a.is_constant and a.data is not None \
            and op in (OpType.ADD, OpType.MUL) and not b.is_constant:
        c = a.data.astype(np.float64)
        affine = (1.0, c) if op is OpType.ADD else (c, 0.0)
        if reader.fold_affine(b, affine[0], affine[1], call.name):
            reader._alias(call.out_tensors[0], b)
            return
    reader.simple(call, op, operands)


@_handles(*_OPS_UNARY, emits={cls: (op,) for cls, op in _OPS_UNARY.items()})
def _ops_unary(reader: _GraphReader, call: _Call) -> None:
    """Keras elementwise functions of one tensor (``ops.exp``, ``ops.sqrt``, ``ops.sigmoid``,
    ``ops.relu``, ...)."""
    if len(call.in_tensors) != 1 or len(call.out_tensors) != 1:
        reader._unsupported(call, f"ops.{call.cls}")
        return
    reader.simple(call, _OPS_UNARY[f"ops.{call.cls}"], [reader._in(call)])


@_handles("BatchNormalization", emits=(OpType.MUL, OpType.ADD))
def _batch_norm(reader: _GraphReader, call: _Call) -> None:
    """Fold into the layer before (see the module docstring); else a ``MUL`` by the folded
    scale ``γ / sqrt(σ² + ε)`` and an ``ADD`` of the folded offset ``β - μ · scale`` (constant
    ``(C,)`` operands), as the converter writes it — a MUL by ones or an ADD of zeros is left
    out, as the converter leaves it out.  A BatchNormalization over another axis than the last
    stays UNSUPPORTED."""
    layer = call.op
    src = reader._in(call)
    rank = len(src.shape)
    axis = layer.axis if isinstance(layer.axis, int) else None
    if axis is None or axis % rank != rank - 1:
        reader._unsupported(call)
        return
    channels = src.shape[-1]
    gamma = _numpy(layer.gamma) if layer.gamma is not None else np.ones(channels)
    beta = _numpy(layer.beta) if layer.beta is not None else np.zeros(channels)
    mean, var = _numpy(layer.moving_mean), _numpy(layer.moving_variance)
    scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + float(layer.epsilon))
    offset = beta.astype(np.float64) - mean.astype(np.float64) * scale
    if reader.fold_affine(src, scale, offset, layer.name):
        reader._alias(call.out_tensors[0], src)
        return
    reader.affine_layers(call, src, scale.astype(np.float32), offset.astype(np.float32))


for _cls in IDENTITY_LAYERS:
    HANDLERS[_cls] = _GraphReader.identity
    _MAPPED[_cls] = ()
del _cls
