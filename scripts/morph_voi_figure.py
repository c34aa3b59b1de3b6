"""The figure docs/figures/morph_voi_spheres.png: a slice of the bench volume hrpqct40
(`cargo bench --bench morph_large` writes it) with srrd's bone and marrow sphere maps, the
marrow by both readings of --mask. Make the maps first:
  srrd morph B --mask V --map /tmp/morph/th.nii.gz --sp-map /tmp/morph/sp_voi.nii.gz
  srrd morph B --mask V --mask-as count --sp-map /tmp/morph/sp_count.nii.gz
"""
import nibabel as nib, numpy as np, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
D = "target/bench-data/morph_large/"
r = lambda p: np.asanyarray(nib.load(p).dataobj).transpose(2, 1, 0)
bone, voi = r(D + "hrpqct40_bone.nii.gz") > 0, r(D + "hrpqct40_voi.nii.gz") > 0
th, spv, spc = r("/tmp/morph/th.nii.gz"), r("/tmp/morph/sp_voi.nii.gz"), r("/tmp/morph/sp_count.nii.gz")
k = 83
fig, ax = plt.subplots(1, 4, figsize=(16, 4.4))
ax[0].imshow(bone[k], cmap="gray"); ax[0].contour(voi[k], [0.5], colors="orange", linewidths=1)
ax[0].set_title("slice 83: bone, VOI (orange)")
m = np.ma.masked_where(~(bone[k] & voi[k]), th[k])
im = ax[1].imshow(m, cmap="viridis"); ax[1].set_title("bone spheres (Tb.Th = mean in VOI)"); fig.colorbar(im, ax=ax[1], fraction=0.046)
vmax = float(max(spv[k].max(), spc[k][voi[k]].max()))
m = np.ma.masked_where(~(~bone[k] & voi[k]), spv[k])
im = ax[2].imshow(m, cmap="magma", vmin=0, vmax=vmax); ax[2].set_title("marrow spheres, VOI (default)"); fig.colorbar(im, ax=ax[2], fraction=0.046)
m = np.ma.masked_where(~(~bone[k] & voi[k]), spc[k])
im = ax[3].imshow(m, cmap="magma", vmin=0, vmax=vmax); ax[3].set_title("marrow spheres, --mask-as count"); fig.colorbar(im, ax=ax[3], fraction=0.046)
for a in ax: a.set_axis_off()
fig.suptitle("srrd morph --mask: local thickness (voxels) of bone and marrow; Tb.Sp 38.25 (VOI) vs 43.01 (count)")
fig.tight_layout(); fig.savefig("docs/figures/morph_voi_spheres.png", dpi=70)
