"""fashion_lib: the tested library behind the fashion reproduction book.

It reads the real dataset formats (DeepFashion, FashionAI, DARN, FashionGen, FashionIQ), renders a
procedural proxy world in those formats, and implements M3-Net and FashionSAP with their baselines,
training engine and evaluation protocols. Importing it has no side effects.
"""

__version__ = "0.1.0"
