# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # M3-Net, shape by shape
#
# M3-Net {cite}`jiao2023m3net` (the *multi-attribute multi-granularity multi-label* embedding
# network) learns two kinds of
# retrieval embeddings from one image: an **attribute-specific** representation per attribute
# ("shape", "texture"...) and a **class-specific** representation per likely class of that attribute
# ("fit", "flare"...). This chapter follows one small batch through the network and prints the shape
# of every tensor on the way, with the paper's two algorithms beside the code that implements them
# (`fashion_lib.models.attention`, `fashion_lib.models.m3net`). It trains nothing: an untrained
# network has the same shapes as a trained one, and chapter 03 trains it.

# %% [markdown]
# ## Learning objectives
#
# After this chapter you can ...
#
# - trace every tensor of one M3-Net forward pass, from the backbone map to the attribute and
#   class representations, and say how its shape follows from $c$, $c'$, $h$ and $w$;
# - recompute spatial attention (Algorithm 1) and channel attention (Algorithm 2) step by step
#   and check them against the library;
# - explain how the threshold gamma turns the head's probabilities into class spaces, and why the
#   most likely class is always kept;
# - tell the seven rows of Tables 2-4 apart as switches of one shared model.
#
# Symbols used: {term}`psi`, {term}`A_n`, {term}`C_m`, {term}`SCA`, {term}`alpha_n`,
# {term}`phi_n`, {term}`CCA`, {term}`beta_n`, {term}`varphi_n`, {term}`P_n(I)`, {term}`x_mn`,
# {term}`gamma`, {term}`varphi_mn`.

# %% tags=["parameters"]
profile = "smoke"

# %% tags=["hide-input"]
# %matplotlib inline
import pandas as pd
import torch
import torch.nn.functional as F

from fashion_lib import viz
from fashion_lib.analysis.gamma import excluded_share
from fashion_lib.book.m3net_diagram import m3net_diagram
from fashion_lib.book.m3net_pages import row_models
from fashion_lib.book.teach import ShapeLog, check_equal, show_source
from fashion_lib.data.atelier import draw
from fashion_lib.data.atelier.labels import DEEPFASHION_PROXY
from fashion_lib.data.retrieval_data import normalise
from fashion_lib.losses import weighted_multilabel_bce
from fashion_lib.models import create_model
from fashion_lib.models.attention import CCA, SCA
from fashion_lib.models.m3net import M3Net, MultiLabelHeads, select_classes
from fashion_lib.profiles import get_profile

settings = get_profile(profile)
torch.manual_seed(settings.seed)
torch.set_num_threads(min(2, torch.get_num_threads()))
size = settings.data.image_size if settings.proxy else 64
print(f"profile: {settings.name}; images of {size} px")

# %% [markdown]
# ## A batch of four proxy images
#
# Four DeepFashion-like images from the proxy world (each a pure function of the world seed and its
# index), each asked about one attribute type. DeepFashion is multi-label: one image can carry
# several classes of the same attribute.

# %%
knobs = draw.Knobs(seed=settings.seed, size=size)
samples = [draw.draw_deepfashion(knobs, i) for i in range(4)]
names, counts = DEEPFASHION_PROXY.names, DEEPFASHION_PROXY.counts
values = [a.value_names for a in DEEPFASHION_PROXY.attributes]
pictures = [torch.from_numpy(s.images[0]) for s in samples]  # (S, S, 3) each
images = torch.stack(pictures).permute(0, 3, 1, 2)  # (B, 3, S, S) uint8
x = normalise(images)  # (B, 3, S, S)
attr_ids = torch.tensor([s.query[0] for s in samples])  # (B,) asked attribute
pd.DataFrame(
    {
        "attribute": [names[a] for a in attr_ids.tolist()],
        "positive classes": [
            ", ".join(values[a][c] for t, c in s.labels if t == a)
            for s, a in zip(samples, attr_ids.tolist(), strict=True)
        ],
    }
)

# %% [markdown]
# The network is the small cpu-profile variant: a plain CNN backbone whose last map is 8 x 8 at
# 64 px, attention spaces of c' = 128. The paper's variant (`m3net_r50`) has a ResNet-50
# {cite}`he2016resnet` cut after
# its third stage (c = 1024, 14 x 14 at 224 px) and c' = 512; every shape below scales accordingly.
# `ShapeLog` prints the shape of each tensor as the chapter computes it and keeps it for the table
# at the end.

