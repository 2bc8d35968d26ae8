"""Masked-image pretraining of a timm vision transformer (a masked autoencoder, MAE).

:class:`MaskedAutoencoder` wraps a timm ``VisionTransformer`` (the *encoder*, the very
module that is fine-tuned later) with a small transformer *decoder*. In each forward
pass a random ``mask_ratio`` of the image patches is hidden; the encoder sees only the
visible ones, and the decoder reconstructs the pixels of the hidden ones from the
encoder's tokens plus a learnt mask token at each hidden position (He et al. 2022,
"Masked Autoencoders Are Scalable Vision Learners"). No labels are needed, so every
spectrum can teach the encoder what spectra look like before it is fine-tuned on the
labelled few. For a spectrum image whose patches are runs of wavelength, reconstructing
a hidden patch means predicting a stretch of spectrum from the rest of it.

The forward pass returns the reconstruction loss of each image (mean squared error over
the hidden patches), so :class:`~spectromer.training.Trainer` trains it with
``loss_fn=lambda out, y: out.mean()``. This module needs torch and timm; nothing in
``spectromer`` imports it until a pretraining runs.
"""

from __future__ import annotations

from typing import Any

import torch
from timm.models.vision_transformer import Block
from torch import nn

__all__ = ["MaskedAutoencoder"]


def _check_encoder(encoder: Any) -> None:
    needed = ("patch_embed", "_pos_embed", "blocks", "norm", "num_prefix_tokens", "embed_dim")
    missing = [name for name in needed if not hasattr(encoder, name)]
    if missing or getattr(encoder, "dynamic_img_size", False):
        raise TypeError(
            f"masked-image pretraining needs a timm VisionTransformer (vit_*, deit_*) with a "
            f"fixed image size; {type(encoder).__name__} lacks {', '.join(missing) or 'that'}"
        )


