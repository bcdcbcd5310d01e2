"""Detection losses: VariFocal (classification), IoU variants (box), DFL (distributions), distillation."""
