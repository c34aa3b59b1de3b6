"""Edge-case NIfTI files written by nibabel (the nibabel test data lacks most of them)."""
import numpy as np, nibabel as nib
from nibabel.nifti1 import Nifti1Image, Nifti1Header, Nifti1Pair
from nibabel.nifti2 import Nifti2Image
d = "data/synth/"
rng = np.random.default_rng(0)
aff = np.array([[0.9, 0.1, 0, -20.], [-0.1, 0.9, 0, 15.], [0, 0, 2.5, -7.], [0, 0, 0, 1]])
base = (np.arange(6*5*4).reshape(6, 5, 4)).astype(np.float32)

def save(img, name, **hdr):
    for k, v in hdr.items(): img.header[k] = v
    nib.save(img, d + name)

# big-endian int16, scaled
h = Nifti1Header(endianness='>'); h.set_data_dtype('>i2')
img = Nifti1Image(base.astype('>i2'), aff, h); img.header.set_slope_inter(0.5, -3.0)
nib.save(img, d + "be_i16_scaled.nii")
# little-endian uint16 scaled (slope 2, inter 10)
img = Nifti1Image(base.astype(np.uint16), aff); img.header.set_slope_inter(2.0, 10.0); nib.save(img, d + "u16_scaled.nii.gz")
# slope 0 with intercept (ITK: slope 0 -> 1, inter applied; nibabel: slope 0 -> no scaling)
img = Nifti1Image(base.astype(np.int16), aff); nib.save(img, d + "i16_slope0_inter.nii")
raw = bytearray(open(d + "i16_slope0_inter.nii", "rb").read())
import struct; raw[112:116] = struct.pack('<f', 0.0); raw[116:120] = struct.pack('<f', 7.0)
open(d + "i16_slope0_inter.nii", "wb").write(raw)
# int8, uint32, int64, float64, complex64, RGB24, RGBA32
for dt in ["int8", "uint32", "int64", "float64"]:
    nib.save(Nifti1Image((base % 100).astype(dt), aff, dtype=dt), d + f"{dt}.nii")
img = Nifti1Image((base + 1j * base).astype(np.complex64), aff); nib.save(img, d + "complex64.nii")
rgb = np.zeros((6, 5, 4), dtype=[('R', 'u1'), ('G', 'u1'), ('B', 'u1')]); rgb['R'] = base % 256; rgb['G'] = 7
nib.save(Nifti1Image(rgb, aff), d + "rgb24.nii")
rgba = np.zeros((6, 5, 4), dtype=[('R', 'u1'), ('G', 'u1'), ('B', 'u1'), ('A', 'u1')]); rgba['R'] = base % 256
nib.save(Nifti1Image(rgba, aff), d + "rgba32.nii")
# 4D float32 gz
nib.save(Nifti1Image(np.stack([base, base * 2], -1), aff), d + "f32_4d.nii.gz")
# 5D vector (displacement field style)
img = Nifti1Image(np.stack([base, -base, base * 0.5], -1)[:, :, :, None, :], aff); img.header.set_intent('vector'); nib.save(img, d + "vec5d.nii.gz")
# qform only, with qfac -1 (reflected)
raff = aff.copy(); raff[:3, 2] *= -1
img = Nifti1Image(base, raff); img.set_sform(None, code=0); img.set_qform(raff, code=1); nib.save(img, d + "qform_only_qfac-1.nii")
# sform code 2 (aligned) and qform code 1 disagreeing
img = Nifti1Image(base, aff); img.set_qform(np.diag([1, 1, 1, 1.]), code=1); img.set_sform(aff, code=2); nib.save(img, d + "sform2_qform1_disagree.nii")
# no forms at all
img = Nifti1Image(base, aff); img.set_qform(None, code=0); img.set_sform(None, code=0); nib.save(img, d + "no_forms.nii")
# negative pixdim (qform code 1) written by hand
img = Nifti1Image(base, aff); img.set_sform(None, code=0); img.set_qform(aff, code=1); nib.save(img, d + "neg_pixdim.nii")
raw = bytearray(open(d + "neg_pixdim.nii", "rb").read()); p1 = struct.unpack('<f', raw[80:84])[0]; raw[80:84] = struct.pack('<f', -p1)
open(d + "neg_pixdim.nii", "wb").write(raw)
# pixdim[0] = 0 (invalid qfac; nifti1_io treats as 1)
img = Nifti1Image(base, aff); img.set_sform(None, code=0); img.set_qform(aff, code=1); nib.save(img, d + "qfac0.nii")
raw = bytearray(open(d + "qfac0.nii", "rb").read()); raw[76:80] = struct.pack('<f', 0.0); open(d + "qfac0.nii", "wb").write(raw)
# NIfTI-2 single file, float32 and big-endian int16
nib.save(Nifti2Image(base, aff), d + "nifti2_f32.nii")
h2 = nib.Nifti2Header(endianness='>'); h2.set_data_dtype('>i2'); nib.save(Nifti2Image(base.astype('>i2'), aff, h2), d + "nifti2_be_i16.nii.gz")
# pair, gzipped img
nib.save(Nifti1Pair(base.astype(np.int16), aff), d + "pair_i16.img")
# extension present (vox_offset > 352)
img = Nifti1Image(base, aff); img.header.extensions.append(nib.nifti1.Nifti1Extension('comment', b'hello world, an extension')); nib.save(img, d + "with_ext.nii")
# big dimension > 32767 along x (legal: dim is int16 in file, so max 32767) -> use 40000 via u16 trick? skip
# 2D image
nib.save(Nifti1Image(base[:, :, 0].copy(), aff), d + "f32_2d.nii")
# NaN / inf floats
b2 = base.copy(); b2[0, 0, 0] = np.nan; nib.save(Nifti1Image(b2, aff), d + "f32_nan.nii")
print("ok")
