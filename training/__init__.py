"""Offline training: data loading, GloVe, the training loop, evaluation and export.

Nothing here is imported at serving time.
"""
