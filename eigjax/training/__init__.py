"""Point fine-tuning: SAM's interactive training recipe on a frozen image encoder."""