# %% tags=["nbval-check-output"]
model = create_model("m3net_small", classes_per_attribute=counts).eval()
record = ShapeLog()
record("input", "x", x)
psi = model.backbone(x)  # generic representation psi = f_theta_b(I)
record("backbone", "psi", psi)
c, h, w = psi.shape[1:]

# %% [markdown]
# ## Spatial Conditional Attention (Algorithm 1)
#
# Given a feature map $\psi \in \mathbb{R}^{c \times h \times w}$ and a label $l$ (an attribute for
# SCA-A, a class for SCA-C):
#
# $$p_1(\psi) = \tanh(T(\psi)) \in \mathbb{R}^{c' \times h \times w}, \qquad
#   p_2(l) = \tanh(W_1 E_1(l)) \cdot J_{1,h,w} \in \mathbb{R}^{c' \times h \times w}$$
#
# $$\alpha_l = J_{c,1} \cdot \operatorname{softmax}\!\left(
#   \frac{\sum_{i}^{c'} [p_2(l) \odot p_1(\psi)]_i}{\sqrt{c'}}\right)$$
#
# and the spatially attended map of attribute $A_n$ is
#
# $$\phi_n = \alpha_n \odot \psi, \qquad \phi_n \in \mathbb{R}^{c \times h \times w}
#   \qquad (1)$$
#
# $T$ is a 1 x 1 convolution, $E_1$ an embedding table and $W_1$ a linear map; the softmax runs over
# the $h \times w$ positions, so $\alpha$ is a distribution over the map. The library's SCA:

# %%
show_source(SCA.forward)

# %% [markdown]
# Step by step on the batch, then checked against the library's module:

# %% tags=["nbval-check-output"]
sca = model.sca_a
p1 = torch.tanh(sca.feature_transform(psi))  # (B, c', h, w)
record("SCA-A", "p1 = tanh(T(psi))", p1)
p2 = torch.tanh(sca.label_transform(sca.code(attr_ids)))  # (B, c')
record("SCA-A", "p2 = tanh(W1 E1(A_n))", p2)
scores = (p1 * p2[:, :, None, None]).sum(dim=1) / p1.shape[1] ** 0.5
alpha = F.softmax(scores.flatten(1), dim=1).view_as(scores)  # (B, h, w)
record("SCA-A", "alpha_n", alpha)
phi = psi * alpha[:, None]  # (B, c, h, w), Eq. 1
record("SCA-A", "phi_n = alpha_n * psi", phi)
library = sca(psi, attr_ids)
check_equal("alpha_n (Alg. 1)", alpha, library.attention)
check_equal("phi_n (Eq. 1)", phi, library.attended)
ones = torch.ones(len(x))  # (B,)
check_equal("alpha_n sums to 1 over h x w", alpha.sum(dim=(1, 2)), ones)

# %% [markdown]
# ## Channel-wise Conditional Attention (Algorithm 2)
#
# $$q_1(\phi) = \sum_{j}^{h \times w} \phi_{:,j} \in \mathbb{R}^{c}, \qquad
#   q_2(l) = \operatorname{relu}(W_2 E_2(l)) \in \mathbb{R}^{c'}, \qquad
#   \beta_l = \sigma\!\left(W_4\, \operatorname{relu}(W_3 [q_1; q_2])\right) \in
#   \mathbb{R}^{c}$$
#
# and the attribute-specific representation is the spatially summed, attended map, re-weighted
# channel by channel:
#
# $$\varphi_n = \beta_n \odot q_1(\phi_n), \qquad \varphi_n \in \mathbb{R}^{c}
#   \qquad (2)$$

# %%
show_source(CCA.forward)

# %% tags=["nbval-check-output"]
cca = model.cca_a
q1 = phi.flatten(2).sum(dim=2)  # (B, c)
record("CCA-A", "q1 = sum_hw phi_n", q1)
q2 = F.relu(cca.label_transform(cca.code(attr_ids)))  # (B, c')
record("CCA-A", "q2 = relu(W2 E2(A_n))", q2)
hidden = F.relu(cca.w3(torch.cat([q1, q2], dim=1)))  # (B, c')
beta = torch.sigmoid(cca.w4(hidden))  # (B, c)
record("CCA-A", "beta_n", beta)
varphi_n = beta * q1  # (B, c), Eq. 2
record("CCA-A", "varphi_n (attribute rep.)", varphi_n)
check_equal("varphi_n (Eq. 2)", varphi_n, cca(phi, attr_ids).attended, 1e-5)

