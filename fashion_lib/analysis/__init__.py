"""Analyses of trained models that the papers report beside their tables (or could not measure).

- `cooccurrence`: pairwise co-occurrence of classes in multi-label data and the MAP of a model on
  the frequently co-occurring classes (M3-Net, Sec. 4.3.1).
- `gamma`: the multi-label threshold gamma: the share of classes it excludes and retrieval quality
  as it varies, on one forward pass of trained weights (M3-Net, Sec. 3.1 and its supplement).
- `attention_score`: attention mass on the ground-truth part of the named class, from the models'
  own attention maps and the proxy world's part masks (a measurement neither paper could make).
- `ranking`: the ranked candidates of chosen queries, exactly as the evaluation ranks them.
- `tables`: our per-seed results in the layout of M3-Net's Tables 2-4, beside the printed ones.
- `gradcam`: Grad-CAM of FashionSAP's cross-attention (Figure 4) and its score on the part masks.
"""
