"""Where each value of a spectrum goes in an image: fill orders and index maps.

A block layout cuts an ``H x W`` image into ``(H // b) x (W // b)`` blocks of
``b x b`` pixels and assigns value ``k`` of the (resampled) spectrum to the
``k``-th block of a *fill order*:

``standard``
    row by row, left to right (the published method);
``boustrophedon``
    row by row, alternating direction, so consecutive values stay adjacent at
    row ends (the published method);
``hilbert``
    along a generalised Hilbert curve, which keeps neighbouring wavelengths in
    neighbouring blocks in both directions, so the ViT's square patches see
    contiguous wavelength runs. It works for any rectangle, not only powers of two.

Pixels right of and below the last full block are padding (never hold a value).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = [
    "FILL_ORDERS",
    "fill_order",
    "block_grid",
    "pixel_index_map",
    "values_from_image",
    "gilbert_curve",
]

FILL_ORDERS = ("standard", "boustrophedon", "hilbert")


def _gilbert(x: int, y: int, ax: int, ay: int, bx: int, by: int, out: list) -> None:
    """Generalised Hilbert curve over the rectangle spanned by (ax, ay) and (bx, by)."""
    w = abs(ax + ay)
    h = abs(bx + by)
    dax, day = (ax > 0) - (ax < 0), (ay > 0) - (ay < 0)
    dbx, dby = (bx > 0) - (bx < 0), (by > 0) - (by < 0)
    if h == 1:
        for _ in range(w):
            out.append((x, y))
            x, y = x + dax, y + day
        return
    if w == 1:
        for _ in range(h):
            out.append((x, y))
            x, y = x + dbx, y + dby
        return
    ax2, ay2 = ax // 2, ay // 2
    bx2, by2 = bx // 2, by // 2
    w2 = abs(ax2 + ay2)
    h2 = abs(bx2 + by2)
    if 2 * w > 3 * h:
        if (w2 % 2) and (w > 2):  # prefer even steps
            ax2, ay2 = ax2 + dax, ay2 + day
        _gilbert(x, y, ax2, ay2, bx, by, out)
        _gilbert(x + ax2, y + ay2, ax - ax2, ay - ay2, bx, by, out)
    else:
        if (h2 % 2) and (h > 2):
            bx2, by2 = bx2 + dbx, by2 + dby
        _gilbert(x, y, bx2, by2, ax2, ay2, out)
        _gilbert(x + bx2, y + by2, ax, ay, bx - bx2, by - by2, out)
        _gilbert(
            x + (ax - dax) + (bx2 - dbx),
            y + (ay - day) + (by2 - dby),
            -bx2,
            -by2,
            -(ax - ax2),
            -(ay - ay2),
            out,
        )


@lru_cache(maxsize=64)
def gilbert_curve(rows: int, cols: int) -> np.ndarray:
    """(row, col) of each step of a generalised Hilbert curve covering a grid.

    Every cell is visited once; consecutive cells share an edge except for at
    most one diagonal step when both sides are odd. Starts at the top-left
    cell.

    Parameters
    ----------
    rows, cols : int
        Grid shape.

    Returns
    -------
    ndarray of int, shape (rows * cols, 2)

    Examples
    --------
    >>> from spectromer.imaging.layout import gilbert_curve
    >>> gilbert_curve(2, 2).tolist()
    [[0, 0], [1, 0], [1, 1], [0, 1]]
    """
    if rows < 1 or cols < 1:
        raise ValueError(f"grid must be at least 1x1, got {rows}x{cols}")
    out: list[tuple[int, int]] = []
    if cols >= rows:
        _gilbert(0, 0, cols, 0, 0, rows, out)
    else:
        _gilbert(0, 0, 0, rows, cols, 0, out)
    xy = np.asarray(out, dtype=np.int64)
    curve = np.stack([xy[:, 1], xy[:, 0]], axis=1)
    curve.setflags(write=False)
    return curve


@lru_cache(maxsize=64)
def fill_order(rows: int, cols: int, order: str = "standard") -> np.ndarray:
    """Flat block index (``row * cols + col``) of the k-th value, for a fill order.

    Parameters
    ----------
    rows, cols : int
        Number of block rows and columns.
    order : {"standard", "boustrophedon", "hilbert"}
        Fill order.

    Returns
    -------
    ndarray of int64, shape (rows * cols,)
        A permutation of ``range(rows * cols)``.

    Examples
    --------
    >>> from spectromer.imaging.layout import fill_order
    >>> fill_order(2, 3, "boustrophedon").tolist()
    [0, 1, 2, 5, 4, 3]
    """
    if order not in FILL_ORDERS:
        raise ValueError(f"fill_order must be one of {FILL_ORDERS}, got {order!r}")
    if rows < 1 or cols < 1:
        raise ValueError(f"the block grid must be at least 1x1, got {rows}x{cols}")
    grid = np.arange(rows * cols, dtype=np.int64).reshape(rows, cols)
    if order == "standard":
        idx = grid.ravel()
    elif order == "boustrophedon":
        g = grid.copy()
        g[1::2] = g[1::2, ::-1]
        idx = g.ravel()
    else:
        rc = gilbert_curve(rows, cols)
        idx = rc[:, 0] * cols + rc[:, 1]
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    idx.setflags(write=False)
    return idx


def block_grid(height: int, width: int, block_size: int) -> tuple[int, int]:
    """Number of block rows and columns that fit in an image.

    Examples
    --------
    >>> from spectromer.imaging.layout import block_grid
    >>> block_grid(224, 224, 3)
    (74, 74)
    """
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    rows, cols = height // block_size, width // block_size
    if rows < 1 or cols < 1:
        raise ValueError(f"block_size {block_size} is larger than the image ({height}x{width})")
    return rows, cols


@lru_cache(maxsize=64)
def pixel_index_map(
    height: int, width: int, block_size: int, order: str = "standard"
) -> np.ndarray:
    """Index of the value each pixel shows (-1 for padding pixels).

    Parameters
    ----------
    height, width : int
        Image size in pixels.
    block_size : int
        Side of the square block each value fills.
    order : str
        Fill order (see :data:`FILL_ORDERS`).

    Returns
    -------
    ndarray of int64, shape (height, width)

    Examples
    --------
    >>> from spectromer.imaging.layout import pixel_index_map
    >>> pixel_index_map(4, 5, 2, "standard").tolist()
    [[0, 0, 1, 1, -1], [0, 0, 1, 1, -1], [2, 2, 3, 3, -1], [2, 2, 3, 3, -1]]
    """
    rows, cols = block_grid(height, width, block_size)
    pos = fill_order(rows, cols, order)
    value_of_block = np.empty(rows * cols, dtype=np.int64)
    value_of_block[pos] = np.arange(rows * cols)
    blocks = value_of_block.reshape(rows, cols)
    out = np.full((height, width), -1, dtype=np.int64)
    out[: rows * block_size, : cols * block_size] = np.repeat(
        np.repeat(blocks, block_size, axis=0), block_size, axis=1
    )
    out.setflags(write=False)
    return out


def values_from_image(
    image: np.ndarray, block_size: int, order: str = "standard", n_values: int | None = None
) -> np.ndarray:
    """Read the values back out of a block image (inverse of the layout).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        A block-layout image (channels last).
    block_size : int
        Block side in pixels.
    order : str
        Fill order used to make the image.
    n_values : int, optional
        How many values to return (default: one per block).

    Returns
    -------
    ndarray, shape (n_values,) or (n_values, C)
        The top-left pixel of each block, in fill order.

    Examples
    --------
    >>> import numpy as np
    >>> from spectromer.imaging.layout import pixel_index_map, values_from_image
    >>> idx = pixel_index_map(6, 6, 2, "hilbert")
    >>> values_from_image(idx, 2, "hilbert").tolist()
    [0, 1, 2, 3, 4, 5, 6, 7, 8]
    """
    h, w = image.shape[:2]
    rows, cols = block_grid(h, w, block_size)
    corners = image[: rows * block_size : block_size, : cols * block_size : block_size]
    flat = corners.reshape(rows * cols, *image.shape[2:])
    values = flat[fill_order(rows, cols, order)]
    return values if n_values is None else values[:n_values]
