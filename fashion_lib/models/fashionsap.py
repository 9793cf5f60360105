"""FashionSAP (Fig. 2): image encoder, text encoder, fusion module, five pre-training heads.

The image encoder maps an image to I = {v_img, v_i0, ...} (a ViT's tokens, or a CNN map flattened
behind its mean for the ResNet-50 row); the text encoder maps [CLS] [symbol] caption [SEP] prompts
to T; the fusion module blends them into H (Eq. 1). Heads: ITS projections W_I, W_T with momentum
copies and queues (Eq. 5-9), FSIS on the same projections (Eq. 2), the tied MLM head for PTP
(Eq. 3), the TRP head (Eq. 4) and the ITM head on H_0 (Eq. 10). A switch per task drives the
ablation (Table 6).

Decisions where the paper is silent:

- **FSIS in the ITS space.** The paper's adapters Adp(.) are "feed-forward" layers (Sec. 4.5); two
  separate adapters with Eq. (2)'s negative-free cosine both learn a constant (measured: matched and
  mismatched pairs reach the same cosine 0.93). The released code compares the symbol token and the
  image through the ITS projections themselves (``text_proj`` and ``vision_proj``), which ITS keeps
  from collapsing; we do the same: v_sym = norm(W_T v_symbol), v_img = norm(W_I v_img).
- **A frozen, pre-trained CNN with a trainable top** (``frozen_image``): the cpu profile's image
  side is the proxy-pre-trained small CNN, frozen; its map is pooled to ``image_grid`` x
  ``image_grid`` cells, each cell becomes a patch token and v_img is an MLP of all cells (so ITS
  sees where things are, not only their mean). The encoder takes images (the frozen body
  runs) or the body's cached maps (anything without 3 channels), so training reads the cache and
  evaluation and Grad-CAM pass images.
- **A decoder restricted to the corpus** (``decoder_vocab``): PTP/MLM predicts among the word
  pieces the training texts use, not MiniLM's 30,531, to make the tied decoder affordable on a CPU.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import Tensor, nn
from torch.nn import functional as F
from transformers.models.bert.modeling_bert import BertPredictionHeadTransform

from fashion_lib.data.masking import TextBatch, TextConfig
from fashion_lib.data.vl_data import CLIP_MEAN, CLIP_STD
from fashion_lib.engine.amp import full_precision, wide
from fashion_lib.errors import ConfigError
from fashion_lib.models.backbones import CNN_BACKBONES, VIT_SPECS, create_cnn_backbone, create_vit
from fashion_lib.models.fashionsap_outputs import (
    FashionSAPOutput,
    FSISOutput,
    ITMOutput,
    ITSOutput,
    TokenOutput,
)
from fashion_lib.models.fusion import FusionEncoder
from fashion_lib.models.momentum import FeatureQueue, ema_update, momentum_copy
from fashion_lib.models.text_encoder import MaskedLMHead, TextEncoder, TextEncoderConfig

IMAGENET_MEAN = torch.tensor(IMAGENET_DEFAULT_MEAN)[:, None, None]  # (3, 1, 1)
IMAGENET_STD = torch.tensor(IMAGENET_DEFAULT_STD)[:, None, None]


@dataclass(frozen=True)
class FashionSAPConfig:
    """FashionSAP's size and task switches.

    Args:
        image_encoder: a ViT name of `backbones.VIT_SPECS` or a CNN of `backbones.CNN_BACKBONES`.
        image_size: input side in pixels.
        text_pretrained: start text and fusion layers from MiniLM (then `text` gives only the
            vocabulary size and the layer count; width and heads are MiniLM's).
        text: size of a random text encoder (and the number of text layers in both cases).
        image_width: first-stage width of a "small_cnn" image encoder.
        frozen_image: the CNN image encoder is pre-trained and frozen; a trainable top turns its
            (cached) map into tokens.
        image_grid: pool the CNN map to this many cells per side (0: keep the map as it is).
        text_dropout: dropout of the text and fusion layers (None: the text config's or MiniLM's).
        frozen_words: MiniLM's word-piece embeddings stay fixed, the symbols' rows learn.
        text_attention: transformers' attention implementation of the MiniLM layers.
        fusion_layers: fusion layers (the first ones start from MiniLM's remaining layers).
        embed_dim: ITS embedding width (W_T, W_I outputs; FSIS compares in this space too).
        decoder_vocab: token ids the PTP/MLM decoder predicts among (None: the whole vocabulary).
        queue_size: rows of the image and text momentum queues.
        momentum: EMA coefficient of the momentum encoders.
        temperature: initial tau (learned, clamped to [0.001, 0.5]).
        alpha: momentum-distillation weight.
        max_text_length: longest token sequence.
        fsis, ptp, trp, its, itm: task switches; off also removes the task's input (symbol,
            prompts, replaced tokens), as the finetune stage does (Fig. 2).
    """

    image_encoder: str = "vit_tiny"
    image_size: int = 32
    text_pretrained: bool = False
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    image_width: int = 32
    frozen_image: bool = False
    image_grid: int = 0
    text_dropout: float | None = None
    frozen_words: bool = False
    text_attention: str = "sdpa"
    fusion_layers: int = 2
    embed_dim: int = 32
    decoder_vocab: tuple[int, ...] | None = field(default=None, repr=False)
    queue_size: int = 64
    momentum: float = 0.995
    temperature: float = 0.07
    alpha: float = 0.4
    max_text_length: int = 128
    fsis: bool = True
    ptp: bool = True
    trp: bool = True
    its: bool = True
    itm: bool = True

    def __post_init__(self) -> None:
        if self.image_encoder not in (*VIT_SPECS, *CNN_BACKBONES):
            raise ConfigError(f"unknown image encoder {self.image_encoder!r}")
        if (self.frozen_image or self.image_grid) and self.image_encoder not in CNN_BACKBONES:
            raise ConfigError(f"frozen_image and image_grid need a CNN, not {self.image_encoder!r}")
        if not 0 < self.temperature <= 0.5 or not 0 <= self.alpha <= 1:
            raise ConfigError(f"need 0 < temperature <= 0.5 and 0 <= alpha <= 1: {self}")

    def text_config(self) -> TextConfig:
        """The text processing these switches call for (symbol, prompts, MLM, TRP)."""
        return TextConfig(
            max_length=self.max_text_length,
            use_symbol=self.fsis,
            use_prompts=self.ptp,
            mlm_prob=0.15 if self.ptp else 0.0,
            trp_prob=0.15 if self.trp else 0.0,
            synonym_augment=self.ptp,
        )


class ImageEncoder(nn.Module):
    """Image -> tokens (B, 1 + N, D) with the global token v_img first.

    Args:
        config: the model config (`image_encoder`, `image_size`, `image_width`, `frozen_image`,
            `image_grid`). A ViT gives its tokens as they are. A CNN's map cells become tokens
            behind their mean, through a LayerNorm so that CNN and ViT tokens enter the fusion
            module on a similar scale; with `frozen_image`, the body is frozen (kept in eval mode)
            and a trainable top makes the tokens: a linear map per cell and, for v_img, an MLP
            of all cells together (`whole_cells_mlp`).
    """

    def __init__(self, config: FashionSAPConfig) -> None:
        super().__init__()
        name, self.grid, self.frozen = config.image_encoder, config.image_grid, config.frozen_image
        self.cells = self.whole = None
        if name in VIT_SPECS:
            self.body = create_vit(name, config.image_size)
            self.width, self.norm = self.body.embed_dim, None
            return
        self.body = create_cnn_backbone(name, width=config.image_width)
        self.width = self.body.out_channels
        self.norm = nn.LayerNorm(self.width)
        if self.frozen:
            self.body.requires_grad_(False)
            side = self.grid or config.image_size // 8  # the CNNs here reduce by 8
            self.cells = nn.Linear(self.width, self.width)
            self.whole = whole_cells_mlp(self.width * side * side, self.width)

    def train(self, mode: bool = True) -> ImageEncoder:
        """As `nn.Module.train`, but a frozen body stays in eval mode (its BatchNorm statistics)."""
        super().train(mode)
        if self.frozen:
            self.body.eval()
        return self

    def maps(self, images: Tensor) -> Tensor:
        """CLIP-normalised images (B, 3, S, S) -> the CNN body's map (B, C, h, w)."""
        if not self.frozen:
            return self.body(images)
        with torch.no_grad():  # the pre-trained body reads ImageNet-normalised pixels
            pixels = images * CLIP_STD.to(images) + CLIP_MEAN.to(images)
            return self.body((pixels - IMAGENET_MEAN.to(images)) / IMAGENET_STD.to(images))

    def forward(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) images, or a frozen body's maps (B, C, h, w) -> tokens (B, 1 + N, D)."""
        if self.norm is None:
            return self.body(images)
        maps = self.maps(images) if images.shape[1] == 3 else images.float()
        if self.grid and maps.shape[-1] != self.grid:
            maps = F.adaptive_avg_pool2d(maps, self.grid)  # (B, C, g, g)
        grid = maps.flatten(2).transpose(1, 2)  # (B, N, C)
        if self.cells is None:
            return self.norm(torch.cat([grid.mean(dim=1, keepdim=True), grid], dim=1))
        whole = self.whole(grid.flatten(1))[:, None]  # (B, 1, C)
        return self.norm(torch.cat([whole, self.cells(grid)], dim=1))


def whole_cells_mlp(cells_width: int, width: int) -> nn.Sequential:
    """v_img from all cells of a frozen map (B, cells_width) -> (B, width): LayerNorm, then a
    GELU MLP with a 4x hidden layer, as a transformer block's. On the cpu world a linear map
    reached 24.2% full-protocol mean R@1 on 1,000 validation products after a 1,200-step
    warm-up, this MLP 27.6% (chapter 07)."""
    return nn.Sequential(
        nn.LayerNorm(cells_width),
        nn.Linear(cells_width, 4 * width),
        nn.GELU(),
        nn.Linear(4 * width, width),
    )


@dataclass
class Encoded:
    """Tokens of one modality and their L2-normalised ITS embedding (B, E)."""

    tokens: Tensor
    emb: Tensor


def sample_hard_negatives(
    similarity: Tensor, ids: Tensor, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """For each row, draw one in-batch column of another product, weighted by softmax(similarity).

    All rows are drawn at once by ``torch.multinomial`` over the (B, B) weight matrix; columns of the
    row's own product (the diagonal and any other view of the same item) get weight 0. A row whose
    batch holds no other product has no valid negative.

    Args:
        similarity: (B, B) query-to-candidate similarities (no gradient needed).
        ids: (B,) product ids of both queries and candidates.
        generator: the source of randomness.

    Returns:
        The drawn column per row (B,) and whether it is valid (B,) bool.
    """
    allowed = ids[:, None] != ids[None, :]  # (B, B)
    weights = similarity.detach().float().softmax(dim=1) * allowed  # (B, B)
    valid = allowed.any(dim=1)  # (B,)
    weights = torch.where(valid[:, None], weights, torch.ones_like(weights))  # rows drawn, unused
    weights = weights + allowed * torch.finfo(weights.dtype).tiny  # underflowed rows stay drawable
    picks = torch.multinomial(weights, 1, generator=generator).squeeze(1)  # (B,)
    return picks, valid


def its_embedding(proj: nn.Linear, token: Tensor) -> Tensor:
    """norm(W token) (B, E), the ITS space, in float32 even under autocast: its cosines, and the
    logits of Eq. 5-9 made from them, differ by less than bf16 resolves."""
    with full_precision(token):
        return F.normalize(proj(wide(token)), dim=-1)


class FashionSAP(nn.Module):
    """The pre-training model; downstream models reuse its encoders (see `fashionsap_tasks`).

    Args:
        config: sizes and task switches.
    """

    def __init__(self, config: FashionSAPConfig) -> None:
        super().__init__()
        self.config = config
        self.image_encoder = ImageEncoder(config)
        if config.text_pretrained:
            self.text_encoder, spare = TextEncoder.from_minilm(
                config.text.vocab_size,
                config.text.num_layers,
                config.text_dropout,
                frozen_words=config.frozen_words,
                attention=config.text_attention,
            )
        else:
            text = config.text
            if config.text_dropout is not None:
                text = dataclasses.replace(text, dropout=config.text_dropout)
            self.text_encoder, spare = TextEncoder.random(text), []
        bert = self.text_encoder.config
        d, d_img = bert.hidden_size, self.image_encoder.width
        self.fusion = FusionEncoder(
            config.fusion_layers, d, d_img, bert.num_attention_heads, bert.intermediate_size,
            bert.hidden_dropout_prob,
        )  # fmt: skip
        self.fusion.load_bert_layers(spare)
        self.image_proj = nn.Linear(d_img, config.embed_dim)  # W_I
        self.text_proj = nn.Linear(d, config.embed_dim)  # W_T
        self.temperature = nn.Parameter(torch.tensor(config.temperature))
        self.itm_head = nn.Linear(d, 2)
        if config.ptp:
            vocab = None if config.decoder_vocab is None else torch.tensor(config.decoder_vocab)
            self.mlm_head = MaskedLMHead(bert, self.text_encoder.word_embeddings, vocab)
        if config.trp:
            self.trp_head = nn.Sequential(BertPredictionHeadTransform(bert), nn.Linear(d, 2))
        if config.its:
            self._pairs = ["image_encoder", "image_proj", "text_encoder", "text_proj"]
            for name in self._pairs:
                self.add_module(f"{name}_m", momentum_copy(getattr(self, name)))
            self.image_queue = FeatureQueue(config.queue_size, config.embed_dim)
            self.text_queue = FeatureQueue(config.queue_size, config.embed_dim)

    def tau(self) -> Tensor:
        """The temperature, clamped to [0.001, 0.5] as in ALBEF."""
        return self.temperature.clamp(0.001, 0.5)

    def encode_image(self, images: Tensor) -> Encoded:
        """(B, 3, S, S) -> tokens (B, 1 + N, D) and ITS embedding norm(W_I v_img) (B, E)."""
        tokens = self.image_encoder(images)
        return Encoded(tokens, its_embedding(self.image_proj, tokens[:, 0]))

    def encode_text(self, input_ids: Tensor, attention_mask: Tensor) -> Encoded:
        """(B, L) ids and mask -> states T (B, L, d) and ITS embedding norm(W_T v_cls) (B, E)."""
        states = self.text_encoder(input_ids, attention_mask)
        return Encoded(states, its_embedding(self.text_proj, states[:, 0]))

    def encode_symbol(self, states: Tensor, text: TextBatch) -> Tensor:
        """FSIS's symbol feature norm(W_T v_symbol) (B, E): the ITS text projection of the symbol
        token's state, as the released code computes it (Eq. 2's Adp is W_T here)."""
        if text.symbol_position < 0:
            raise ConfigError("FSIS is on but the text batch has no symbol token")
        return its_embedding(self.text_proj, states[:, text.symbol_position])

    def match_logits(self, text: Tensor, attention_mask: Tensor, image: Tensor) -> Tensor:
        """ITM logits (B, 2) of paired text states (B, L, d) and image tokens (B, N, D)."""
        return self.itm_head(self.fusion(text, attention_mask, image).hidden[:, 0])

    @torch.no_grad()
    def _momentum_banks(self, images: Tensor, text: TextBatch, ids: Tensor) -> tuple[Tensor, ...]:
        if self.training:
            for name in self._pairs:
                ema_update(getattr(self, name), getattr(self, f"{name}_m"), self.config.momentum)
        image_m = its_embedding(self.image_proj_m, self.image_encoder_m(images)[:, 0])
        states_m = self.text_encoder_m(text.input_ids, text.attention_mask)
        text_m = its_embedding(self.text_proj_m, states_m[:, 0])  # (B, E)
        queued_images, queued_ids = self.image_queue.contents()
        queued_texts, _ = self.text_queue.contents()
        if self.training:
            self.image_queue.enqueue(image_m, ids)
            self.text_queue.enqueue(text_m, ids)
        return (
            torch.cat([image_m, queued_images]),  # (B + K, E)
            torch.cat([text_m, queued_texts]),
            torch.cat([ids, queued_ids]),
        )

    def _itm(self, image: Encoded, text: Encoded, text_batch: TextBatch, ids: Tensor,
             positive_h0: Tensor, generator: torch.Generator | None) -> ITMOutput:  # fmt: skip
        mask = text_batch.attention_mask
        if self.config.its:  # hard negatives: weights softmax(sim / tau), as in ALBEF
            sim = image.emb @ text.emb.t() / self.tau()  # (B, B) image-to-text
        else:  # without ITS embeddings to rank by, negatives are uniform over other products
            sim = torch.zeros(len(ids), len(ids), device=ids.device)
        neg_image, ok_t = sample_hard_negatives(sim.t(), ids, generator)  # an image per text
        neg_text, ok_i = sample_hard_negatives(sim, ids, generator)  # a text per image
        states = torch.cat([text.tokens[ok_t], text.tokens[neg_text[ok_i]]])
        masks = torch.cat([mask[ok_t], mask[neg_text[ok_i]]])
        images = torch.cat([image.tokens[neg_image[ok_t]], image.tokens[ok_i]])
        h0 = torch.cat([positive_h0, self.fusion(states, masks, images).hidden[:, 0]])  # (P, d)
        labels = torch.zeros(len(h0), dtype=torch.long, device=h0.device)
        labels[: len(positive_h0)] = 1
        return ITMOutput(self.itm_head(h0), labels)

    def forward(
        self,
        images: Tensor,
        text: TextBatch,
        product_ids: Tensor,
        alpha: float | None = None,
        generator: torch.Generator | None = None,
    ) -> FashionSAPOutput:
        """Run every enabled pre-training task on a batch of image-text pairs.

        Args:
            images: (B, 3, S, S).
            text: the corrupted, labelled token batch (from `TextProcessor` with
                ``config.text_config()``).
            product_ids: (B,) product of each pair (same product = positive for ITS, never an ITM
                negative).
            alpha: distillation weight for this step (ramped by the caller); default config.alpha.
            generator: randomness of the ITM negative sampling.

        Returns:
            The `FashionSAPOutput` for `FashionSAPLoss`.
        """
        cfg = self.config
        image, txt = (
            self.encode_image(images),
            self.encode_text(text.input_ids, text.attention_mask),
        )
        fused = self.fusion(txt.tokens, text.attention_mask, image.tokens)  # H of positive pairs
        hidden = fused.hidden  # (B, L, d)
        fsis = ptp = trp = its = itm = None
        if cfg.fsis:
            fsis = FSISOutput(self.encode_symbol(txt.tokens, text), image.emb)
        if cfg.ptp:
            where = text.mlm_labels != -100  # (B, L)
            labels = self.mlm_head.targets(text.mlm_labels[where])  # (M,) decoder rows
            ptp = TokenOutput(self.mlm_head(hidden[where]), labels)  # (M, V)
        if cfg.trp:
            trp = TokenOutput(self.trp_head(hidden), text.trp_labels)  # (B, L, 2)
        if cfg.its:
            image_bank, text_bank, bank_ids = self._momentum_banks(images, text, product_ids)
            a = cfg.alpha if alpha is None else alpha
            its = ITSOutput(image_bank, text_bank, product_ids, bank_ids, self.tau(), a)
        if cfg.itm:
            itm = self._itm(image, txt, text, product_ids, hidden[:, 0], generator)
        return FashionSAPOutput(image.emb, txt.emb, fused, fsis, ptp, trp, its, itm)
