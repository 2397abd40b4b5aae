"""The captioning model and what it is made of: encoder, attention, decoder, beam search, vocabulary, checkpoints."""
