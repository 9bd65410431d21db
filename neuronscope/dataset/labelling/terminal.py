"""The labelling flow in a terminal: each crop drawn with 24-bit colour half-blocks, answered on stdin."""

from __future__ import annotations

import sys

import torch.nn.functional as F

from neuronscope.dataset.crops import to_uint8


def label_in_terminal(session, stdin=None, stdout=None, width: int = 32) -> int:
    """Ask for each unanswered item in turn until all are answered, "q" or end of input; the
    answer is a category's number or name, "u" takes the previous answer back. Returns the
    number of items answered so far."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    menu = "  ".join(f"{i}) {name}" for i, name in enumerate(session.categories, 1))
    while (index := session.next_index()) is not None:
        stdout.write(f"\n{session.stats.layer}:{session.unit}  item {session.answered + 1} of {len(session)}\n")
        stdout.write(render(session.crop(index), width))
        while True:
            stdout.write(f"{menu}  u) undo  q) quit\n> ")
            stdout.flush()
            line = stdin.readline()
            reply = line.strip().lower()
            if not line or reply == "q":
                stdout.write(f"\nsaved {session.answered} of {len(session)} answers in {session.path}\n")
                return session.answered
            if reply == "u":
                if session.undo() is None:
                    stdout.write("nothing to undo\n")
                    continue
                break
            label = _category(session.categories, reply)
            if label is None:
                stdout.write(f"answer with 1-{len(session.categories)}, a category name, u or q\n")
                continue
            session.answer(index, label)
            break
    stdout.write(f"\nall {len(session)} items are labelled ({session.path})\n")
    return session.answered


def render(image, width: int) -> str:
    """(3, H, W) float image as text: two pixel rows per line, upper as foreground, lower as background."""
    height = max(2, round(width * image.shape[1] / image.shape[2] / 2) * 2)
    small = F.interpolate(image[None], size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    pixels = to_uint8(small[0])
    lines = []
    for top, bottom in zip(pixels[0::2], pixels[1::2]):
        cells = (f"\x1b[38;2;{a[0]};{a[1]};{a[2]}m\x1b[48;2;{b[0]};{b[1]};{b[2]}m\u2580" for a, b in zip(top, bottom))
        lines.append("".join(cells) + "\x1b[0m\n")
    return "".join(lines)


def _category(categories: list[str], reply: str) -> str | None:
    if reply.isdigit() and 1 <= int(reply) <= len(categories):
        return categories[int(reply) - 1]
    return next((c for c in categories if c.lower() == reply), None)
