"""Write the small HDF5 and .npy fixtures that train/tests/data_*.rs read back.

Run from the repository root:
    PY=$(../shared/tools/oracle-venv); $PY -m pip install -r tools/data/requirements.txt
    $PY tools/data/gen_h5_fixtures.py

Every array is a closed-form function of its index (see `ramp`), so the Rust tests recompute the expected
values instead of storing a second copy. The HDF5 files are written the way users write theirs with h5py:
chunked and gzip-compressed (plus one contiguous, uncompressed dataset), bool masks as h5py's enum, string
attributes as h5py's variable-length strings. `libver=("earliest", "v110")` keeps the files readable by the
HDF5 1.10 library that CI links against, whatever HDF5 the installed h5py bundles.
"""

import os
import sys

import h5py
import numpy as np

OUT = os.path.join("tests", "fixtures", "data")


def ramp(shape, dtype=np.float32, scale=0.25, offset=-3.0):
    """Element k (row-major) is k*scale + offset: exact in f32 for the small sizes used here."""
    n = int(np.prod(shape))
    return (np.arange(n, dtype=np.float64) * scale + offset).reshape(shape).astype(dtype)


def h5(name):
    return h5py.File(os.path.join(OUT, name), "w", libver=("earliest", "v110"))


def gz(f, name, data, chunks):
    return f.create_dataset(name, data=data, chunks=chunks, compression="gzip", compression_opts=4)


def satformer():
    with h5("satformer_small.h5") as f:
        gz(f, "x", ramp((6, 2, 3, 4, 4)), (2, 1, 3, 4, 4))
        gz(f, "y", (np.arange(6) * 3 % 5).astype(np.int64), (4,))
        f.attrs["bin_edges"] = np.linspace(0.0, 1.0, 6)
        f.attrs["description"] = "wrt data fixture: precipitation bins"


def atmodist():
    with h5("atmodist_small.h5") as f:
        gz(f, "fields", ramp((12, 2, 4, 4), scale=0.5), (3, 2, 4, 4))
        f.attrs["variables"] = ["d2m", "msl"]
        f.attrs["frequency"] = "3h"
        f.attrs["time_interval"] = 12


def sitsformer():
    with h5("sitsformer_small.h5") as f:
        gz(f, "sequences", ramp((5, 3, 2, 4, 4)), (1, 3, 2, 4, 4))
        mask = np.ones((5, 3), dtype=bool)
        mask[1, 2] = False
        mask[3, 1:] = False
        gz(f, "mask", mask, (5, 3))
        f.create_dataset("label", data=np.array([0, 2, 1, 2, 0], dtype=np.int32))  # contiguous, int32


def pangu():
    with h5("pangu_small.h5") as f:
        gz(f, "surface", ramp((6, 2, 4, 8)), (1, 2, 4, 8))
        gz(f, "upper", ramp((6, 2, 3, 4, 8), scale=0.125, offset=1.0), (2, 2, 3, 4, 8))
        f.create_dataset("lat", data=np.array([60.0, 20.0, -20.0, -60.0], dtype=np.float64))


def tft():
    with h5("tft_small.h5") as f:
        gz(f, "static", ramp((5, 2)), (5, 2))
        gz(f, "known", ramp((5, 6, 2), offset=1.0), (2, 6, 2))
        gz(f, "observed", ramp((5, 6, 1), offset=2.0), (2, 6, 1))
        gz(f, "target", ramp((5, 6), offset=-1.0), (2, 6))
        f.attrs["encoder_length"] = 4
        f.attrs["decoder_length"] = 2


def npy():
    np.save(os.path.join(OUT, "f32_v1.npy"), ramp((3, 4)))
    np.save(os.path.join(OUT, "f64_v1.npy"), ramp((2, 3), dtype=np.float64))
    np.save(os.path.join(OUT, "f16_v1.npy"), ramp((4,), dtype=np.float16))
    np.save(os.path.join(OUT, "i64_v1.npy"), np.arange(-3, 3, dtype=np.int64).reshape(2, 3))
    np.save(os.path.join(OUT, "u8_v1.npy"), np.arange(5, dtype=np.uint8))
    np.save(os.path.join(OUT, "bool_v1.npy"), np.array([True, False, True, True]))
    np.save(os.path.join(OUT, "scalar_v1.npy"), np.float32(2.5))
    for version in ((2, 0), (3, 0)):
        with open(os.path.join(OUT, f"f32_v{version[0]}.npy"), "wb") as fh:
            np.lib.format.write_array(fh, ramp((3, 4)), version=version)
    # Big-endian and Fortran-order files exist in the wild; the reader must refuse them with an error.
    np.save(os.path.join(OUT, "f32_big_endian.npy"), ramp((3, 4)).astype(">f4"))
    np.save(os.path.join(OUT, "f32_fortran.npy"), np.asfortranarray(ramp((3, 4))))


def main():
    os.makedirs(OUT, exist_ok=True)
    satformer()
    atmodist()
    sitsformer()
    pangu()
    tft()
    npy()
    print(f"wrote fixtures to {OUT} with h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version}), "
          f"numpy {np.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
