"""Losses that supervise GFRNet's WarpNet (Li et al., ECCV 2018, §3.3).

All functions take the sampling grid Φ (B, H, W, 2) that :class:`hiface.archs.gfrnet.WarpNet`
predicts, in ``grid_sample``'s normalised coordinates (``align_corners=False``), and
landmarks in *pixel* coordinates (x, y) of an H×W image. Pure functions, differentiable in Φ.

* :func:`landmark_loss` — Eq. (landmark loss): at each ground-truth landmark p_i of the
  degraded face, the grid must point to the same landmark q_i of the reference:
  ``mean_i ||Φ(p_i) - q_i||²``.
* :func:`tv_loss` — total-variation smoothness of the flow (the displacement Φ - Φ_id).
* :func:`symmetry_loss` — optional: for a frontal, aligned face the flow is mirror symmetric
  (paper's symmetry loss, our formulation: see the function).

Reconstruction (MSE + perceptual) and the global/local GAN losses live with the training
loop (``hiface.train.tasks.gfrnet``, ``hiface train`` with ``task: gfrnet``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..archs.gfrnet import grid_to_flow

__all__ = ["pixel_to_grid", "grid_to_pixel", "sample_grid_at", "landmark_loss", "tv_loss", "symmetry_loss",
           "as_flow"]


def pixel_to_grid(points: torch.Tensor, size: tuple[int, int] | int) -> torch.Tensor:
    """Pixel coordinates (..., 2) as (x, y) of an H×W image -> normalised grid coordinates.

    Pixel centres: x = 0 is the centre of the first column (``align_corners=False``)."""
    h, w = (size, size) if isinstance(size, int) else size
    scale = points.new_tensor([w, h])
    return (points * 2 + 1) / scale - 1


def grid_to_pixel(points: torch.Tensor, size: tuple[int, int] | int) -> torch.Tensor:
    """Inverse of :func:`pixel_to_grid`."""
    h, w = (size, size) if isinstance(size, int) else size
    scale = points.new_tensor([w, h])
    return ((points + 1) * scale - 1) / 2


def sample_grid_at(grid: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinearly read the grid Φ (B, H, W, 2) at pixel points (B, N, 2) -> (B, N, 2) normalised."""
    h, w = grid.shape[1:3]
    where = pixel_to_grid(points.to(grid.dtype), (h, w))[:, :, None, :]        # (B, N, 1, 2)
    vals = F.grid_sample(grid.permute(0, 3, 1, 2), where, mode="bilinear", padding_mode="border",
                         align_corners=False)                                   # (B, 2, N, 1)
    return vals[..., 0].transpose(1, 2)


def landmark_loss(grid: torch.Tensor, gt_landmarks: torch.Tensor, ref_landmarks: torch.Tensor,
                  valid: torch.Tensor | None = None) -> torch.Tensor:
    """Landmark loss: ``mean ||Φ(p_i) - q_i||²`` in normalised coordinates (paper §3.3).

    Args:
        grid: (B, H, W, 2) sampling grid predicted for the degraded face.
        gt_landmarks: (B, N, 2) pixel (x, y) landmarks p_i of the ground truth / degraded face.
        ref_landmarks: (B, N, 2) pixel landmarks q_i of the same points in the reference (same H×W).
        valid: optional (B,) or (B, N) mask; samples/points without landmarks are ignored.
    """
    h, w = grid.shape[1:3]
    pred = sample_grid_at(grid, gt_landmarks)
    target = pixel_to_grid(ref_landmarks.to(grid.dtype), (h, w))
    err = (pred - target).pow(2).sum(-1)                                        # (B, N)
    if valid is None:
        return err.mean()
    m = valid.to(err.dtype)
    m = m[:, None].expand_as(err) if m.dim() == 1 else m
    return (err * m).sum() / m.sum().clamp_min(1.0)


def as_flow(grid_or_flow: torch.Tensor) -> torch.Tensor:
    """A sampling grid (B, H, W, 2) -> displacement flow (B, 2, H, W); a (B, 2, H, W) flow passes."""
    if grid_or_flow.dim() == 4 and grid_or_flow.shape[-1] == 2 and grid_or_flow.shape[1] != 2:
        return grid_to_flow(grid_or_flow)
    return grid_or_flow


def tv_loss(flow: torch.Tensor) -> torch.Tensor:
    """Total variation of a flow: mean squared difference of horizontal and vertical neighbours.

    ``flow`` is a displacement (B, 2, H, W) or a sampling grid (B, H, W, 2), which is first
    turned into its displacement from the identity (so an identity grid or any constant shift
    costs exactly zero; paper §3.3 uses TV to keep Φ smooth).
    """
    f = as_flow(flow)
    dx = f[..., :, 1:] - f[..., :, :-1]
    dy = f[..., 1:, :] - f[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


def symmetry_loss(grid: torch.Tensor) -> torch.Tensor:
    """Mirror symmetry of the warp for frontal faces aligned to a symmetric template.

    If the degraded face is mirror symmetric about the vertical centre line, the points x and
    W-1-x of one row should be sent to points that are mirror images about the reference's
    midline: their vertical targets agree, and their horizontal targets average to the row's
    midline. We penalise ``(Φy(x) - Φy(W-1-x))²`` and the spread over a row of
    ``(Φx(x) + Φx(W-1-x)) / 2``. Only a soft prior: keep its weight small (faces in profile
    break it).
    """
    m = grid.flip(2)
    vy = (grid[..., 1] - m[..., 1]).pow(2).mean()
    mid = (grid[..., 0] + m[..., 0]) / 2
    vx = (mid - mid.mean(dim=2, keepdim=True)).pow(2).mean()
    return vx + vy
