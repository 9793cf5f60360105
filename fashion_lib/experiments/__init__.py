"""Experiments: the runs behind the book's chapters, each a recorded, reusable function of a profile.

- `backbone_pretrain`: proxy pre-training of a CNN backbone (the analogue of ImageNet weights).
- `m3net_runs` (with `m3net_settings`, `m3net_training`, `m3net_eval`): the seven rows of M3-Net's
  Tables 2-4 on DeepFashion, FashionAI and DARN, with per-query evidence beside each record.
- `m3net_selection`: each family's learning rate chosen on the validation split, and its curves.
- `fashionsap_*`: FashionSAP's pre-training and downstream runs.

Every run goes through `fashion_lib.engine` (checkpoints, resume, run records), so calling an
experiment a second time with the same settings reads its record instead of training again.
"""
