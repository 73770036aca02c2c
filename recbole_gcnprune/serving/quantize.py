"""Row vectors stored as float32, float16, int8, int8-channel or int4, and read back as float32.

int8 and int4 are per-row symmetric: ``scale = max|row| / 127`` (int4: ``/ 7``) and
``q = round(row / scale)``, so ``row ~ q * scale``; int4 packs two values per byte (high nibble
first, ``q + 8``). int8-channel is per-channel symmetric, one scale per column
(``max|column| / 127``): the scales cost ``4 x width`` bytes in all instead of 4 bytes a row,
which at 16 channels is a fifth of an int8 row. A row (column) of zeros has scale 0. numpy only.
"""

import numpy as np

QUANTIZED_LEVELS = {"int8": 127, "int8-channel": 127, "int4": 7}
PER_CHANNEL = ("int8-channel",)  # one scale per column; the others' scales are per row


def scale_axis(dtype):
    """The axis a scale is taken over: 0 (per column) or 1 (per row)."""
    return 0 if dtype in PER_CHANNEL else 1


def quantize(matrix, dtype):
    """``(stored, scales)``: ``matrix`` (float32, rows x width) in ``dtype``; ``scales`` is a
    float32 vector (one per row, or per column for int8-channel) for the integer types, else
    None."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if dtype in ("float32", "float16"):
        return matrix.astype(dtype), None
    levels, axis = QUANTIZED_LEVELS[dtype], scale_axis(dtype)
    scales = (np.abs(matrix).max(axis=axis) / levels).astype(np.float32) if matrix.size else \
        np.zeros(matrix.shape[1 - axis], np.float32)
    divisor = np.expand_dims(np.where(scales > 0, scales, 1.0).astype(np.float32), axis)
    levels_of_rows = np.clip(np.rint(matrix / divisor), -levels, levels)
    if dtype != "int4":
        return levels_of_rows.astype(np.int8), scales
    return pack_int4(levels_of_rows.astype(np.int8)), scales


def dequantize(stored, scales, dtype, width):
    """float32 rows (rows x ``width``) of ``stored`` rows (and their ``scales``: the rows'
    own, or every column's for int8-channel)."""
    if dtype in ("float32", "float16"):
        return np.asarray(stored, dtype=np.float32)
    levels = unpack_int4(stored, width) if dtype == "int4" else stored
    return levels.astype(np.float32) * np.expand_dims(np.asarray(scales, np.float32),
                                                      scale_axis(dtype))


def pack_int4(levels):
    """Values in [-7, 7] (rows x width, int8) packed two per byte (an odd width gets a 0)."""
    nibbles = (levels.astype(np.int16) + 8).astype(np.uint8)
    if nibbles.shape[1] % 2:
        nibbles = np.concatenate([nibbles, np.full((nibbles.shape[0], 1), 8, np.uint8)], axis=1)
    return (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]


def unpack_int4(packed, width):
    """The int8 values of :func:`pack_int4`'s bytes, ``width`` per row."""
    packed = np.asarray(packed, dtype=np.uint8)
    nibbles = np.empty((packed.shape[0], packed.shape[1] * 2), np.int8)
    nibbles[:, 0::2] = packed >> 4
    nibbles[:, 1::2] = packed & 0x0F
    return nibbles[:, :width] - 8


def stored_width(dtype, width):
    """Columns of the stored array for vectors of ``width``."""
    return (width + 1) // 2 if dtype == "int4" else width
