"""FashionSAP's downstream models and the registered model names.

- Cross-modal retrieval fine-tunes the pre-training model itself with only ITS and ITM switched on
  (`retrieval_config`); ranking uses ``encode_image`` / ``encode_text`` (and ``match_logits``).
- Category / sub-category recognition: a linear layer on H_0 of the fusion module (Sec. 4.2).
- Text-modified image retrieval (Fig. 3): the modifying text T_m and the candidate image I_can are
  fused into H_f; its first vector, projected by W_T, is compared with W_I v_img of the target.
"""

from __future__ import annotations

import dataclasses

from torch import Tensor, nn

from fashion_lib.models import register_model
from fashion_lib.models.fashionsap import FashionSAP, FashionSAPConfig, its_embedding
from fashion_lib.models.fashionsap_outputs import ClassifierOutput, TMIROutput
from fashion_lib.models.text_encoder import TextEncoderConfig


def retrieval_config(config: FashionSAPConfig) -> FashionSAPConfig:
    """The fine-tuning configuration for retrieval: ITS and ITM only, plain text (Sec. 4.2)."""
    return dataclasses.replace(config, fsis=False, ptp=False, trp=False, its=True, itm=True)


class FashionSAPClassifier(nn.Module):
    """Category or sub-category recognition from an image and its text.

    Args:
        base: a (pre-trained) FashionSAP whose image, text and fusion encoders are reused.
        num_classes: 48 categories or 121 sub-categories on FashionGen.
    """

    def __init__(self, base: FashionSAP, num_classes: int) -> None:
        super().__init__()
        self.image_encoder = base.image_encoder
        self.text_encoder = base.text_encoder
        self.fusion = base.fusion
        self.head = nn.Linear(self.text_encoder.width, num_classes)

    def forward(
        self, images: Tensor, input_ids: Tensor, attention_mask: Tensor
    ) -> ClassifierOutput:
        """(B, 3, S, S) images, (B, L) ids and mask -> `ClassifierOutput`."""
        text = self.text_encoder(input_ids, attention_mask)  # (B, L, d)
        h0 = self.fusion(text, attention_mask, self.image_encoder(images)).hidden[:, 0]  # (B, d)
        return ClassifierOutput(self.head(h0), h0)


class FashionSAPTMIR(nn.Module):
    """Fig. 3: score(query, target) = cos(W_T H_f[0], W_I v_img(target)).

    Args:
        base: a (pre-trained) FashionSAP whose encoders, fusion and projections are reused.
    """

    def __init__(self, base: FashionSAP) -> None:
        super().__init__()
        self.image_encoder = base.image_encoder
        self.text_encoder = base.text_encoder
        self.fusion = base.fusion
        self.image_proj, self.text_proj = base.image_proj, base.text_proj
        self.temperature = nn.Parameter(base.temperature.detach().clone())

    def encode_query(self, images: Tensor, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Candidate images and modifying texts -> query embeddings (B, E)."""
        text = self.text_encoder(input_ids, attention_mask)  # T_m (B, L, d)
        h_f = self.fusion(text, attention_mask, self.image_encoder(images)).hidden[:, 0]  # (B, d)
        return its_embedding(self.text_proj, h_f)

    def encode_target(self, images: Tensor) -> Tensor:
        """Gallery images -> target embeddings (B, E)."""
        return its_embedding(self.image_proj, self.image_encoder(images)[:, 0])

    def forward(
        self, reference: Tensor, input_ids: Tensor, attention_mask: Tensor, target: Tensor
    ) -> TMIROutput:
        """Reference images, modifying texts and target images -> `TMIROutput`."""
        query = self.encode_query(reference, input_ids, attention_mask)
        tau = self.temperature.clamp(0.001, 0.5)
        return TMIROutput(query, self.encode_target(target), tau)


def _build(config: FashionSAPConfig, overrides: dict[str, object]) -> FashionSAP:
    return FashionSAP(dataclasses.replace(config, **overrides))


#: Tests and the smoke profile: random 2-layer BERT of width 64, ViT-tiny at 32 px.
TINY = FashionSAPConfig()
#: A 2-core machine: MiniLM's first 2 layers as text encoder and its third as the fusion layer;
#: the image side is the proxy-pre-trained small CNN (width 16, 8 x 8 map at 64 px), frozen, its
#: map pooled to 4 x 4 patch tokens under a trainable top; no dropout (short runs do not overfit).
CPU = FashionSAPConfig(
    image_encoder="small_cnn",
    image_size=64,
    image_width=16,
    frozen_image=True,
    image_grid=4,
    text_pretrained=True,
    text=TextEncoderConfig(num_layers=2),
    text_dropout=0.0,
    frozen_words=True,
    text_attention="eager",
    fusion_layers=1,
    embed_dim=128,
    queue_size=1024,
    momentum=0.95,
)
#: MiniLM text side split 3 text + 3 fusion layers, ViT-tiny at 64 px (about 10x CPU's compute).
SMALL = FashionSAPConfig(
    image_size=64,
    text_pretrained=True,
    text=TextEncoderConfig(num_layers=3),
    fusion_layers=3,
    embed_dim=128,
    queue_size=4096,
)
#: The paper's shape on one GPU: ViT-B/16 at 256 px, 65536-row queues (MiniLM for BERT-base).
PAPER_VIT = dataclasses.replace(
    SMALL, image_encoder="vit_b16", image_size=256, embed_dim=256, queue_size=65536
)


@register_model
def fashionsap_tiny(**overrides: object) -> FashionSAP:
    """FashionSAP for tests (random weights, a few MB); keyword overrides of `FashionSAPConfig`."""
    return _build(TINY, overrides)


@register_model
def fashionsap_cpu(**overrides: object) -> FashionSAP:
    """FashionSAP sized for the cpu profile (MiniLM text side, frozen pre-trained small CNN)."""
    return _build(CPU, overrides)


@register_model
def fashionsap_small(**overrides: object) -> FashionSAP:
    """FashionSAP with the pretrained MiniLM text side (offline weights), ViT-tiny images."""
    return _build(SMALL, overrides)


@register_model
def fashionsap_vit_b16(**overrides: object) -> FashionSAP:
    """FashionSAP (ViT-B16) row of Tables 2-3, trained from scratch on the image side."""
    return _build(PAPER_VIT, overrides)


@register_model
def fashionsap_r50(**overrides: object) -> FashionSAP:
    """FashionSAP (ResNet50) row of Tables 2-3: ResNet-50 up to stage 4 (c4) as image encoder."""
    return _build(dataclasses.replace(PAPER_VIT, image_encoder="resnet50_c4"), overrides)
