"""Classification accuracy of a model on a labelled image folder."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from neuronscope.errors import NeuronscopeError
from neuronscope.images import standard_view


@dataclass(frozen=True)
class Accuracy:
    top1: float
    top5: float
    n: int
    correct1: torch.Tensor  # per image, bool
    correct5: torch.Tensor

    def line(self) -> str:
        return f"top1={self.top1:.3f} top5={self.top5:.3f} n={self.n}"


def read_labels(csv_path: str | Path, label_column: str, file_column: str = "file") -> list[tuple[str, int]]:
    """(file, class index) rows of a labels CSV; malformed files are a NeuronscopeError. A UTF-8
    byte-order mark (as spreadsheet programs write) is not part of the first column's name."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            for col in (file_column, label_column):
                if col not in fields:
                    raise NeuronscopeError(f"{csv_path} has no column {col!r}; columns are: {', '.join(fields)}")
            rows = [(row[file_column], int(row[label_column])) for row in reader]
    except FileNotFoundError:
        raise NeuronscopeError(f"no such labels file: {csv_path}") from None
    except IsADirectoryError:
        raise NeuronscopeError(f"{csv_path} is a folder, not a labels file") from None
    except UnicodeDecodeError as exc:
        raise NeuronscopeError(f"{csv_path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (ValueError, TypeError, csv.Error) as exc:
        raise NeuronscopeError(f"bad labels file {csv_path}: {exc}") from None
    if not rows:
        raise NeuronscopeError(f"{csv_path} lists no images")
    negative = next((row for row in rows if row[1] < 0), None)
    if negative:
        raise NeuronscopeError(f"{csv_path}: {negative[0]} has label {negative[1]}; class indices start at 0")
    return rows


def check_labels(rows: list[tuple[str, int]], classes: int, folder: str | Path | None = None) -> None:
    """Refuse labels outside the model's `classes` outputs (they could never be predicted, and
    accuracy would silently count them as wrong) and, with `folder`, listed files that are missing."""
    bad = next((row for row in rows if not 0 <= row[1] < classes), None)
    if bad:
        raise NeuronscopeError(f"{bad[0]} has label {bad[1]}, but the model has {classes} classes (0-{classes - 1}); "
                               f"is the label column the one for this model?")
    if folder is not None:
        missing = [name for name, _ in rows if not (Path(folder) / name).is_file()]
        if missing:
            raise NeuronscopeError(f"{len(missing)} of {len(rows)} labelled images are not in {folder}: no such "
                                   f"image {missing[0]}")


def labelled_batches(folder: str | Path, rows: list[tuple[str, int]], batch_size: int = 50, size: int = 224):
    """Yield (images (N,3,size,size), labels (N,)) in the standard evaluation view: short side
    resized to size + 32 (256 for 224, EfficientNet's crop padding), centre crop."""
    for i in range(0, len(rows), batch_size):
        chunk = rows[i:i + batch_size]
        images = torch.stack([standard_view(Path(folder) / name, size + 32, size) for name, _ in chunk])
        yield images, torch.tensor([label for _, label in chunk])


def accuracy(model, folder: str | Path, rows: list[tuple[str, int]], batch_size: int = 50,
             interventions=None, progress: bool = True) -> Accuracy:
    """Top-1 and top-5 accuracy at the model's own input size (`model.input_size`);
    `interventions` as in `Model.capture` (for ablations)."""
    if model.labels:
        check_labels(rows, len(model.labels), folder)
    c1, c5 = [], []
    with torch.no_grad():
        batches = labelled_batches(folder, rows, batch_size, getattr(model, "input_size", 224))
        for images, labels in tqdm(batches, total=-(-len(rows) // batch_size),
                                   desc=f"evaluating {model.name}", unit="batch", disable=not progress):
            logits = model.capture(images, ["logits"], interventions=interventions)["logits"].cpu()
            if not c1 and not model.labels:
                check_labels(rows, logits.shape[-1])
            top5 = logits.topk(5, dim=-1).indices
            c1.append(top5[:, 0] == labels)
            c5.append((top5 == labels[:, None]).any(dim=1))
    correct1, correct5 = torch.cat(c1), torch.cat(c5)
    n = len(correct1)
    return Accuracy(correct1.float().mean().item(), correct5.float().mean().item(), n, correct1, correct5)