# %% [markdown]
# ## The multi-label head and the threshold gamma (Eq. 3)
#
# Each attribute $A_n$ has its own MLP $g_n$ giving the probabilities of its $M_n$ classes:
#
# $$P_n(I) = [x_{1_n}, \dots, x_{m_n}, \dots, x_{M_n}] = g_n(\varphi_n) \qquad (3)$$
#
# trained with a positively weighted binary cross-entropy (Eq. 7, chapter 03). Only the classes
# above a threshold $\gamma$ get a class-specific representation:
# $\{\hat l_n\} = \{C_{m_n} \mid x_{m_n} > \gamma\}$. The paper: "with $\gamma = 0.8$, we can
# exclude on average 94% of classes for an image".
#
# > **Our choices and errata.**
# >
# > - A row whose classes all fall below $\gamma$ would have no class space at all, so the most
# >   likely class is always kept. Otherwise every class above $\gamma$ is kept, as the paper
# >   says. The first version also capped the kept classes at 8 per row: that contradicts the
# >   paper's own figure, since 6% of DeepFashion's ~200 classes per attribute is about 12 classes,
# >   more than a cap of 8 keeps. The cap is now off by default (`max_classes=None`); {ref}`m3net-gamma`
# >   shows what it changed on trained weights.
# > - Eq. 7 as printed has the wrong sign on its second term (chapter 03 shows it and the fix).
# > - Rows of different attributes have different $M_n$; the logits are padded to $M_{max}$ and a
# >   mask marks the real classes.

# %%
show_source(MultiLabelHeads.forward, select_classes)

# %% [markdown]
# On the batch: the padded logits, the classes each row keeps at $\gamma$, and the same
# selection by hand (every class above $\gamma$, or the top-1 class when none is):

# %% tags=["nbval-check-output"]
logits, mask = model.heads(varphi_n, attr_ids)  # (B, M_max) each
record("head", "logits P_n (padded)", logits)
record("head", "mask of real classes", mask)
gamma = model.config.gamma
chosen = select_classes(logits, mask, gamma, model.config.max_classes)
record("head", "selected (-1 = none)", chosen)
p = torch.where(mask, logits.sigmoid(), -1.0)  # x_mn, padding below any gamma
by_hand = [(p[b] > gamma).nonzero().flatten().tolist() for b in range(len(x))]
by_hand = [kept or [int(p[b].argmax())] for b, kept in enumerate(by_hand)]
hand, library = torch.zeros_like(mask), torch.zeros_like(mask)
for b, row in enumerate(chosen):
    hand[b, by_hand[b]] = True
    library[b, row[row >= 0]] = True
check_equal("kept classes (multi-hot)", hand, library)
print(f"M_n of the rows: {mask.sum(dim=1).tolist()}; M_max = {mask.shape[1]}")
print(f"classes kept at gamma = {gamma}: {(chosen >= 0).sum(dim=1).tolist()}")

# %%
share = 100 * excluded_share(logits, mask, gamma)
print(
    f"share excluded (p <= gamma): {share:.1f}% (an untrained head sits "
    "near p = 0.5, so gamma = 0.8 excludes every class; the top-1 floor "
    "keeps one)"
)

# %% [markdown]
# ## The class branch, batched (Eq. 4-6)
#
# For a selected class $C_{m_n}$, SCA-C attends the *attribute-attended* map, CCA-A re-weights its
# sum with the attribute's channel attention, and CCA-C re-weights that with the class's:
#
# $$\phi_{m_n} = \alpha_{m_n} \odot \phi_n \quad (4) \qquad
#   \tilde\varphi_n = \beta_n \odot q_1(\phi_{m_n}) \quad (5) \qquad
#   \varphi_{m_n} = \beta_{m_n} \odot q_1(\tilde\varphi_n) \quad (6)$$
#
# (the paper writes $\varphi_n$ for both Eq. 2 and Eq. 5; the tilde tells them apart).
#
# > **Our choice.** $\phi_n = \alpha_n \odot \psi$ with a softmax map $\alpha_n$ that sums to 1, so
# > $\phi_n$ is about $1/(hw)$ of $\psi$ and SCA-C's tanh scores on it are nearly flat: in a first
# > run its maps stayed uniform after 300 steps. The paper does not address the scale; we feed SCA-C
# > $hw\,\phi_n$ (the attention's mean becomes 1), so it sees the scale SCA-A sees.
#
# SCA-C and CCA-C are attribute-specific: one module per attribute, shared by its classes, with one
# embedding per class. The library encodes *all* (image, class) pairs of a batch at once: it
# gathers each pair's map, groups the pairs by attribute (a loop over at most $N$ attributes, never
# over classes), and returns the pairs in their original order:

