"""Tiny FashionSAP: forward/backward under every task switch, momentum/queues, downstream heads."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from transformers import BertConfig
from transformers.models.bert.modeling_bert import BertLayer

from fashion_lib.data.masking import PLAIN_TEXT, TextProcessor
from fashion_lib.data.prompts import TextSample
from fashion_lib.data.retrieval_data import normalise
from fashion_lib.data.vl_data import model_input
from fashion_lib.losses.fashionsap import FashionSAPLoss, recognition_loss, tmir_loss
from fashion_lib.models import create_model, list_models
from fashion_lib.models.fashionsap import FashionSAP, FashionSAPConfig
from fashion_lib.models.fashionsap_tasks import (
    FashionSAPClassifier,
    FashionSAPTMIR,
    fashionsap_tiny,
    retrieval_config,
)
from fashion_lib.models.fusion import FusionEncoder

TASKS = ("fsis", "ptp", "trp", "its", "itm")
ANTONYMS = {"long": ["short"], "black": ["white"], "tight": ["loose"]}
SAMPLES = [
    TextSample(f"long black dress {i} with tight waist", "dresses", (("season", "fall winter"),),
               (("red", i % 2 == 0),))
    for i in range(4)
]  # fmt: skip
PRODUCTS = torch.tensor([0, 0, 1, 2])  # two views of product 0
TOPS_AND_DRESSES = ("tops", "tops", "dresses", "dresses")  # two symbols

pytestmark = pytest.mark.usefixtures("one_thread")


def batch_for(config: FashionSAPConfig, tokenizer, seed: int = 0):
    proc = TextProcessor(tokenizer, config.text_config(), lambda w: ANTONYMS.get(w, []),
                         lambda w: [])  # fmt: skip
    return proc.collate(SAMPLES, np.random.default_rng(seed))


def images(seed: int = 0) -> torch.Tensor:
    return torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


SWITCHES = [{}]
SWITCHES += [{t: False} for t in TASKS]
SWITCHES += [{t: t == keep for t in TASKS} for keep in TASKS]


@pytest.mark.parametrize(
    "switches", SWITCHES, ids=lambda s: "-".join(k for k in s if not s[k]) or "all"
)
def test_forward_backward_under_every_switch(switches, tokenizer):
    torch.manual_seed(0)
    model = fashionsap_tiny(**switches)
    text = batch_for(model.config, tokenizer)
    out = model(images(), text, PRODUCTS, generator=torch.Generator().manual_seed(0))
    terms = FashionSAPLoss()(out)
    enabled = {t for t in TASKS if getattr(model.config, t)}
    assert set(terms) == enabled
    assert all(torch.isfinite(v) for v in terms.values())
    sum(terms.values()).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    for name, p in model.named_parameters():
        if name.split(".")[0].endswith("_m"):
            assert not p.requires_grad and p.grad is None
    if "fsis" not in enabled:
        assert text.symbol_position == -1 and out.fsis is None
    if "ptp" not in enabled:
        assert not text.prompt_mask.any() and (text.mlm_labels == -100).all()
    if "trp" not in enabled:
        assert not (text.trp_labels == 1).any()
    if "itm" in enabled:  # 4 positives; every row has another product for its negatives
        assert out.itm.labels.tolist() == [1] * 4 + [0] * 8


def test_momentum_queues_advance_only_in_training(tokenizer):
    torch.manual_seed(0)
    model = fashionsap_tiny(queue_size=6)
    text = batch_for(model.config, tokenizer)
    before = [p.detach().clone() for p in model.text_proj_m.parameters()]
    with torch.no_grad():
        model.text_proj.weight.add_(1.0)
    out = model(images(), text, PRODUCTS)
    assert int(model.image_queue.count) == 4 and int(model.text_queue.ptr) == 4
    assert out.its.image_bank.shape == (4, 32)  # the queue was empty before this step
    m = model.config.momentum
    assert torch.allclose(
        model.text_proj_m.weight, m * before[0] + (1 - m) * model.text_proj.weight.detach()
    )
    out = model(images(1), text, PRODUCTS)
    assert out.its.bank_ids.tolist() == [0, 0, 1, 2, 0, 0, 1, 2] and int(model.image_queue.ptr) == 2
    model.eval()
    with torch.no_grad():
        model(images(), text, PRODUCTS)
    assert int(model.image_queue.count) == 8


def test_same_seed_same_losses(tokenizer):
    values = []
    for _ in range(2):
        torch.manual_seed(3)
        model = fashionsap_tiny()
        out = model(images(), batch_for(model.config, tokenizer, seed=5), PRODUCTS,
                    generator=torch.Generator().manual_seed(1))  # fmt: skip
        values.append({k: v.item() for k, v in FashionSAPLoss()(out).items()})
    assert values[0] == values[1]


def test_cnn_image_encoder_and_registry(tokenizer):
    assert {"fashionsap_tiny", "fashionsap_small", "fashionsap_r50", "fashionsap_vit_b16"} <= set(
        list_models("fashionsap_*")
    )
    torch.manual_seed(0)
    model = create_model("fashionsap_tiny", image_encoder="small_cnn", fsis=False)
    out = model(images(), batch_for(model.config, tokenizer), PRODUCTS)
    assert out.fused.cross_attention[0].shape == (4, 2, out.fused.hidden.shape[1], 1 + 16)
    assert all(torch.isfinite(v) for v in FashionSAPLoss()(out).values())


def test_cross_attention_maps_carry_gradients_for_gradcam(tokenizer):
    torch.manual_seed(0)
    model = fashionsap_tiny(fsis=False, ptp=False, trp=False, its=False)
    text = TextProcessor(tokenizer, PLAIN_TEXT).collate(SAMPLES, np.random.default_rng(0))
    out = model(images(), text, PRODUCTS)
    maps = out.fused.cross_attention[0]
    maps.retain_grad()
    out.itm.logits[:4, 1].sum().backward()
    assert maps.grad is not None and maps.grad.abs().sum() > 0
    assert torch.allclose(maps.sum(dim=-1), torch.ones_like(maps.sum(dim=-1)), atol=1e-5)


def test_classifier_and_tmir_heads(tokenizer):
    torch.manual_seed(0)
    base = FashionSAP(retrieval_config(FashionSAPConfig()))
    text = TextProcessor(tokenizer, PLAIN_TEXT).collate(SAMPLES, np.random.default_rng(0))
    clf = FashionSAPClassifier(base, num_classes=48)
    out = clf(images(), text.input_ids, text.attention_mask)
    assert out.logits.shape == (4, 48)
    recognition_loss(out, torch.tensor([0, 5, 9, 47]))["cls"].backward()
    assert (
        clf.head.weight.grad is not None
        and base.fusion.layers[0].cross_attn.key.weight.grad is not None
    )
    tmir = FashionSAPTMIR(base)
    res = tmir(images(1), text.input_ids, text.attention_mask, images(2))
    assert res.query_emb.shape == res.target_emb.shape == (4, 32)
    assert torch.allclose(res.query_emb.norm(dim=1), torch.ones(4), atol=1e-5)
    loss = tmir_loss(res, torch.arange(4))["tmir"]
    loss.backward()
    assert torch.isfinite(loss) and tmir.temperature.grad is not None


def test_fusion_ignores_padding_and_loads_bert_weights():
    torch.manual_seed(0)
    fusion = FusionEncoder(2, width=16, image_width=8, num_heads=2, ffn_width=32).eval()
    text, image = torch.randn(1, 5, 16), torch.randn(1, 7, 8)
    plain = fusion(text, torch.ones(1, 5), image).hidden
    padded_text = torch.cat([text, torch.randn(1, 3, 16)], dim=1)
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0]])
    padded = fusion(padded_text, mask, image).hidden
    assert torch.allclose(plain, padded[:, :5], atol=1e-5)
    bert = BertLayer(BertConfig(hidden_size=16, num_attention_heads=2, intermediate_size=32))
    assert fusion.load_bert_layers([bert]) == 1
    layer = fusion.layers[0]
    assert torch.equal(layer.self_attn.query.weight, bert.attention.self.query.weight)
    assert torch.equal(layer.ffn[2].bias, bert.output.dense.bias)
    assert torch.equal(layer.norm3.weight, bert.output.LayerNorm.weight)


def test_text_config_follows_switches():
    cfg = dataclasses.replace(FashionSAPConfig(), fsis=False, trp=False)
    text = cfg.text_config()
    assert not text.use_symbol and text.use_prompts and text.trp_prob == 0 and text.mlm_prob > 0


def frozen_tiny(**overrides) -> FashionSAP:
    """The cpu profile's image side at tiny size: a frozen small CNN pooled to 2 x 2 tokens."""
    config = dict(image_encoder="small_cnn", image_width=4, frozen_image=True, image_grid=2)
    return fashionsap_tiny(**(config | overrides))


