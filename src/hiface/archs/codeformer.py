"""CodeFormer; its restorer is :class:`hiface.restorers.codeformer.CodeFormerRestorer`.

CodeFormer (Zhou et al., NeurIPS 2022, "Towards Robust Blind Face Restoration with Codebook
Lookup Transformer"): a VQ autoencoder learns a discrete codebook of HQ face parts (Sec. 3.1);
a transformer predicts the code sequence of the HQ face from the LQ encoder features
(Sec. 3.2, top-1 lookup at inference); a controllable feature transformation (CFT, Sec. 3.3,
Eq. 7) fuses LQ encoder features into the decoder with a user weight w in [0, 1]:
``F_d' = F_d + w * (alpha * F_d + beta)``, ``(alpha, beta) = P(cat[F_e, F_d])``.
Small w favours quality (codebook prior), large w fidelity to the input.

Names and shapes match ``CodeFormer`` of sczhou/CodeFormer (dim_embd 512, 8 heads, 9 layers,
codebook 1024 x 256, 16x16 latent, connect_list 32/64/128/256): ``codeformer.pth`` loads with
``strict=True`` (515 tensors). Inference follows the official script: RGB in [-1, 1], top-1
codes, AdaIN of the quantized features to the LQ features' statistics, CFT skipped entirely
when w = 0.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from .vqgan import Encoder, Generator, ResBlock, VectorQuantizer, level_channels

__all__ = ["CodeFormer", "TransformerSALayer", "FuseSFTBlock", "codeformer",
           "calc_mean_std", "adaptive_instance_normalization"]


def calc_mean_std(feat: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Per-sample, per-channel mean and std (unbiased variance + eps) of (B, C, H, W) features."""
    f = feat.flatten(2)
    return f.mean(2)[..., None, None], (f.var(2) + eps).sqrt()[..., None, None]


def adaptive_instance_normalization(content: Tensor, style: Tensor) -> Tensor:
    """AdaIN (Huang & Belongie 2017): give ``content`` the channel mean/std of ``style``."""
    cm, cs = calc_mean_std(content)
    sm, ss = calc_mean_std(style)
    return (content - cm) / cs * ss + sm


class TransformerSALayer(nn.Module):
    """Pre-norm transformer layer: x + MHA(LN(x) + pos, LN(x) + pos, LN(x)); x + MLP(LN(x)) with GELU.

    Sequence-first tensors (L, B, C), as in the checkpoints' ``nn.MultiheadAttention``.
    """

    def __init__(self, embed_dim: int, nhead: int = 8, dim_mlp: int = 2048):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(embed_dim, nhead, dropout=0.0)
        self.linear1 = nn.Linear(embed_dim, dim_mlp)
        self.linear2 = nn.Linear(dim_mlp, embed_dim)
        self.norm1 = nn.LayerNorm(embed_dim)
        self.norm2 = nn.LayerNorm(embed_dim)

    def forward(self, x: Tensor, pos: Tensor | None = None) -> Tensor:
        h = self.norm1(x)
        qk = h if pos is None else h + pos
        x = x + self.self_attn(qk, qk, h, need_weights=False)[0]
        return x + self.linear2(F.gelu(self.linear1(self.norm2(x))))


class FuseSFTBlock(nn.Module):
    """Controllable feature transformation (CodeFormer Eq. 7).

    ``enc' = ResBlock(cat[enc, dec])``; ``out = dec + w * (dec * scale(enc') + shift(enc'))``.
    """

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.encode_enc = ResBlock(2 * in_ch, out_ch)
        self.scale = nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.LeakyReLU(0.2, True),
                                   nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.shift = nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.LeakyReLU(0.2, True),
                                   nn.Conv2d(out_ch, out_ch, 3, padding=1))

    def forward(self, enc_feat: Tensor, dec_feat: Tensor, w: float = 1.0) -> Tensor:
        e = self.encode_enc(torch.cat([enc_feat, dec_feat], dim=1))
        return dec_feat + w * torch.addcmul(self.shift(e), dec_feat, self.scale(e))