# %%
show_source(M3Net._class_branch)

# %% [markdown]
# The check below computes Eq. 4-6 for one pair by hand, then encodes the same pairs one at a
# time and compares with the batched branch. As in training, the pairs here are each image's
# labelled classes (up to two per row); at test time they come from the head.

# %% tags=["nbval-check-output"]
rows = zip(samples, attr_ids.tolist(), strict=True)
positives = [[m for t, m in s.labels if t == a][:2] for s, a in rows]
class_ids = torch.tensor([q + [-1] * (3 - len(q)) for q in positives])  # (B, K)
out = model(x, attr_ids, class_ids)
record("class", "pair_image", out.pair_image)
record("class", "pair_class", out.pair_class)
record("class", "SCA-C maps alpha_mn", out.class_attention)
record("class", "varphi_mn (class reps.)", out.class_embeddings)
b, m = out.pair_image[0].item(), out.pair_class[:1]  # the first pair
n = attr_ids[b : b + 1]
phi_mn = model.sca_c[n.item()](h * w * phi[b : b + 1], m).attended  # Eq. 4
tilde = model.cca_a(phi_mn, n).attended  # Eq. 5
varphi_mn = model.cca_c[n.item()](tilde, m).attended  # Eq. 6
check_equal("varphi_mn (Eq. 4-6)", varphi_mn[0], out.class_embeddings[0], 1e-4)
pairs = zip(out.pair_image.tolist(), out.pair_class.tolist(), strict=True)
one_by_one = []
for b, m in pairs:
    single = model(x[b : b + 1], attr_ids[b : b + 1], torch.tensor([[m]]))
    one_by_one.append(single.class_embeddings)
loop = torch.cat(one_by_one)  # (P, D)
check_equal("batched == pair by pair", loop, out.class_embeddings, 1e-4)

# %% [markdown]
# ## Everything M3-Net returns
#
# `forward` returns one `M3NetOutput`: the three outputs the losses need (attribute
# representations, multi-label logits, class representations of the pairs) and the two attention
# maps the figures of chapter 05 show. Retrieval uses the L2-normalised representations. The
# table lists every shape this chapter printed.

# %% tags=["nbval-check-output"]
for field in ("attribute_embeddings", "multilabel_logits", "class_mask"):
    record("output", field, getattr(out, field))
for field in ("attribute_attention", "class_attention"):
    record("output", field, getattr(out, field))
record.frame()

# %% [markdown]
# ## The architecture, drawn from the model
#
# {numref}`fig-m3net-architecture` is not a fixed picture: `m3net_diagram` runs the model above
# once on the batch (class pairs from the head, as at test time) with a hook on each module, and
# writes into each box what the module computes and the shapes it returned
# (`fashion_lib.book.m3net_diagram`). The class boxes show the P pairs the head opened at
# $\gamma$; arrows end at the loss terms of Eq. 7-11 (chapter 03).

# %% mystnb={"figure": {"caption": "M3-Net (Sec. 3.1) as this chapter built it: every box is a module of the model, labelled with what it computes and the shapes it returned in one forward pass; arrows end at the loss terms of Eq. 7-11.", "name": "fig-m3net-architecture"}}
m3net_diagram(model, x, attr_ids)

# %% [markdown]
# ## The attention maps it returns
#
# {numref}`fig-m3net-untrained-attention` shows the attribute attention (SCA-A, one map per row)
# and the class attention (SCA-C, the row's first
# labelled class), stretched over each image. The network is untrained, so the maps are close to
# uniform; chapter 05 shows trained ones and measures how much of their mass lands on the named
# part.
#
# > Each panel is min-max scaled to the full colour range, so even the small variations of an
# > untrained map look pronounced: read the colours as "where", not "how much".

