"""Reading the user's files safely: regular files only, bounded reads, image decoding, temporary files."""