def test_fsis_compares_in_the_its_space(tokenizer):
    torch.manual_seed(0)
    model = fashionsap_tiny().eval()  # no dropout: the text states can be recomputed
    text = batch_for(model.config, tokenizer)
    with torch.no_grad():
        out = model(images(), text, PRODUCTS)
        states = model.text_encoder(text.input_ids, text.attention_mask)
    symbol = torch.nn.functional.normalize(model.text_proj(states[:, 1]), dim=-1)
    assert torch.equal(out.fsis.image, out.image_emb)  # W_I v_img, as ITS
    assert torch.allclose(out.fsis.symbol, symbol, atol=1e-6)  # W_T v_symbol


def test_frozen_image_encoder_trains_only_its_top(tokenizer):
    torch.manual_seed(0)
    model = frozen_tiny()
    encoder = model.image_encoder
    model.train()
    assert not encoder.body.training and encoder.cells.training
    body = {n: p.detach().clone() for n, p in encoder.body.state_dict().items()}
    x = images()
    maps = encoder.maps(x)  # (4, 32, 4, 4): the small CNN reduces 32 px by 8
    assert maps.shape == (4, 32, 4, 4)
    from_maps, from_images = encoder(maps), encoder(x)
    assert from_maps.shape == (4, 1 + 4, 32) and torch.allclose(from_maps, from_images)
    out = model(x, batch_for(model.config, tokenizer), PRODUCTS)
    sum(FashionSAPLoss()(out).values()).backward()
    assert all(p.grad is None for p in encoder.body.parameters())
    assert encoder.cells.weight.grad is not None
    assert all(p.grad is not None for p in encoder.whole.parameters())
    assert all(torch.equal(body[n], t) for n, t in encoder.body.state_dict().items())  # BN too


