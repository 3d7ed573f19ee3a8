# Writes the .npy fixtures of tests/core/npy_test.cc with NumPy itself (run from this folder).
# Values are arange-based so the test can recompute them: element i of f4_2x3 is i * 0.5 - 1.
import numpy as np

def save(name, arr, version=None):
    if version is None:
        np.save(name, arr)
    else:
        with open(name, "wb") as f:
            np.lib.format.write_array(f, arr, version=version)

save("f4_2x3.npy", (np.arange(6, dtype=np.float32) * 0.5 - 1).reshape(2, 3))
save("f8_5.npy", np.arange(5, dtype=np.float64) / 3)
save("f2_3x1.npy", (np.arange(3, dtype=np.float16) - 1.5).reshape(3, 1))
save("i8_scalar.npy", np.array(-7, dtype=np.int64))
save("i4_2x2x3.npy", (np.arange(12, dtype=np.int32) - 6).reshape(2, 2, 3))
save("i2_4.npy", np.array([-32768, -1, 0, 32767], dtype=np.int16))
save("i1_3.npy", np.array([-128, 0, 127], dtype=np.int8))
save("u1_3.npy", np.array([0, 128, 255], dtype=np.uint8))
save("u2_2.npy", np.array([0, 65535], dtype=np.uint16))
save("u4_2.npy", np.array([1, 4294967295], dtype=np.uint32))
save("u8_2.npy", np.array([1, 18446744073709551615], dtype=np.uint64))
save("b1_5.npy", np.array([True, False, True, True, False]))
save("f4_empty_0x3.npy", np.zeros((0, 3), dtype=np.float32))
save("f4_v2_7.npy", np.arange(7, dtype=np.float32), version=(2, 0))
save("f4_v3_7.npy", np.arange(7, dtype=np.float32), version=(3, 0))
save("f4_fortran_2x3.npy", np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
save("f4_bigendian_3.npy", np.arange(3, dtype=">f4"))
with open("object_2.npy", "wb") as f:
    np.lib.format.write_array(f, np.array([1, "a"], dtype=object), allow_pickle=True)
save("structured_2.npy", np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")]))