class CodeFormer(nn.Module):
    """VQ autoencoder + code-prediction transformer + CFT fusion.

    Args:
        img_size: input/output side (512 released; e.g. 64 for small tests).
        nf, ch_mult, num_res_blocks, attn_resolutions: VQ autoencoder layout.
        codebook_size, emb_dim: codebook entries and latent channels (1024, 256).
        dim_embd, n_head, n_layers: transformer width, heads, depth (MLP width = 2 * dim_embd).
        connect_list: resolutions where encoder features are fused into the decoder (CFT).
    """

    def __init__(self, img_size: int = 512, nf: int = 64, ch_mult: Sequence[int] = (1, 2, 2, 4, 4, 8),
                 num_res_blocks: int = 2, attn_resolutions: Sequence[int] = (16,), codebook_size: int = 1024,
                 emb_dim: int = 256, dim_embd: int = 512, n_head: int = 8, n_layers: int = 9,
                 connect_list: Sequence[int | str] = (32, 64, 128, 256)):
        super().__init__()
        ch_mult, attn_resolutions = tuple(ch_mult), tuple(int(r) for r in attn_resolutions)
        n_lvl = len(ch_mult)
        self.img_size, self.emb_dim = img_size, emb_dim
        self.latent_side = img_size // 2 ** (n_lvl - 1)
        if self.latent_side * 2 ** (n_lvl - 1) != img_size:
            raise ConfigError(f"img_size {img_size} is not divisible by 2**{n_lvl - 1}")
        sizes = {img_size // 2 ** i: i for i in range(n_lvl)}  # side -> level
        self.connect_list = [int(s) for s in connect_list]
        for s in self.connect_list:
            if s not in sizes or s == self.latent_side or s in attn_resolutions:
                raise ConfigError(f"connect_list size {s} must be a non-attention decoder resolution "
                                  f"among {sorted(k for k in sizes if k != self.latent_side)}")

        self.position_emb = nn.Parameter(torch.zeros(self.latent_side ** 2, dim_embd))
        self.encoder = Encoder(3, nf, emb_dim, ch_mult, num_res_blocks, img_size, attn_resolutions)
        self.quantize = VectorQuantizer(codebook_size, emb_dim)
        self.generator = Generator(nf, emb_dim, ch_mult, num_res_blocks, img_size, attn_resolutions)
        self.feat_emb = nn.Linear(emb_dim, dim_embd)
        self.ft_layers = nn.Sequential(*[TransformerSALayer(dim_embd, n_head, 2 * dim_embd) for _ in range(n_layers)])
        self.idx_pred_layer = nn.Sequential(nn.LayerNorm(dim_embd), nn.Linear(dim_embd, codebook_size, bias=False))
        chs = level_channels(nf, ch_mult)
        self.fuse_convs_dict = nn.ModuleDict(
            {str(s): FuseSFTBlock(chs[sizes[s]], chs[sizes[s]]) for s in self.connect_list})
        # block indices where encoder features are tapped / decoder features fused, per size
        self.fuse_encoder_block = {s: self.encoder.level_outputs[sizes[s]] for s in self.connect_list}
        self.fuse_generator_block = {s: self.generator.level_inputs[sizes[s]] for s in self.connect_list}

    # -- stages -------------------------------------------------------------------
    def encode(self, x: Tensor, keep_features: bool = True) -> tuple[Tensor, dict[int, Tensor]]:
        """LQ latent features (B, emb_dim, h, w) and the encoder features to fuse, by size
        (none with ``keep_features=False``)."""
        taps = {i: s for s, i in self.fuse_encoder_block.items()} if keep_features else {}
        enc: dict[int, Tensor] = {}
        for i, block in enumerate(self.encoder.blocks):
            x = block(x)
            if i in taps:
                enc[taps[i]] = x
        return x, enc

    def predict_logits(self, lq_feat: Tensor) -> Tensor:
        """Transformer code prediction (Sec. 3.2): logits (B, h*w, codebook_size)."""
        tokens = self.feat_emb(lq_feat.flatten(2).permute(2, 0, 1))  # (HW, B, C)
        pos = self.position_emb[:, None]
        for layer in self.ft_layers:
            tokens = layer(tokens, pos)
        return self.idx_pred_layer(tokens).transpose(0, 1)

    def decode(self, quant_feat: Tensor, enc_feats: dict[int, Tensor] | None = None, w: float = 0.0) -> Tensor:
        """Generator with CFT after the first ResBlock of each connected resolution; w = 0 (or no
        encoder features) runs none of the fusion layers."""
        fuse = {i: s for s, i in self.fuse_generator_block.items()} if (w > 0 and enc_feats) else {}
        x = quant_feat
        for i, block in enumerate(self.generator.blocks):
            x = block(x)
            if i in fuse:
                s = fuse[i]
                x = self.fuse_convs_dict[str(s)](enc_feats[s], x, w)
        return x

    def forward(self, x: Tensor, w: float = 0.5, adain: bool = True, return_codes: bool = False
                ) -> Tensor | tuple[Tensor, Tensor]:
        """x: (B, 3, S, S) RGB in [-1, 1]; returns the restored image in [-1, 1] (unclamped),
        and with ``return_codes`` the predicted top-1 code indices (B, h*w)."""
        if x.shape[-2:] != (self.img_size, self.img_size):
            raise ValueError(f"CodeFormer({self.img_size}) needs {self.img_size}x{self.img_size} inputs, "
                             f"got {tuple(x.shape[-2:])}")
        if not 0.0 <= w <= 1.0 or math.isnan(w):
            raise ValueError(f"fidelity weight w must be in [0, 1], got {w}")
        lq_feat, enc = self.encode(x, keep_features=w > 0)
        # code prediction, codebook lookup and AdaIN in float32 even under fp16 autocast (--half):
        # in half precision the logits' argmax flips codes and the AdaIN statistics overflow
        with torch.autocast(x.device.type, enabled=False):
            lq32 = lq_feat.float()
            codes = self.predict_logits(lq32).argmax(-1)  # top-1 of softmax == argmax of logits
            quant = self.quantize.lookup(codes, lq_feat.shape[-2:])
            if adain:
                quant = adaptive_instance_normalization(quant, lq32)
        out = self.decode(quant, enc, w)
        return (out, codes) if return_codes else out


def codeformer(**kwargs) -> CodeFormer:
    """Factory used by the registry (defaults = the released configuration)."""
    return CodeFormer(**kwargs)
