"""Readers, writers and the validator of the five real dataset formats.

One module per format (``deepfashion``, ``fashionai``, ``darn``, ``fashiongen``, ``fashioniq``);
``asen`` holds the split files that DeepFashion, FashionAI and DARN share; ``lines`` and ``images``
the text and image plumbing; ``check`` validates a real or generated copy.
"""
