"""Mean and variance per unit that merge bit-exactly however the work was split.

Each chunk (a fixed group of images, numbered globally) contributes (n, mean, M2) computed in
float64 by two passes. Chunks are combined with Chan et al.'s pairwise update, but only along a
fixed binary tree over chunk numbers: a run keeps the maximal aligned blocks [k*2^j, (k+1)*2^j)
it has finished, and merges two blocks only when they are siblings in that tree. Every block is
therefore computed by the same sequence of float operations in a single run, a resumed run or a
set of shards, so merged shards equal the single run exactly; only O(log chunks) blocks are kept.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Block:
    """Moments of the chunks [start, end): count, per-unit mean and sum of squared deviations."""

    start: int
    end: int
    n: int
    mean: object  # (C,) float64 tensor or array
    m2: object


def chan(a: Block, b: Block) -> Block:
    """Combine the moments of two disjoint sets of values (Chan, Golub & LeVeque 1979)."""
    n = a.n + b.n
    if a.n == 0 or b.n == 0:
        kept = a if b.n == 0 else b
        return Block(a.start, b.end, n, kept.mean, kept.m2)
    delta = b.mean - a.mean
    mean = a.mean + delta * (b.n / n)
    m2 = a.m2 + b.m2 + delta * delta * (a.n * b.n / n)
    return Block(a.start, b.end, n, mean, m2)


def _siblings(left: Block, right: Block) -> bool:
    width = left.end - left.start
    return left.end == right.start and right.end - right.start == width and left.start % (2 * width) == 0


def blocks_from_state(state: dict, convert=lambda a: a) -> list[Block]:
    """The blocks stored in a state dict (`moment_*` arrays); `convert` maps each array (e.g. to a tensor)."""
    columns = (state["moment_range"], state["moment_n"], state["moment_mean"], state["moment_m2"])
    return [Block(int(r[0]), int(r[1]), int(n), convert(mean), convert(m2)) for r, n, mean, m2 in zip(*columns)]


class MomentTree:
    """The canonical aligned blocks of the chunks seen so far, ordered by start."""

    def __init__(self, blocks: list[Block] | None = None):
        self.blocks: list[Block] = []
        for block in sorted(blocks or [], key=lambda b: b.start):
            self.add(block)

    def add(self, block: Block) -> None:
        if self.blocks and block.start < self.blocks[-1].end:
            raise ValueError(f"chunk range [{block.start}, {block.end}) overlaps work already counted")
        self.blocks.append(block)
        while len(self.blocks) > 1 and _siblings(self.blocks[-2], self.blocks[-1]):
            right = self.blocks.pop()
            self.blocks[-1] = chan(self.blocks[-1], right)

    def total(self) -> Block:
        """All blocks folded left to right (unique for a given set of chunks)."""
        total = self.blocks[0]
        for block in self.blocks[1:]:
            total = chan(total, block)
        return total
