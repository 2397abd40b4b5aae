"""What drives the model over many photos: the captioner, its loading, decoding workers, devices, budgets, results."""