# %% mystnb={"figure": {"caption": "Attribute attention (SCA-A) and class attention (SCA-C) of the untrained M3-Net over the four proxy images; each panel is min-max scaled.", "name": "fig-m3net-untrained-attention"}}
first = torch.stack(
    [(out.pair_image == b).nonzero()[0, 0] for b in range(len(x))]
)  # (B,) each row's first pair
firsts = zip(attr_ids.tolist(), out.pair_class[first].tolist(), strict=True)
class_labels = [f"class: {values[a][m]}" for a, m in firsts]
viz.attention_overlays(
    images.permute(0, 2, 3, 1).numpy(),
    {
        "attribute attention": out.attribute_attention.detach(),
        "class attention": out.class_attention[first].detach(),
    },
    row_labels=[f"attribute: {names[a]}" for a in attr_ids.tolist()],
    map_labels={"class attention": class_labels},
)

# %% [markdown]
# ## M3-Net and its baselines, side by side
#
# All seven models of Tables 2-4 come from the same registry and share `SCA`/`CCA`; they differ in
# a few switches. Parameter counts are those of the small (cpu-profile) variants built for the
# proxy DeepFashion taxonomy, counted from the modules; "head" is everything but the backbone(s).
#
# > MODC {cite}`jiao2022modc` has no public code; ours is our reading of the method (see
# > `fashion_lib.models.modc`). ASEN++'s {cite}`dong2021asenpp` local branch reads a crop around the global attention, so it has a second backbone.

# %%
row_models(counts)

# %% [markdown]
# ### M3-Net_c: an attribute branch without attention
#
# The paper's M3-Net_c has "only the class-conditional attention modules". It still needs an
# attribute representation $\varphi_n$: the head $g_n$ reads it (Eq. 3) to pick the class spaces, and
# the multi-granularity protocol ranks the candidates outside the shared class spaces by it. The
# paper does not say what it is.
#
# > **Our choice (and an erratum).** The first version took the spatial mean of $\psi$. With the
# > frozen backbone of the cpu profile nothing between $\psi$ and that mean can learn, so M3-Net_c's
# > attribute space *was* the pooled backbone, for every attribute alike. M3-Net_c now keeps the
# > attribute branch and drops only its attention: one $1 \times 1$ convolution per attribute,
# > $\psi_n = W_n \psi + b_n$ (`fashion_lib.models.m3net.AttributeMaps`), started at the identity;
# > $\varphi_n$ is the spatial mean of $\psi_n$, and SCA-C attends $\psi_n$ where M3-Net's attends
# > $\phi_n$. The multi-label loss $L_M$ trains it through the head and the class losses through
# > the class branch, as they train SCA-A and CCA-A in M3-Net. The cell below checks both on the
# > batch: at initialisation $\varphi_n$ is the pooled map, and $L_M$ alone sends a gradient into $W_n$.

# %%
ablation_c = create_model("m3net_c_small", classes_per_attribute=counts)
out_c = ablation_c(x, attr_ids, class_ids)
pooled = ablation_c.backbone(x).mean(dim=(2, 3))  # (B, c) the first version's
varphi_c = out_c.attribute_embeddings  # (B, c)
check_equal("M3-Net_c's varphi_n at the start", pooled, varphi_c, atol=1e-5)
targets_c = torch.zeros_like(out_c.multilabel_logits)  # (B, M_max)
for b, m in enumerate(positives):
    targets_c[b, m] = 1.0  # the row's labelled classes
logits_c, mask_c = out_c.multilabel_logits, out_c.class_mask
l_m = weighted_multilabel_bce(logits_c, targets_c, mask_c, 100.0)
l_m.backward()
grad_c = ablation_c.attribute_maps.weight.grad  # (N, c, c)
print(
    f"L_M's gradient on the attribute branch: norm {grad_c.norm():.2e} "
    f"over {grad_c.numel():,} parameters (the first version had none)"
)

# %% [markdown]
# ## What this chapter produced
#
# - the shape of every tensor of one M3-Net forward pass (the table above), with the paper's SCA and
#   CCA re-computed step by step and checked against the library;
# - a check that the batched class branch equals a per-pair loop;
# - the attention maps M3-Net returns, drawn over the images;
# - the seven models of Tables 2-4 with their parameter counts and differences, and a check that
#   M3-Net_c's attribute branch starts at the pooled backbone map and receives $L_M$'s gradient.