class MaskedAutoencoder(nn.Module):
    """A timm vision transformer (the encoder) and a light decoder rebuilding hidden patches.

    Parameters
    ----------
    encoder : timm VisionTransformer
        The backbone to pretrain, built without a head (``num_outputs=0``), e.g. by
        :func:`~spectromer.models.create_model`.
    mask_ratio : float
        Fraction of patches hidden in each image (0 < ratio < 1; MAE uses 0.75).
    decoder_dim, decoder_depth, decoder_heads : int
        Width, number of blocks and attention heads of the decoder (thrown away after
        pretraining, so it can be small).
    norm_pix_loss : bool
        Reconstruct each patch standardised by its own mean and standard deviation (the
        MAE default: the encoder learns shapes of lines, not levels).

    ``mae(images)`` returns one reconstruction loss per image (MSE over its hidden
    patches); :meth:`reconstruct` returns the predicted images, the hidden-patch mask and
    the losses; ``mae.encoder`` is the ViT to save and fine-tune; :meth:`patchify` and
    :meth:`unpatchify` convert between images and ``(B, L, ph*pw*C)`` patches in token
    order.

    Raises
    ------
    TypeError
        When ``encoder`` is not a fixed-size timm vision transformer.
    ValueError
        For a ``mask_ratio`` outside (0, 1) or one that hides no patch, or bad decoder
        sizes.

    Examples
    --------
    >>> import torch
    >>> from spectromer.models import create_model
    >>> from spectromer.models.mae import MaskedAutoencoder
    >>> encoder = create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2,
    ...                        embed_dim=64, num_heads=2)
    >>> mae = MaskedAutoencoder(encoder, decoder_dim=32, decoder_depth=1, decoder_heads=2)
    >>> images = torch.rand(3, 3, 32, 32)
    >>> mae(images).shape
    torch.Size([3])
    >>> torch.equal(mae.unpatchify(mae.patchify(images)), images)
    True
    >>> recon, hidden, loss = mae.reconstruct(images)
    >>> tuple(recon.shape), float(hidden.mean())  # 12 of the 16 patches were hidden
    ((3, 3, 32, 32), 0.75)
    """

    def __init__(
        self,
        encoder: Any,
        mask_ratio: float = 0.75,
        decoder_dim: int = 128,
        decoder_depth: int = 2,
        decoder_heads: int = 4,
        norm_pix_loss: bool = True,
    ) -> None:
        super().__init__()
        _check_encoder(encoder)
        if not 0 < float(mask_ratio) < 1:
            raise ValueError(f"mask_ratio must be between 0 and 1, got {mask_ratio}")
        for name, value in (
            ("decoder_dim", decoder_dim),
            ("decoder_depth", decoder_depth),
            ("decoder_heads", decoder_heads),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if decoder_dim % decoder_heads:
            raise ValueError(
                f"decoder_dim ({decoder_dim}) must be a multiple of decoder_heads ({decoder_heads})"
            )
        self.encoder = encoder
        self.mask_ratio = float(mask_ratio)
        self.norm_pix_loss = bool(norm_pix_loss)
        pe = encoder.patch_embed
        self.patch_size = tuple(int(v) for v in pe.patch_size)
        self.grid_size = tuple(int(v) for v in pe.grid_size)
        self.in_chans = int(pe.proj.in_channels)
        n_patches = self.grid_size[0] * self.grid_size[1]
        self.n_keep = max(1, int(round(n_patches * (1 - self.mask_ratio))))
        if self.n_keep >= n_patches:
            raise ValueError(
                f"mask_ratio={mask_ratio} hides no patch of the {n_patches} in the image"
            )
        self.n_prefix = int(encoder.num_prefix_tokens)
        self.decoder_embed = nn.Linear(int(encoder.embed_dim), decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.decoder_pos_embed = nn.Parameter(
            torch.zeros(1, self.n_prefix + n_patches, decoder_dim)
        )
        self.decoder_blocks = nn.Sequential(
            *[
                Block(decoder_dim, decoder_heads, mlp_ratio=4.0, qkv_bias=True)
                for _ in range(decoder_depth)
            ]
        )
        self.decoder_norm = nn.LayerNorm(decoder_dim)
        self.decoder_pred = nn.Linear(
            decoder_dim, self.patch_size[0] * self.patch_size[1] * self.in_chans
        )
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.decoder_pos_embed, std=0.02)
        for module in (self.decoder_embed, self.decoder_pred, self.decoder_blocks):
            for m in module.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)

    # -- patches <-> images ------------------------------------------------------
    def patchify(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` images to ``(B, L, ph*pw*C)`` patches, in token order."""
        b, c = images.shape[:2]
        (gh, gw), (ph, pw) = self.grid_size, self.patch_size
        x = images.reshape(b, c, gh, ph, gw, pw).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(b, gh * gw, ph * pw * c)

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`patchify`."""
        b = patches.shape[0]
        (gh, gw), (ph, pw), c = self.grid_size, self.patch_size, self.in_chans
        x = patches.reshape(b, gh, gw, ph, pw, c).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(b, c, gh * ph, gw * pw)

    # -- the model ---------------------------------------------------------------
    def _encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.encoder
        x = enc._pos_embed(enc.patch_embed(images))
        prefix, x = x[:, : self.n_prefix], x[:, self.n_prefix :]
        b, n, d = x.shape
        if self.training:
            noise = torch.rand(b, n, device=x.device)
        else:  # the same masks every time: validation losses compare across epochs
            gen = torch.Generator(device=x.device).manual_seed(0)
            noise = torch.rand(b, n, device=x.device, generator=gen)
        order = torch.argsort(noise, dim=1)  # the first n_keep stay visible
        keep = order[:, : self.n_keep]
        x = torch.gather(x, 1, keep.unsqueeze(-1).expand(-1, -1, d))
        x = torch.cat([prefix, x], dim=1)
        x = enc.norm(enc.blocks(enc.norm_pre(enc.patch_drop(x))))
        return x, order

    def _decode(self, tokens: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
        x = self.decoder_embed(tokens)
        prefix, x = x[:, : self.n_prefix], x[:, self.n_prefix :]
        b, n = order.shape
        hidden = self.mask_token.expand(b, n - x.shape[1], -1).to(x.dtype)
        x = torch.cat([x, hidden], dim=1)
        restore = torch.argsort(order, dim=1)
        x = torch.gather(x, 1, restore.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        x = torch.cat([prefix, x], dim=1) + self.decoder_pos_embed.to(x.dtype)
        x = self.decoder_norm(self.decoder_blocks(x))
        return self.decoder_pred(x)[:, self.n_prefix :]

    def _hidden(self, order: torch.Tensor) -> torch.Tensor:
        hidden = torch.ones(order.shape, device=order.device)
        hidden[:, : self.n_keep] = 0
        return torch.gather(hidden, 1, torch.argsort(order, dim=1))

    def _target(self, images: torch.Tensor) -> torch.Tensor:
        target = self.patchify(images.float())
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1e-6).sqrt()
        return target

    def _pass(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Predicted patches, per-patch squared errors, and the hidden-patch mask."""
        tokens, order = self._encode(images)
        pred = self._decode(tokens, order).float()
        per_patch = ((pred - self._target(images)) ** 2).mean(dim=-1)
        return pred, per_patch, self._hidden(order)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """One reconstruction loss per image (MSE over its hidden patches)."""
        _, per_patch, hidden = self._pass(images)
        return (per_patch * hidden).sum(dim=1) / hidden.sum(dim=1)

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Predicted images (visible patches copied from the input), the hidden mask.

        Returns ``(reconstruction, hidden, loss)``: ``hidden`` is 1 on the pixels of
        hidden patches (``(B, 1, H, W)``); with ``norm_pix_loss`` the predicted
        patches are put back on each true patch's mean and scale, for display.
        """
        pred, per_patch, hidden = self._pass(images)
        target = self.patchify(images.float())
        if self.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            std = (target.var(dim=-1, keepdim=True) + 1e-6).sqrt()
            pred = pred * std + mean
        mixed = torch.where(hidden.unsqueeze(-1) > 0, pred, target)
        loss = (per_patch * hidden).sum(dim=1) / hidden.sum(dim=1)
        ph, pw = self.patch_size
        patches = hidden.unsqueeze(-1).expand(-1, -1, ph * pw * self.in_chans)
        return self.unpatchify(mixed), self.unpatchify(patches)[:, :1], loss
