"""Detection datasets (COCO JSON, YOLO txt), augmentation and the DataLoader."""