# %% [markdown]
# ## Exercises
#
# Each exercise asks for a prediction and has a try-it cell holding the one value to change. Write
# the prediction down, then open the **Solution**: the prediction and its reasoning in prose, and
# the code that measures what happens at the try-it value (in JupyterLab, change the value and run
# the solution's cells again). It runs on the same untrained network and batch as the cells above,
# in a few milliseconds in every profile.

# %% [markdown] tags=["exercise"]
# ### Exercise 2.1: gamma = 0.5
#
# The untrained head above keeps only its top-1 class at gamma = 0.8. Set gamma to 0.5 and count
# the classes each row keeps. **Predict** the share of classes excluded (probability <= gamma)
# before you look.

# %% tags=["try-it"]
try_gamma = 0.5  # the threshold on class probabilities (the paper: 0.8)

# %% [markdown] tags=["solution"]
# **Prediction.** Around half of the classes are excluded at gamma = 0.5, instead of all of them at 0.8.
#
# **Reasoning.** An untrained head's logits scatter around 0, so its probabilities scatter around 0.5,
# on both sides; gamma = 0.5 cuts that cloud near its middle. The top-1 floor still applies, so
# the kept count is between 1 and the row's M_n.

# %% tags=["solution"]
ex_rows = []
for ex_gamma in (model.config.gamma, try_gamma):
    ex_kept = select_classes(logits.detach(), mask, ex_gamma, model.config.max_classes)
    ex_rows.append(
        {
            "gamma": ex_gamma,
            "excluded (p <= gamma) %": 100 * excluded_share(logits.detach(), mask, ex_gamma),
            "classes kept per row": (ex_kept >= 0).sum(dim=1).tolist(),
            "classes of the row's attribute": mask.sum(dim=1).tolist(),
        }
    )
pd.DataFrame(ex_rows).set_index("gamma").round(1)

# %% [markdown] tags=["exercise"]
# ### Exercise 2.2: SCA without the $1/\sqrt{c'}$ scale
#
# Algorithm 1 divides the summed scores by $\sqrt{c'}$ before the softmax. Drop that division and
# recompute the attribute attention of the batch. **Predict** whether the maps move away from
# uniform or towards it, and by roughly what factor their largest weight departs from $1/(hw)$.

# %% tags=["try-it"]
try_divisor = 1.0  # what SCA divides its scores by (the paper: sqrt(c'))

# %% [markdown] tags=["solution"]
# **Prediction.** Away from uniform, by about sqrt(c') = sqrt(128) ~ 11 times. The scores are sqrt(c')
# times larger; while they are small (an untrained network), a softmax departs from uniform in
# proportion to its scores, so the excess of the largest weight over 1 / (h w) grows ~11-fold too.
# Both maps stay close to uniform here, because untrained scores are tiny.
#
# **Reasoning.** Dividing by sqrt(c') is a softmax temperature; it keeps a sum over c' channels at the
# scale of one channel, so that a trained map does not saturate on a single cell.

# %% tags=["solution"]
with torch.no_grad():
    ex_raw = (p1 * p2[:, :, None, None]).sum(dim=1).flatten(1)  # (B, h w) unscaled scores
    ex_scores = {
        "scaled by 1/sqrt(c') (paper)": ex_raw / p1.shape[1] ** 0.5,
        f"divided by {try_divisor:g}": ex_raw / try_divisor,
    }
ex_table = pd.DataFrame(
    {
        name: {
            "score std over the map": float(s.std(dim=1).mean()),
            "largest weight x h w - 1": float(F.softmax(s, dim=1).max(dim=1).values.mean()) * h * w
            - 1,
        }
        for name, s in ex_scores.items()
    }
).T
ex_table.loc["ratio to the paper's"] = ex_table.iloc[1] / ex_table.iloc[0]
ex_table

# %% [markdown] tags=["exercise"]
# ### Exercise 2.3: drop CCA
#
# Replace channel attention by $\beta_n = 1$, i.e. take $x_n = q_1(\phi_n)$. Encode every image of
# the batch for *every* attribute and measure how similar one image's representations for
# different attributes are (mean cosine over attribute pairs). **Predict** whether dropping CCA
# makes them more or less alike.

