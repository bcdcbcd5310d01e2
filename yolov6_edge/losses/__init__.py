"""Detection losses: VariFocal (classification), IoU variants (box), DFL (distributions), distillation, and
the label assigners the detection loss needs (assigners/: TAL, ATSS). Training and QAT both use them."""
