"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1``) in plain PyTorch.

This is the network behind the paper's FED metric (:mod:`hiface.metrics.face`): a 29-layer
ResNet (Davis King, 2017) mapping a 150x150 RGB face chip to a 128-d embedding, where two
photos of one person lie within 0.6. Ported so training can use it as a differentiable
identity loss (:class:`hiface.losses.IdentityLoss`); FED itself still runs on dlib.

The architecture follows dlib's ``dnn_face_recognition_ex.cpp``::

    conv 7x7/2 (32) - affine - relu - maxpool 3x3/2
    3 x res(32), res_down(64) + 3 x res(64), res_down(128) + 2 x res(128),
    res_down(256) + 2 x res(256), res_down(256), global average pool, fc 128 (no bias)

with ``res(x) = relu(x + B(x))`` and ``res_down(x) = relu(avgpool2(x) + B_stride2(x))``,
``B = affine . conv3x3 . relu . affine . conv3x3`` (the first conv carries the stride, no padding
when strided). dlib adds tensors of different sizes by zero-padding the smaller one (channels
and, at 8 -> 4/3 px, space): :func:`_add_padded` does the same.

The weights are read from the ``.dat`` file shipped by ``face-recognition-models`` (dlib's
serialisation writes each parameter tensor as a packed-int shape header followed by raw
little-endian float32 data), so nothing is downloaded or converted ahead of time.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..assets import locate

__all__ = ["DlibFaceResNet", "load_dlib_face_resnet", "read_dlib_tensors", "DLIB_MEAN_RGB",
           "DLIB_CHIP_SIZE", "DLIB_CHIP_PADDING"]

#: dlib ``input_rgb_image_sized<150>``: subtract these 0-255 means, divide by 256
DLIB_MEAN_RGB = (122.782, 117.001, 104.298)
DLIB_CHIP_SIZE = 150
DLIB_CHIP_PADDING = 0.25  # face_recognition / compute_face_descriptor default


def _add_padded(a: Tensor, b: Tensor) -> Tensor:
    """dlib ``add_prev``: the sum on the larger shape, the smaller operand zero-padded."""
    if a.shape == b.shape:
        return a + b
    c, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def pad(t: Tensor) -> Tensor:
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))
    return pad(a) + pad(b)


class _Affine(nn.Module):
    """dlib ``affine_`` (a frozen batch norm): y = gamma * x + beta per channel."""

    def __init__(self, c: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(c))
        self.beta = nn.Parameter(torch.zeros(c))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)


class _Res(nn.Module):
    def __init__(self, cin: int, cout: int, down: bool):
        super().__init__()
        self.down = down
        self.conv1 = nn.Conv2d(cin, cout, 3, 2 if down else 1, 0 if down else 1)
        self.bn1 = _Affine(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.bn2 = _Affine(cout)

    def forward(self, x: Tensor) -> Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        skip = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(_add_padded(skip, y))


#: (channels, downsample) of the residual units, input side first
_UNITS = ([(32, False)] * 3 + [(64, True)] + [(64, False)] * 3 + [(128, True)] + [(128, False)] * 2
          + [(256, True)] + [(256, False)] * 2 + [(256, True)])


class DlibFaceResNet(nn.Module):
    """(B, 3, 150, 150) RGB face chips in [0, 1] -> (B, 128) dlib face embeddings."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 7, 2, 0)
        self.bn1 = _Affine(32)
        units, c = [], 32
        for cout, down in _UNITS:
            units.append(_Res(c, cout, down))
            c = cout
        self.units = nn.ModuleList(units)
        self.fc = nn.Linear(256, 128, bias=False)
        self.register_buffer("mean", torch.tensor(DLIB_MEAN_RGB).view(1, 3, 1, 1) / 255.0, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        x = (x - self.mean) * (255.0 / 256.0)           # dlib: (pixel - mean) / 256 on 0-255 values
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2)
        for u in self.units:
            x = u(x)
        return self.fc(x.mean(dim=(2, 3)))


# ------------------------------------------------------------------------------ dlib .dat reader
def _packed_int(buf: bytes, pos: int) -> tuple[int, int] | None:
    """dlib's portable integer: a control byte (low nibble: byte count, 0x80: negative), then the
    magnitude little-endian. Returns (value, next position) or None if malformed."""
    if pos >= len(buf):
        return None
    ctrl = buf[pos]
    n = ctrl & 0x0F
    if ctrl & 0x70 or n > 8 or pos + 1 + n > len(buf):
        return None
    v = int.from_bytes(buf[pos + 1: pos + 1 + n], "little")
    return (-v if ctrl & 0x80 else v), pos + 1 + n


def read_dlib_tensors(path: str | Path) -> list[np.ndarray]:
    """The parameter tensors (>= 32 values, 1-D or 2-D) of a dlib DNN ``.dat`` file, in file
    (= input-to-output) order, each as a flat float32 array. A tensor is ``int 2`` (version), four
    packed ints (num_samples, k, nr, nc), then the raw little-endian float32 data (dlib's
    ``serialize(const tensor&)``)."""
    buf = Path(path).read_bytes()
    out: list[np.ndarray] = []
    pos, end = 0, len(buf)
    while pos < end - 10:
        if buf[pos] == 1 and buf[pos + 1] == 2:
            p, dims = pos + 2, []
            for _ in range(4):
                r = _packed_int(buf, p)
                if r is None or r[0] < 0:
                    break
                dims.append(r[0])
                p = r[1]
            if len(dims) == 4:
                n = int(np.prod(dims))
                # >= 32 values: runs of layer version numbers (int 2) mimic tiny headers
                if n >= 32 and p + 4 * n <= end and dims[2:] == [1, 1]:
                    out.append(np.frombuffer(buf, dtype="<f4", count=n, offset=p).astype(np.float32))
                    pos = p + 4 * n
                    continue
        pos += 1
    return out


def load_dlib_face_resnet(path: str | Path | None = None) -> DlibFaceResNet:
    """The network with dlib's weights (default: the file of ``face-recognition-models``), in eval
    mode with frozen parameters. Raises UnavailableError when the model file is missing and
    ValueError when the file's tensors do not match the architecture."""
    if path is None:
        path = locate("dlib_face_rec")
    net = DlibFaceResNet()
    convs: list[tuple[nn.Conv2d, _Affine]] = [(net.conv1, net.bn1)]
    for u in net.units:
        convs += [(u.conv1, u.bn1), (u.conv2, u.bn2)]
    expected = []
    for conv, bn in convs:
        expected += [conv.weight.numel() + conv.bias.numel(), 2 * bn.gamma.numel()]
    expected.append(net.fc.weight.numel())
    tensors = read_dlib_tensors(path)
    sizes = [t.size for t in tensors]
    if sizes != expected:
        raise ValueError(f"{path}: not dlib_face_recognition_resnet_model_v1 ({len(sizes)} parameter tensors "
                         f"of sizes {sizes[:4]}..., expected {len(expected)} of sizes {expected[:4]}...)")
    it = iter(tensors)
    with torch.no_grad():
        for conv, bn in convs:
            t = torch.from_numpy(next(it))
            nw = conv.weight.numel()
            conv.weight.copy_(t[:nw].view_as(conv.weight))
            conv.bias.copy_(t[nw:])
            t = torch.from_numpy(next(it))
            c = bn.gamma.numel()
            bn.gamma.copy_(t[:c])
            bn.beta.copy_(t[c:])
        # dlib fc computes x @ W with W (num_inputs, num_outputs) row-major
        net.fc.weight.copy_(torch.from_numpy(next(it)).view(256, 128).t())
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net