# %% tags=["try-it"]
try_cca = False  # True: x_n = beta_n q1 (the paper); False: x_n = q1

# %% [markdown] tags=["solution"]
# **Prediction.** More alike; without CCA the cosines are 1 up to rounding.
#
# **Reasoning.** An untrained SCA map is close to uniform, so q1(phi_n) is nearly the same pooled vector
# whatever the attribute; the only attribute-specific factor left would be CCA's gate beta_n, which
# differs per attribute through the label embedding q2. Dropping it removes that factor.

# %% tags=["solution"]
ex_n = len(names)
ex_attr = torch.arange(ex_n).repeat(len(x))  # (B N,) every attribute for every image
with torch.no_grad():
    ex_phi = model.sca_a(psi.repeat_interleave(ex_n, dim=0), ex_attr).attended  # (B N, c, h, w)
    ex_vectors = {
        "with CCA (x_n = beta_n q1)": model.cca_a(ex_phi, ex_attr).attended,  # (B N, c)
        f"try_cca = {try_cca}": model.cca_a(ex_phi, ex_attr).attended
        if try_cca
        else ex_phi.flatten(2).sum(dim=2),  # (B N, c)
    }
ex_off = ~torch.eye(ex_n, dtype=torch.bool)  # pairs of different attributes
ex_cos = {}
for name, v in ex_vectors.items():
    v = F.normalize(v.view(len(x), ex_n, -1), dim=2)  # (B, N, c)
    ex_cos[name] = float((v @ v.transpose(1, 2))[:, ex_off].mean())
pd.Series(ex_cos, name="mean cosine between attributes of one image").to_frame().round(6)

# %% [markdown] tags=["exercise"]
# ### Exercise 2.4: SCA-C on the un-rescaled map
#
# Our choice feeds SCA-C the map $h w\,\phi_n$ (see the note above the class branch). Feed it
# $\phi_n$ itself and compute SCA-C's scores for the batch's pairs. **Predict** by how much the
# spread of the scores over the map shrinks.


# %% tags=["try-it"]
try_scale = 1  # the factor on phi_n that SCA-C reads (our choice: h w)

# %% [markdown] tags=["solution"]
# **Prediction.** By roughly h w = 64 times; the unscaled scores are almost constant over the map.
#
# **Reasoning.** Phi_n = alpha_n psi is about 1 / (h w) of psi, so T(phi_n) is the 1 x 1 convolution's
# bias (the same at every cell) plus a variation h w times smaller than that of T(h w phi_n); tanh is
# nearly linear on such small variations, so the scores' spread shrinks by about the same factor.
# Flat scores give a flat softmax: the map SCA-C could learn has no signal to start from.


# %% tags=["solution"]
def ex_sca_scores(module, feats, labels):
    """Algorithm 1's scores (P, h w) of one SCA module, before the softmax."""
    q = torch.tanh(module.feature_transform(feats))  # (P, c', h, w)
    k = torch.tanh(module.label_transform(module.code(labels)))  # (P, c')
    return (q * k[:, :, None, None]).sum(dim=1).flatten(1) / q.shape[1] ** 0.5


ex_pair_attr = attr_ids[out.pair_image]  # (P,)
ex_spread = {}
with torch.no_grad():
    for label, scale in (("h w phi_n (our choice)", h * w), (f"{try_scale:g} phi_n", try_scale)):
        ex_parts = []
        for a in ex_pair_attr.unique().tolist():
            pick = ex_pair_attr == a
            ex_map = phi[out.pair_image[pick]] * scale  # (P_a, c, h, w)
            ex_parts.append(ex_sca_scores(model.sca_c[a], ex_map, out.pair_class[pick]))
        ex_spread[label] = float(torch.cat(ex_parts).std(dim=1).mean())
ex_spread["ratio"] = ex_spread["h w phi_n (our choice)"] / ex_spread[f"{try_scale:g} phi_n"]
pd.Series(ex_spread, name="SCA-C score std over the map").to_frame()

# %% [markdown]
# ## Provenance
#
# What produced this page: the profile, the run records this chapter wrote or reused (name,
# configuration hash, seed), the commit of the code, the chapter's wall time and peak memory, and
# the machine.

# %% tags=["hide-input"]
from fashion_lib.book.provenance import provenance_block

provenance_block(profile)
