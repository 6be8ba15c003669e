"""RetinaFace (Deng et al., CVPR 2020) with the MobileNet-0.25 backbone, in plain torch: the
network alone. Detection (anchors, decoding, NMS, the two trained variants, weights) is
:mod:`hiface.faces.retinaface`. Parameter names follow the official checkpoints.
"""
from __future__ import annotations

import functools

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["RetinaFace", "MobileNetV1"]


def _conv_bn(inp, oup, stride=1, leaky=0.0, k=3, relu=True):
    layers = [nn.Conv2d(inp, oup, k, stride, k // 2, bias=False), nn.BatchNorm2d(oup)]
    if relu:
        layers.append(nn.LeakyReLU(negative_slope=leaky, inplace=True))
    return nn.Sequential(*layers)


def _conv_dw(inp, oup, stride, leaky=0.1):
    return nn.Sequential(
        nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp),
        nn.LeakyReLU(negative_slope=leaky, inplace=True),
        nn.Conv2d(inp, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup),
        nn.LeakyReLU(negative_slope=leaky, inplace=True))


class MobileNetV1(nn.Module):
    """MobileNet-0.25 trunk (the three stages RetinaFace reads)."""

    def __init__(self, leaky=0.1):
        super().__init__()
        dw = functools.partial(_conv_dw, leaky=leaky)
        self.stage1 = nn.Sequential(_conv_bn(3, 8, 2, leaky=leaky), dw(8, 16, 1), dw(16, 32, 2),
                                    dw(32, 32, 1), dw(32, 64, 2), dw(64, 64, 1))
        self.stage2 = nn.Sequential(dw(64, 128, 2), *[dw(128, 128, 1) for _ in range(5)])
        self.stage3 = nn.Sequential(dw(128, 256, 2), dw(256, 256, 1))

    def forward(self, x):
        c1 = self.stage1(x)
        c2 = self.stage2(c1)
        return c1, c2, self.stage3(c2)

class FPN(nn.Module):
    def __init__(self, in_list, out, leaky=0.1):
        super().__init__()
        self.output1 = _conv_bn(in_list[0], out, leaky=leaky, k=1)
        self.output2 = _conv_bn(in_list[1], out, leaky=leaky, k=1)
        self.output3 = _conv_bn(in_list[2], out, leaky=leaky, k=1)
        self.merge1 = _conv_bn(out, out, leaky=leaky)
        self.merge2 = _conv_bn(out, out, leaky=leaky)

    def forward(self, feats):
        o1, o2, o3 = self.output1(feats[0]), self.output2(feats[1]), self.output3(feats[2])
        o2 = self.merge2(o2 + F.interpolate(o3, size=o2.shape[-2:], mode="nearest"))
        o1 = self.merge1(o1 + F.interpolate(o2, size=o1.shape[-2:], mode="nearest"))
        return o1, o2, o3

class SSH(nn.Module):
    """Single-stage headless context module: 3x3, 5x5 (two 3x3), 7x7 (three 3x3) branches."""

    def __init__(self, cin, cout, leaky=0.1):
        super().__init__()
        self.conv3X3 = _conv_bn(cin, cout // 2, relu=False)
        self.conv5X5_1 = _conv_bn(cin, cout // 4, leaky=leaky)
        self.conv5X5_2 = _conv_bn(cout // 4, cout // 4, relu=False)
        self.conv7X7_2 = _conv_bn(cout // 4, cout // 4, leaky=leaky)
        self.conv7x7_3 = _conv_bn(cout // 4, cout // 4, relu=False)

    def forward(self, x):
        a = self.conv3X3(x)
        b1 = self.conv5X5_1(x)
        b = self.conv5X5_2(b1)
        c = self.conv7x7_3(self.conv7X7_2(b1))
        return F.relu(torch.cat([a, b, c], 1))

class Head(nn.Module):
    def __init__(self, cin, num_anchors, n):
        super().__init__()
        self.n = n
        self.conv1x1 = nn.Conv2d(cin, num_anchors * n, 1)

    def forward(self, x):
        y = self.conv1x1(x).permute(0, 2, 3, 1).contiguous()
        return y.view(y.shape[0], -1, self.n)

class RetinaFace(nn.Module):
    """Returns (box deltas (B, A, 4), class probabilities (B, A, 2), landmark deltas (B, A, 10))."""

    def __init__(self, in_channel: int = 32, out_channel: int = 64, num_anchors: int = 2, leaky: float = 0.1):
        super().__init__()
        self.body = MobileNetV1(leaky)
        chans = [in_channel * 2, in_channel * 4, in_channel * 8]
        self.fpn = FPN(chans, out_channel, leaky)
        self.ssh1, self.ssh2, self.ssh3 = (SSH(out_channel, out_channel, leaky) for _ in range(3))
        self.ClassHead = nn.ModuleList(Head(out_channel, num_anchors, 2) for _ in range(3))
        self.BboxHead = nn.ModuleList(Head(out_channel, num_anchors, 4) for _ in range(3))
        self.LandmarkHead = nn.ModuleList(Head(out_channel, num_anchors, 10) for _ in range(3))

    def forward(self, x):
        f = self.fpn(self.body(x))
        feats = [self.ssh1(f[0]), self.ssh2(f[1]), self.ssh3(f[2])]
        loc = torch.cat([h(t) for h, t in zip(self.BboxHead, feats)], 1)
        conf = torch.cat([h(t) for h, t in zip(self.ClassHead, feats)], 1)
        ldm = torch.cat([h(t) for h, t in zip(self.LandmarkHead, feats)], 1)
        return loc, F.softmax(conf, dim=-1), ldm
