"""Metric registry: name, label, direction, reference type and provenance of every metric.

Kinds of reference:
  ``full``  per image, needs the ground truth (PSNR, SSIM, MS-SSIM, FED, LLE, LPIPS, proxy dist)
  ``none``  per image, no reference (NIQE)
  ``set``   one value for a whole set compared with the ground-truth set (FID, proxy FD)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import ConfigError

__all__ = ["MetricSpec", "METRICS", "parse_metrics", "describe_metrics"]


@dataclass(frozen=True)
class MetricSpec:
    name: str
    label: str
    higher_is_better: bool
    reference: str          # "full" | "none" | "set"
    standard: bool = True   # False: an offline proxy, not comparable with published numbers
    description: str = ""

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"

    @property
    def header(self) -> str:
        """Table header: label, direction arrow, and a proxy mark for non-standard metrics."""
        return f"{self.label}{' (proxy)' if not self.standard else ''} {self.arrow}"

    def to_dict(self) -> dict:
        return {**asdict(self), "direction": "higher is better" if self.higher_is_better else "lower is better"}


_ALL = (
    MetricSpec("psnr", "PSNR", True, "full", description="peak signal-to-noise ratio in dB (hiface.metrics.psnr_ssim.psnr)"),
    MetricSpec("ssim", "SSIM", True, "full", description="structural similarity, Gaussian window 11, sigma 1.5 (Wang et al. 2004)"),
    MetricSpec("ms_ssim", "MS-SSIM", True, "full", description="multi-scale SSIM, 5 scales (Wang et al. 2003); images > 160 px"),
    MetricSpec("niqe", "NIQE", False, "none", description="no-reference naturalness (Mittal et al. 2013), MATLAB port as in BasicSR"),
    MetricSpec("fed", "FED", False, "full", description="L2 distance of dlib 128-d face embeddings, as face_recognition computes them (HiFaceGAN §4.2)"),
    MetricSpec("lle", "LLE", False, "full", description="mean pixel distance of the 68 dlib landmarks (HiFaceGAN §4.2)"),
    MetricSpec("lpips", "LPIPS", False, "full", description="LPIPS v0.1, AlexNet (Zhang et al. 2018); needs AlexNet weights"),
    MetricSpec("fid", "FID", False, "set", description="Fréchet Inception distance, pytorch-fid pool3 (set level); needs Inception weights"),
    MetricSpec("mnv2_dist", "MNV2-dist", False, "full", standard=False,
               description="NON-STANDARD proxy: unweighted LPIPS-style distance on MobileNetV2 ImageNet features"),
    MetricSpec("mnv2_fd", "MNV2-FD", False, "set", standard=False,
               description="NON-STANDARD proxy: Fréchet distance of MobileNetV2 pooled features (set level)"),
)
#: name -> spec, in report order
METRICS: dict[str, MetricSpec] = {m.name: m for m in _ALL}

_ALIASES = {"msssim": "ms_ssim", "ms-ssim": "ms_ssim", "mnv2-dist": "mnv2_dist", "mnv2-fd": "mnv2_fd"}


def parse_metrics(spec: str | None, *, has_gt: bool = True) -> list[str]:
    """Parse ``"all"`` or ``"psnr,ssim,..."`` into metric names (report order).

    ``all`` without ground truth keeps only no-reference metrics. Naming a metric that needs a
    ground truth when there is none, or an unknown name, raises ConfigError."""
    spec = (spec or "all").strip().lower()
    if spec == "all":
        return [n for n, m in METRICS.items() if has_gt or m.reference == "none"]
    names = []
    for raw in spec.split(","):
        n = _ALIASES.get(raw.strip(), raw.strip())
        if not n:
            continue
        if n not in METRICS:
            import difflib

            close = difflib.get_close_matches(n, METRICS, n=2)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"unknown metric {raw.strip()!r}{hint}; known: all, {', '.join(METRICS)}")
        if not has_gt and METRICS[n].reference != "none":
            raise ConfigError(f"metric {n!r} needs ground truth (--gt); without it only "
                              f"{', '.join(k for k, m in METRICS.items() if m.reference == 'none')} can be computed")
        if n not in names:
            names.append(n)
    if not names:
        raise ConfigError("no metric selected")
    return [n for n in METRICS if n in names]


def describe_metrics() -> str:
    """One line per metric: name, direction, reference, description."""
    kind = {"full": "full-reference", "none": "no-reference", "set": "set-level"}
    return "\n".join(f"{m.name:10s} {m.arrow}  {kind[m.reference]:15s} {m.description}" for m in METRICS.values())
