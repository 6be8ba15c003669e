"""`hiface train`: train a restorer from a YAML config -- HiFaceGAN (and its ablation variants) or
GFRNet, picked by the config's ``task:`` key."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..config import apply_overrides, to_yaml
from ..errors import HifaceError
from ..train import make_trainer
from ..train import prepare_data as _prepare
from ..train.config import load_train_config
from ..train.export import export_generator
from ._common import friendly_errors

EPILOG = """\b
Examples:
  # smoke test on generated faces (CPU, about a minute)
  hiface train --config configs/hifacegan-tiny.yaml --run-dir runs/tiny
  # the lite recipe at 256² on the shared UTKFace chips, with a few changes
  hiface train --config configs/hifacegan-lite256.yaml --run-dir runs/lite256 \\
      --set train.batch_size=2 --set loss.warmup_steps=1000
  # ablation: pairwise suppression (paper Eq. 2-3) instead of LIP
  hiface train --config configs/hifacegan-ablation-pairwise-spade.yaml
  # continue an interrupted run (Ctrl-C saves a checkpoint), optionally for longer; overrides
  # given with --resume are written into the run's config.yaml and logged with their step
  hiface train --resume runs/lite256 --set train.steps=200000
  # fine-tune the shipped default on whole faces with the identity loss (dlib embedding, FED's net)
  hiface train --config configs/hifacegan-lite-default.yaml --run-dir runs/lite-id \\
      --set model.init_weights=src/hiface/weights/hifacegan-lite.safetensors --set loss.warmup_steps=0 \\
      --set data.crop=0 --set train.batch_size=3 --set loss.lambda_identity=10
  # the EMA generator as .safetensors (metadata: arch, config, step)
  hiface train --export runs/lite256 lite256.safetensors
  hiface train --export runs/lite256 lite256-fp16.safetensors --fp16   # half the size
  # only filter the clean pool and split it (lists in the run folder), then stop
  hiface train --config configs/hifacegan-lite256.yaml --prepare-data
  # GFRNet (task: gfrnet): WarpNet pre-training, then end to end; same --resume / --export / torchrun
  hiface train --config configs/gfrnet-cpu.yaml --run-dir runs/gfrnet-cpu
  hiface train --export runs/gfrnet-cpu/checkpoints/best.pt gfrnet.safetensors --fp16
  # many GPUs / processes: the same command under torchrun (gloo on CPU, NCCL on GPU)
  torchrun --nproc_per_node=4 -m hiface.cli.main train --config configs/hifacegan-paper-ngf64.yaml
  # two nodes: torchrun's usual flags, on each node (--node_rank=0 / 1)
  torchrun --nnodes=2 --node_rank=0 --nproc_per_node=8 --master_addr=HOST0 --master_port=29500 \\
      -m hiface.cli.main train --config configs/hifacegan-paper-ngf64.yaml

\b
Tasks (the config's task: key): hifacegan (default; configs/hifacegan-*.yaml) and gfrnet
(configs/gfrnet*.yaml). Both share the run folder, checkpoints, --resume, --export, EMA, torchrun.

\b
Run folder: config.yaml, split_{train,val}.txt (hifacegan also quality_{kept,dropped}.txt,
quality_scores.tsv), log.csv + log.jsonl (losses, lr), metrics.csv (validation of the EMA
generator: PSNR/SSIM; gfrnet: PSNR and the warp's landmark error), samples/step_N.png
(hifacegan rows: degraded | restored | clean; gfrnet rows: degraded | reference | warped |
restored | clean), checkpoints/step_N.pt (last N kept; log.keep_best: also checkpoints/best.pt).
Mixed precision (train.amp=bf16|fp16) applies to hifacegan on CUDA only; on CPU it is ignored
with a warning.
"""


@click.command(name="train", epilog=EPILOG, context_settings={"max_content_width": 100})
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML training config (see configs/).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value, e.g. --set optim.lr_g=2e-4 (repeatable).")
@click.option("-r", "--run-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Run folder (default: runs/<config name>).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Continue the run in this folder from its latest checkpoint.")
@click.option("--export", "export", nargs=2, type=click.Path(path_type=Path), metavar="RUN_DIR OUT",
              help="Write the EMA generator of RUN_DIR's latest checkpoint (or of a .pt file) to OUT.safetensors.")
@click.option("--fp16", "half", is_flag=True, help="With --export: store the weights as float16 (half the size).")
@click.option("--overwrite", is_flag=True, help="Start over in an existing run folder / replace an export.")
@click.option("--print-config", is_flag=True, help="Print the resolved config as YAML and exit.")
@click.option("--prepare-data", is_flag=True, help="Run the quality filter and the split (gfrnet: the split and the landmark cache), "
                   "write the lists, exit.")
@friendly_errors
def train(config_path, overrides, run_dir, resume_dir, export, half, overwrite, print_config, prepare_data):
    """Train or fine-tune a restorer from a YAML config (its task: key picks HiFaceGAN or GFRNet).

    task: hifacegan -- one G step then one D step per iteration: LSGAN + feature matching (10) +
    perceptual (10) [+ L1] [+ identity], Adam β=(0, 0.9), TTUR (G 1e-4, D 4e-4), constant then
    linear decay, EMA generator. task: gfrnet -- WarpNet pre-training (landmark + TV losses), then
    end to end (MSE + perceptual [+ global/local GANs]), EMA generator.
    Ctrl-C finishes the current step, saves a checkpoint and exits with code 130.
    """
    if export:
        out = export_generator(export[0], export[1], overwrite=overwrite, half=half)
        click.echo(f"wrote {out}")
        return 0
    if resume_dir is not None and (config_path or run_dir):
        raise HifaceError("--resume RUN_DIR uses RUN_DIR/config.yaml: do not also pass --config/--run-dir "
                          "(use --set to change values)")
    if resume_dir is None and config_path is None:
        raise HifaceError("pass --config CFG.yaml (or --resume RUN_DIR, or --export RUN_DIR OUT); "
                          "see `hiface train --help`")
    if resume_dir is not None:
        cfg = apply_overrides(load_train_config(resume_dir / "config.yaml"), overrides)
    else:
        cfg = load_train_config(config_path, overrides)
    if print_config:
        click.echo(to_yaml(cfg), nl=False)
        return 0
    run_dir = resume_dir or run_dir or Path("runs") / config_path.stem
    if prepare_data:
        train_items, val_items, q = _prepare(cfg, run_dir)
        msg = f"train {len(train_items)}, val {len(val_items)}"
        if q is not None:
            msg = f"quality filter kept {len(q.kept)}, dropped {len(q.dropped)} (threshold {q.threshold}); " + msg
        click.echo(f"{msg}; lists written to {run_dir}")
        return 0

    trainer = make_trainer(cfg, run_dir, resume=resume_dir is not None, overwrite=overwrite, overrides=overrides)
    try:
        return trainer.run()
    finally:
        trainer.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(train(standalone_mode=True))
