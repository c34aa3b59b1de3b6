"""`srrd roc` against an independent implementation: AUC from scipy's Mann-Whitney U and
DeLong's variance and paired test written here from the 1988 paper's definitions (placement
values from the full pairwise kernel, not midranks), on random scores with ties."""
import argparse, json, math, subprocess, sys, tempfile, os
import numpy as np
from scipy import stats

ap = argparse.ArgumentParser()
ap.add_argument("--srrd", required=True)
args = ap.parse_args()

def kernel(x, y):
    return (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])

def delong(pos, neg):
    k = kernel(pos, neg)
    return k.mean(axis=1), k.mean(axis=0)

rng = np.random.default_rng(7)
worst = 0.0
for trial in range(4):
    m, n = rng.integers(8, 40), rng.integers(8, 40)
    labels = np.r_[np.ones(m, bool), np.zeros(n, bool)]
    rng.shuffle(labels)
    truth = labels.astype(float)
    a = np.round(truth * 0.8 + rng.normal(size=labels.size), 1)  # rounded: ties
    b = np.round(0.6 * a + truth * 0.3 + rng.normal(size=labels.size) * 0.8, 1)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "scores.csv")
        with open(path, "w") as f:
            f.write("label,a,b\n")
            for l, x, y in zip(labels, a, b):
                f.write(f"{int(l)},{x},{y}\n")
        out = subprocess.run([args.srrd, "roc", path, "--json"], check=True,
                             capture_output=True, text=True).stdout
    r = json.loads(out)
    comps = {}
    for name, s in (("a", a), ("b", b)):
        pos, neg = s[labels], s[~labels]
        u = stats.mannwhitneyu(pos, neg).statistic
        auc = u / (len(pos) * len(neg))
        v10, v01 = delong(pos, neg)
        var = v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)
        comps[name] = (v10, v01)
        got = next(x for x in r["scores"] if x["name"] == name)
        worst = max(worst, abs(got["auc"] - auc), abs(got["se"] - math.sqrt(var)))
        assert abs(got["auc"] - auc) < 1e-12, (name, got["auc"], auc)
        assert abs(got["se"] - math.sqrt(var)) < 1e-12, (name, got["se"], math.sqrt(var))
    (a10, a01), (b10, b01) = comps["a"], comps["b"]
    var = (np.cov(a10, b10, ddof=1)[0, 0] + np.cov(a10, b10, ddof=1)[1, 1] - 2 * np.cov(a10, b10, ddof=1)[0, 1]) / len(a10) \
        + (np.cov(a01, b01, ddof=1)[0, 0] + np.cov(a01, b01, ddof=1)[1, 1] - 2 * np.cov(a01, b01, ddof=1)[0, 1]) / len(a01)
    z = (a10.mean() - b10.mean()) / math.sqrt(var)
    p = 2 * stats.norm.sf(abs(z))
    got = r["paired"][0]
    assert abs(got["z"] - z) < 1e-9, (got["z"], z)
    assert abs(got["p_value"] - p) < 1e-9, (got["p_value"], p)
    worst = max(worst, abs(got["z"] - z), abs(got["p_value"] - p))
print(f"delong_check: srrd roc matches scipy Mann-Whitney AUC and an independent DeLong "
      f"(variance and paired test) on 4 random sets with ties; largest difference {worst:.1e}")
