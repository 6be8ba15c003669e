"""A reader for ncnn model files (``.param`` graph + ``.bin`` weights), enough to lift the
weights of plain convolutional nets into PyTorch state dicts.

Format (ncnn wiki "param and model file structure"):

* ``.param`` is text: the magic ``7767517``, ``layer_count blob_count``, then one line per layer:
  ``Type Name n_in n_out in_blobs... out_blobs... k=v ...``. A key ``-233KK=n,v1,..,vn``
  (i.e. ``-23300 - KK``) holds an array for key ``KK``. Values are ints, or floats when they
  contain ``.``/``e``.
* ``.bin`` is the concatenation, in layer order, of each layer's blobs as its ``load_model``
  reads them. A blob read with type 0 (e.g. convolution weights) starts with a 4-byte flag:
  tag ``0x01306B47`` = float16 data (padded to 4 bytes), tag ``0x000D4B38`` = int8 data,
  all-zero = raw float32, any other = 256-entry float32 code book + uint8 indices (padded).
  A blob read with type 1 (biases, PReLU slopes) is raw float32, no flag.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import WeightsError

__all__ = ["NcnnLayer", "NcnnModel", "read_param", "read_ncnn"]

MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38


@dataclass
class NcnnLayer:
    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, int | float | list]
    blobs: dict[str, np.ndarray] = field(default_factory=dict)  #: float32 weights, by role

    def get(self, key: int, default=None):
        return self.params.get(key, default)


@dataclass
class NcnnModel:
    layers: list[NcnnLayer]

    def of_type(self, *types: str) -> list[NcnnLayer]:
        return [lyr for lyr in self.layers if lyr.type in types]


def _value(s: str) -> int | float:
    return float(s) if re.search(r"[.eE]", s) else int(s)


def read_param(path: str | os.PathLike) -> list[NcnnLayer]:
    """Parse a text ``.param`` file into layers (no weights)."""
    path = Path(path)
    try:
        tokens_by_line = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise WeightsError(f"cannot read ncnn param file {path}: {e}") from e
    if not tokens_by_line or tokens_by_line[0] != [str(MAGIC)]:
        raise WeightsError(f"{path} is not a text ncnn .param file (no magic {MAGIC})")
    try:
        n_layers = int(tokens_by_line[1][0])
        layers = []
        for tok in tokens_by_line[2:2 + n_layers]:
            typ, name, ni, no = tok[0], tok[1], int(tok[2]), int(tok[3])
            ins, outs = tok[4:4 + ni], tok[4 + ni:4 + ni + no]
            params: dict[int, int | float | list] = {}
            for kv in tok[4 + ni + no:]:
                k, v = kv.split("=", 1)
                key = int(k)
                if key <= -23300:  # array: -23300 - key = n,v1,...,vn
                    vals = v.split(",")
                    params[-23300 - key] = [_value(x) for x in vals[1:1 + int(vals[0])]]
                else:
                    params[key] = _value(v)
            layers.append(NcnnLayer(typ, name, ins, outs, params))
    except (IndexError, ValueError) as e:
        raise WeightsError(f"malformed ncnn param file {path}: {e}") from e
    if len(layers) != n_layers:
        raise WeightsError(f"{path}: header says {n_layers} layers, found {len(layers)}")
    return layers


class _BinReader:
    def __init__(self, data: bytes, source: str):
        self.data, self.pos, self.source = data, 0, source

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise WeightsError(f"{self.source} is truncated (needs {self.pos + n} bytes, has {len(self.data)})")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def load(self, n: int, typ: int) -> np.ndarray:
        """Read ``n`` values as ModelBinFromDataReader::load(w, type) does; float32 out."""
        if typ == 1:
            return np.frombuffer(self._take(4 * n), "<f4").copy()
        flag = self._take(4)
        tag = int.from_bytes(flag, "little")
        if tag == TAG_FP16:
            raw = self._take((2 * n + 3) // 4 * 4)
            return np.frombuffer(raw[:2 * n], "<f2").astype(np.float32)
        if tag == TAG_INT8:
            raise WeightsError(f"{self.source}: int8-quantized ncnn weights are not supported")
        if not any(flag):
            return np.frombuffer(self._take(4 * n), "<f4").copy()
        table = np.frombuffer(self._take(256 * 4), "<f4")  # 8-bit code book
        idx = np.frombuffer(self._take((n + 3) // 4 * 4)[:n], np.uint8)
        return table[idx].astype(np.float32)


def _load_layer(layer: NcnnLayer, rd: _BinReader) -> None:
    t = layer.type
    if t == "Convolution":
        size = int(layer.get(6, 0))
        layer.blobs["weight"] = rd.load(size, 0)
        if int(layer.get(5, 0)):
            layer.blobs["bias"] = rd.load(int(layer.get(0)), 1)
    elif t == "PReLU":
        layer.blobs["slope"] = rd.load(int(layer.get(0, 0)), 1)
    elif t in ("Input", "Split", "Concat", "Eltwise", "Interp", "BinaryOp", "PixelShuffle", "ReLU",
               "Sigmoid", "Crop", "Noop"):
        return  # no weights
    else:
        raise WeightsError(f"{rd.source}: ncnn layer type {t!r} ({layer.name}) is not supported by this reader")


def read_ncnn(param: str | os.PathLike, bin: str | os.PathLike) -> NcnnModel:
    """Read a ``.param``/``.bin`` pair; every weighted layer gets float32 ``blobs``."""
    layers = read_param(param)
    try:
        data = Path(bin).read_bytes()
    except OSError as e:
        raise WeightsError(f"cannot read ncnn weight file {bin}: {e}") from e
    rd = _BinReader(data, str(bin))
    for layer in layers:
        _load_layer(layer, rd)
    if rd.pos != len(data):
        raise WeightsError(f"{bin}: {len(data) - rd.pos} bytes left after the last layer "
                           "(the .param and .bin do not belong together)")
    return NcnnModel(layers)
