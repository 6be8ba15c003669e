"""torch.distributed set-up for `hiface train` under torchrun (single- or multi-node).

torchrun exports RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; without them the
run is a single process and nothing here touches torch.distributed. Backend: NCCL on CUDA,
gloo on CPU. Only rank 0 logs, writes samples and checkpoints.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["DistInfo", "init_distributed", "cleanup", "barrier", "broadcast_object", "all_reduce_mean",
           "average_gradients", "sync_batchnorm_stats"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str = "auto") -> tuple[DistInfo, "object"]:
    """Initialise the process group from torchrun's environment variables.

    Returns (DistInfo, torch.device). ``device="auto"`` picks ``cuda:LOCAL_RANK`` when CUDA is
    available, else CPU."""
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        if dev.index is None:
            dev = torch.device("cuda", local if world > 1 else torch.cuda.current_device())
        torch.cuda.set_device(dev)
    if world <= 1:
        return DistInfo(), dev
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world,
                                **({"device_id": dev} if dev.type == "cuda" else {}))
    return DistInfo(rank, world, local, backend), dev


def cleanup() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        import torch.distributed as dist

        dist.barrier()


def broadcast_object(obj, info: DistInfo, src: int = 0):
    """Rank ``src``'s picklable ``obj`` on every rank."""
    if not info.enabled:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_reduce_mean(values: dict[str, float], info: DistInfo, device) -> dict[str, float]:
    """Average scalar logs over ranks (for logging only)."""
    if not info.enabled or not values:
        return values
    import torch
    import torch.distributed as dist

    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    t /= info.world_size
    return dict(zip(keys, t.tolist()))


def sync_batchnorm_stats(model, info: DistInfo) -> None:
    """Average BatchNorm running statistics over ranks (one all-reduce of all of them).

    DDP only broadcasts rank 0's buffers at the next forward, so each rank otherwise ends the
    run with its own statistics; averaging keeps every rank identical and makes the running
    estimate use the global batch (as SyncBatchNorm would)."""
    if not info.enabled:
        return
    import torch
    import torch.distributed as dist
    from torch.nn.modules.batchnorm import _BatchNorm

    bufs = [b for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats
            for b in (m.running_mean, m.running_var) if b is not None]
    if not bufs:
        return
    with torch.no_grad():
        flat = torch.cat([b.reshape(-1) for b in bufs])
        dist.all_reduce(flat)
        flat /= info.world_size
        i = 0
        for b in bufs:
            b.copy_(flat[i:i + b.numel()].view_as(b))
            i += b.numel()


def average_gradients(params, info: DistInfo) -> None:
    """Average the gradients of ``params`` over ranks in one all-reduce (what DDP does after
    ``backward``), for models trained through methods a DDP wrapper cannot see. Parameters
    without a gradient on this rank contribute zeros."""
    if not info.enabled:
        return
    import torch
    import torch.distributed as dist

    params = [p for p in params if p.requires_grad]
    if not params:
        return
    with torch.no_grad():
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat /= info.world_size
        i = 0
        for p in params:
            n = p.numel()
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            p.grad.copy_(flat[i:i + n].view_as(p))
            i += n