def test_frozen_encoder_reads_the_backbone_normalisation():
    torch.manual_seed(0)
    encoder = frozen_tiny().image_encoder
    pixels = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    clip = model_input(pixels, 32)  # what the evaluation gives the model
    with torch.no_grad():
        expected = encoder.body(normalise(pixels))  # what the feature cache stores
    assert torch.allclose(encoder.maps(clip), expected, atol=1e-4)


def test_restricted_decoder_scores_only_the_corpus_pieces(tokenizer):
    torch.manual_seed(0)
    text = batch_for(fashionsap_tiny().config, tokenizer)
    labels = text.mlm_labels[text.mlm_labels != -100]
    vocab = tuple(sorted({*text.input_ids.unique().tolist(), *labels.tolist()}))
    model = fashionsap_tiny(decoder_vocab=vocab)
    out = model(images(), text, PRODUCTS)
    assert out.ptp.logits.shape == (len(labels), len(vocab))
    assert [vocab[i] for i in out.ptp.labels.tolist()] == labels.tolist()
    head = model.mlm_head
    hidden = out.fused.hidden[text.mlm_labels != -100]
    full = torch.nn.functional.linear(head.transform(hidden), head.embeddings.weight)
    assert torch.allclose(out.ptp.logits, full[:, list(vocab)] + head.bias, atol=1e-5)
    assert head.targets(torch.tensor([-100, vocab[3], 30530])).tolist() == [-100, 3, -100]


def test_curve_point_ranks_validation_and_compares_symbols(tokenizer):
    from fashion_lib.experiments.fashionsap_eval import full_protocol
    from fashion_lib.experiments.fashionsap_train import ValidationProbe, curve_point

    torch.manual_seed(0)
    model = fashionsap_tiny()
    samples = [
        dataclasses.replace(s, symbol=c) for s, c in zip(SAMPLES, TOPS_AND_DRESSES, strict=True)
    ]
    symbols = TextProcessor(tokenizer, model.config.text_config(), lambda w: [], lambda w: [])
    symbol_text = symbols.collate(samples, np.random.default_rng(0))
    plain = TextProcessor(tokenizer, PLAIN_TEXT).collate(SAMPLES[1:], np.random.default_rng(0))
    owner = torch.tensor([0, 0, 1, 2])
    probe = ValidationProbe(images(), owner, plain, symbol_text)
    point = curve_point(model, probe)
    assert model.training  # given back in training mode
    model.eval()
    with torch.no_grad():
        image = model.encode_image(images())
        text = model.encode_text(plain.input_ids, plain.attention_mask).emb
        states = model.text_encoder(symbol_text.input_ids, symbol_text.attention_mask)
        cos = model.encode_symbol(states, symbol_text) @ image.emb.t()
    assert point["val_mean_r1"] == full_protocol(image.emb, text, owner)["mean_r1"]
    assert point["fsis_cos_matched"] == pytest.approx(cos.diagonal().mean().item())
    mismatched = [cos[i, j] for i in range(4) for j in range(4) if (i < 2) != (j < 2)]
    assert point["fsis_cos_mismatched"] == pytest.approx(torch.stack(mismatched).mean().item())


def test_its_embedding_is_float32_under_bf16_autocast():
    from fashion_lib.models.fashionsap import its_embedding

    proj, token = torch.nn.Linear(8, 4), torch.randn(3, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        emb = its_embedding(proj, token.bfloat16())
    assert emb.dtype == torch.float32
    want = torch.nn.functional.normalize(proj(token.bfloat16().float()), dim=-1)
    assert torch.allclose(emb, want, atol=1e-6)
