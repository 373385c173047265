"""Stage 4, score: grammar-recovery metrics of attribution maps against the ground truth."""
