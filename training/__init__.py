"""Offline training, one module per stage. Nothing here is imported at serving time.

  run             one run top to bottom: train() is the table of contents of the stages below
  config          every setting: TrainConfig, SpanConfig, PretrainConfig, RunOptions
  data, unlabeled labelled reviews (aclImdb, CSV, JSONL) and unlabeled texts
  corpus          a run's splits and unlabeled texts, and Encoded, the texts as token ids
  glove, start    GloVe vectors; where the network starts (new, pretrained, an artifact)
  language_model  the encoder's forward and backward language models and their loss
  pretrain        the language-model stage, its checkpoints and the saved encoder
  spans, teacher  short spans of reviews as extra examples; the artifact that chooses them
  optim           AdamW and its schedule, for both stages
  adversarial     adversarial and virtual adversarial terms of the fine-tuning loss
  loop            the fine-tuning epoch and fit(): early stopping, checkpoints, resume
  checkpoint      checkpoints that resume exactly, and the checkpoint folder's file names
  soup            the average of several fine-tunings' best weights
  calibration     temperatures per length band
  metrics         the figures training stores, and temperature fitting
  export          TorchScript, its checks, and the artifact's atomic write
  cli, evaluate   sentiment-train and sentiment-evaluate (command: what they share);
                  report: the figures sentiment-evaluate prints
  download        the official aclImdb archive
Batches grouped by length come from model.batching, the one implementation for every consumer.
"""
