"""TrainDataset (mosaic / affine / HSV / flip) and ValDataset (letterbox), plus the DataLoader factory."""
import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .augment import augment_hsv, hflip, letterbox, random_affine
from .mosaic import mixup, mosaic4
from .records import report

DEFAULT_AUG = dict(hsv_h=0.015, hsv_s=0.7, hsv_v=0.4, degrees=0.0, translate=0.1, scale=0.5, shear=0.0,
                   flipud=0.0, fliplr=0.5, mosaic=1.0, mixup=0.0)


class DetectionDataset(Dataset):
    """Items: (uint8 CHW RGB tensor, labels float32 [n, 5] class,x1,y1,x2,y2 in input pixels, info dict).

    augment=False is the validation path: a plain centred letterbox, like deployment.
    """

    def __init__(self, records, img_size, augment=False, hyp=None, seed=0):
        self.records = records
        self.size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        self.augment = augment
        self.hyp = {**DEFAULT_AUG, **(hyp or {})}
        self.seed = seed
        self.mosaic_enabled = augment and self.hyp["mosaic"] > 0
        self.epoch = 0
        self._bad = set()

    def __len__(self):
        return len(self.records)

    def load(self, i):
        """Image resized so its longer side is the training size (aspect kept) + labels in those pixels."""
        for k in range(len(self.records)):
            path, labels, _shape, _ = self.records[(i + k) % len(self.records)]
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is not None:
                break
            if path not in self._bad:  # changed on disk since the scan: report once, stand in the next image
                self._bad.add(path)
                report(path, "corrupt or unreadable image")
        else:
            raise RuntimeError("every image of the data set is unreadable (see the warnings above)")
        h0, w0 = img.shape[:2]
        r = min(self.size[0] / h0, self.size[1] / w0)
        if r != 1:
            img = cv2.resize(img, (int(round(w0 * r)), int(round(h0 * r))),
                             interpolation=cv2.INTER_AREA if r < 1 else cv2.INTER_LINEAR)
        labels = labels.copy()
        labels[:, 1:] *= r
        return img, labels

    def __getitem__(self, item):
        # items from EpochSampler are (index, epoch, mosaic); a plain int means no augmentation switches
        i, epoch, mosaic = item if isinstance(item, tuple) else (item, self.epoch, self.mosaic_enabled)
        # one generator per (seed, epoch, index): reproducible and independent across workers
        rng = np.random.default_rng((self.seed, epoch, i))
        hyp = self.hyp
        path, _, (h0, w0), image_id = self.records[i]
        affine = dict(degrees=hyp["degrees"], translate=hyp["translate"], scale=hyp["scale"], shear=hyp["shear"])
        if self.augment and mosaic and rng.random() < hyp["mosaic"]:
            idx = [i] + list(rng.integers(0, len(self), 3))
            img, labels = mosaic4([self.load(int(k)) for k in idx], self.size, rng, **affine)
            if hyp["mixup"] > 0 and rng.random() < hyp["mixup"]:
                idx = list(rng.integers(0, len(self), 4))
                img, labels = mixup((img, labels), mosaic4([self.load(int(k)) for k in idx], self.size, rng,
                                                           **affine), rng)
            scale, pad = 1.0, (0, 0)
        else:
            img, labels = self.load(i)
            img, _, pad = letterbox(img, self.size, center=True)
            labels[:, [1, 3]] += pad[0]
            labels[:, [2, 4]] += pad[1]
            scale = min(self.size[0] / h0, self.size[1] / w0)
            if self.augment:
                img, labels = random_affine(img, labels, rng, self.size, **affine)
        if self.augment:
            augment_hsv(img, rng, hyp["hsv_h"], hyp["hsv_s"], hyp["hsv_v"])
            if rng.random() < hyp["fliplr"]:
                img, labels = hflip(img, labels)
            if rng.random() < hyp["flipud"]:
                img = np.ascontiguousarray(img[::-1])
                if len(labels):
                    labels[:, [2, 4]] = img.shape[0] - labels[:, [4, 2]]
        img = np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1))  # BGR HWC -> RGB CHW
        info = {"path": path, "image_id": image_id, "orig_shape": (h0, w0), "scale": scale, "pad": pad}
        return torch.from_numpy(img), torch.from_numpy(labels.astype(np.float32)), info


def collate(batch):
    """Stack images; labels become one [M, 6] tensor (batch index, class, x1, y1, x2, y2)."""
    imgs, labels, infos = zip(*batch)
    rows = [torch.cat([torch.full((len(lab), 1), float(b)), lab], 1) for b, lab in enumerate(labels)]
    return torch.stack(imgs), torch.cat(rows, 0) if rows else torch.zeros((0, 6)), list(infos)


def build_loader(dataset, batch_size, sampler, workers=2):
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      pin_memory=torch.cuda.is_available(), collate_fn=collate, persistent_workers=workers > 0)


def targets_to_padded(labels, batch_size):
    """[M, 6] (b, cls, box) -> gt_labels [B, maxn, 1], gt_boxes [B, maxn, 4], mask [B, maxn, 1] for the assigner."""
    counts = torch.bincount(labels[:, 0].long(), minlength=batch_size) if len(labels) else torch.zeros(
        batch_size, dtype=torch.long)
    maxn = int(counts.max()) if batch_size else 0
    gt_labels = torch.zeros(batch_size, maxn, 1, device=labels.device)
    gt_boxes = torch.zeros(batch_size, maxn, 4, device=labels.device)
    mask = torch.zeros(batch_size, maxn, 1, dtype=torch.bool, device=labels.device)
    for b in range(batch_size):
        sel = labels[labels[:, 0] == b]
        n = len(sel)
        gt_labels[b, :n, 0] = sel[:, 1]
        gt_boxes[b, :n] = sel[:, 2:6]
        mask[b, :n] = True
    return gt_labels, gt_boxes, mask
