"""atelier: the procedural proxy world of garments, written in the real datasets' formats.

Modules, from pixels up: `palette` (named colours), `textures` (patterns and fabric cues),
`shapes` (vectorised regions and the camera), `garment` and `styles` (what a product is and how it
is drawn), `figure`, `details` and `objects` (geometry of the model, the garment's parts, shoes,
bags and hats), `render` (image + part masks), `labels` and `text` (what each dataset calls a
product), `draw` (one sample as a pure function of seed and index), `records` and `make` (splits,
the formats' writers, the atomic build), `masks` (part masks beside the data), `gallery` (figures
for the book), `probe` (the learnability check) and `invariants` (what the papers' own loaders
need of a world).
"""
